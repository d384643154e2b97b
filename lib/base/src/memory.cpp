#include "l2sweep/base/memory.h"

#include <sys/resource.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "l2sweep/base/parse.h"

namespace l2sweep {
namespace fs = std::filesystem;
namespace {

/// v1 cgroups write "no limit" as a page-rounded 2^63 - 1.
constexpr int64_t kUnlimitedCgroup = int64_t{1} << 62;

/// A "<key> <kilobytes> kB" line of a /proc file, in bytes.
std::optional<int64_t> proc_kilobytes(const char* file, const std::string& wanted) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    int64_t kilobytes = 0;
    if (fields >> key >> kilobytes && key == wanted) return kilobytes * 1024;
  }
  return std::nullopt;
}

/// The first word of a file, as a number of bytes; nullopt for "max", a missing file or text.
std::optional<int64_t> bytes_in(const fs::path& file) {
  std::ifstream in(file);
  std::string text;
  if (!(in >> text)) return std::nullopt;
  return parse_int64(text);
}

std::optional<int64_t> least(std::optional<int64_t> a, std::optional<int64_t> b) {
  if (a && b) return std::min(*a, *b);
  return a ? a : b;
}

/// A "<key> <bytes>" line of a cgroup's memory.stat.
std::optional<int64_t> stat_bytes(const fs::path& file, const std::string& wanted) {
  std::ifstream in(file);
  std::string key;
  int64_t value = 0;
  while (in >> key >> value) {
    if (key == wanted) return value;
  }
  return std::nullopt;
}

/// What the memory limits of the cgroup at `folder` and of every cgroup above it leave (limit
/// minus usage at each level: a Slurm job's or a container's limit sits a few levels down).
/// Usage counts the page cache; its inactive part (`inactive_key` of memory.stat) is
/// reclaimed before the limit bites, so it is left out, as `docker stats` does.
std::optional<int64_t> cgroup_levels_room(fs::path folder, const fs::path& root,
                                          const char* limit_file, const char* usage_file,
                                          const char* inactive_key) {
  std::optional<int64_t> room;
  for (int depth = 0; depth < 64; ++depth) {
    const auto limit = bytes_in(folder / limit_file);
    const auto usage = bytes_in(folder / usage_file);
    if (limit && *limit < kUnlimitedCgroup) {
      const int64_t cache = stat_bytes(folder / "memory.stat", inactive_key).value_or(0);
      const int64_t used = std::max<int64_t>(0, usage.value_or(0) - cache);
      room = least(room, std::max<int64_t>(0, *limit - used));
    }
    if (folder == root || !folder.has_parent_path() || folder.parent_path() == folder) break;
    folder = folder.parent_path();
  }
  return room;
}

/// The room every cgroup this process belongs to leaves: cgroup v2 (memory.max) and the v1
/// memory controller (memory.limit_in_bytes), from the process's own cgroup up to the root.
std::optional<int64_t> cgroup_room() {
  std::optional<int64_t> room;
  std::ifstream self("/proc/self/cgroup");
  std::string line;
  while (std::getline(self, line)) {
    // "hierarchy-ID:controllers:path"
    const size_t first = line.find(':');
    const size_t second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    const fs::path relative = fs::path(path).relative_path();
    if (controllers.empty()) {
      const fs::path root = "/sys/fs/cgroup";
      room = least(room, cgroup_levels_room(root / relative, root, "memory.max", "memory.current",
                                            "inactive_file"));
    } else if (("," + controllers + ",").find(",memory,") != std::string::npos) {
      const fs::path root = "/sys/fs/cgroup/memory";
      room = least(room, cgroup_levels_room(root / relative, root, "memory.limit_in_bytes",
                                            "memory.usage_in_bytes", "total_inactive_file"));
    }
  }
  // A container whose /proc/self/cgroup names a path outside its own view: its root.
  room = least(room, cgroup_levels_room("/sys/fs/cgroup", "/sys/fs/cgroup", "memory.max",
                                        "memory.current", "inactive_file"));
  return room;
}

/// Address space each thread that trains maps beyond what it uses: its stack (8 MiB), glibc's
/// heap for the thread (a 64 MiB reservation) and the BLAS's buffer (OpenBLAS allocates 128 MiB
/// on a thread's first product, and retries forever when it cannot: under a `ulimit -v` that
/// left less, a sweep hung instead of being refused).
constexpr int64_t kThreadAddressSpace = int64_t{200} << 20;

/// What `resource`'s soft limit (ulimit -v, ulimit -d) leaves beyond what the process already
/// maps (`status_key` of /proc/self/status) and what one training thread per core will map.
/// (With one per core beside this thread only, a limit just above the check still hung.)
std::optional<int64_t> rlimit_room(int resource, const char* status_key) {
  struct rlimit limit {};
  if (::getrlimit(resource, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return std::nullopt;
  const auto used = proc_kilobytes("/proc/self/status", status_key);
  const auto cap = static_cast<int64_t>(std::min<rlim_t>(limit.rlim_cur, INT64_MAX));
  const auto threads = static_cast<int64_t>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max<int64_t>(0, cap - used.value_or(0) - threads * kThreadAddressSpace);
}

}  // namespace

std::optional<int64_t> available_memory() {
  std::optional<int64_t> room = proc_kilobytes("/proc/meminfo", "MemAvailable:");
  room = least(room, cgroup_room());
  room = least(room, rlimit_room(RLIMIT_AS, "VmSize:"));
  room = least(room, rlimit_room(RLIMIT_DATA, "VmData:"));
  return room;
}

}  // namespace l2sweep
