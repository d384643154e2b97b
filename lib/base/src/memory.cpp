#include "l2sweep/base/memory.h"

#include <algorithm>
#include <fstream>
#include <string>

#include "l2sweep/base/parse.h"

namespace l2sweep {
namespace {

/// MemAvailable from /proc/meminfo, in bytes.
std::optional<int64_t> mem_available() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  int64_t kilobytes = 0;
  std::string unit;
  while (meminfo >> key >> kilobytes >> unit) {
    if (key == "MemAvailable:") return kilobytes * 1024;
  }
  return std::nullopt;
}

/// What a cgroup v2 memory limit leaves: memory.max minus memory.current.
std::optional<int64_t> cgroup_room() {
  std::ifstream max_file("/sys/fs/cgroup/memory.max");
  std::ifstream current_file("/sys/fs/cgroup/memory.current");
  std::string max_text, current_text;
  if (!(max_file >> max_text) || !(current_file >> current_text) || max_text == "max") {
    return std::nullopt;
  }
  const auto max = parse_int64(max_text);
  const auto current = parse_int64(current_text);
  if (!max || !current) return std::nullopt;
  return std::max<int64_t>(0, *max - *current);
}

}  // namespace

std::optional<int64_t> available_memory() {
  const auto available = mem_available();
  const auto room = cgroup_room();
  if (available && room) return std::min(*available, *room);
  return available ? available : room;
}

}  // namespace l2sweep
