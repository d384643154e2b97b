#include "l2sweep/base/files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <utility>

#include "l2sweep/base/error.h"
#include "l2sweep/base/file_lock.h"

namespace l2sweep {
namespace fs = std::filesystem;

void create_folder(const fs::path& folder) {
  std::error_code error;
  fs::create_directories(folder, error);
  if (error) {
    throw output_error("{}: cannot create folder ({})", folder.string(), error.message());
  }
}

fs::path claim_new_folder(const fs::path& base) {
  if (base.has_parent_path()) create_folder(base.parent_path());
  for (int attempt = 1;; ++attempt) {
    const fs::path folder =
        attempt == 1 ? base : fs::path(fmt::format("{}-{}", base.string(), attempt));
    if (::mkdir(folder.c_str(), 0777) == 0) return folder;
    if (errno != EEXIST || attempt >= 10000) {
      throw output_error("--out {}: cannot create folder ({})", folder.string(),
                         std::strerror(errno));
    }
  }
}

std::optional<std::string> read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  // Read by size where the file has one (a stringstream stops at 2 GiB); else (a pipe, a
  // /proc file) by chunks.
  std::error_code error;
  const auto size = fs::is_regular_file(path, error) ? fs::file_size(path, error) : 0;
  std::string text;
  if (!error && size > 0) {
    text.resize(size);
    in.read(text.data(), static_cast<std::streamsize>(size));
    text.resize(static_cast<size_t>(in.gcount()));
  }
  char chunk[65536];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    text.append(chunk, static_cast<size_t>(in.gcount()));
  }
  return text;
}

namespace {

constexpr const char* kTemporaryMarker = ".tmp.";

}  // namespace

void write_file_atomically(const fs::path& path, const std::string& content) {
  // A temporary name of its own: shards of one sweep, on several hosts, write at once.
  static std::atomic<int> counter{0};
  const fs::path temporary = fmt::format("{}{}{}.{}.{}", path.string(), kTemporaryMarker,
                                         host_name(), ::getpid(), counter.fetch_add(1));
  // A new file of its own (never through a link or over another file).
  const int fd =
      ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  std::FILE* file = fd < 0 ? nullptr : ::fdopen(fd, "wb");
  if (file == nullptr) {
    if (fd >= 0) ::close(fd);
    throw output_error("{}: cannot write ({})", temporary.string(), std::strerror(errno));
  }
  const bool written = std::fwrite(content.data(), 1, content.size(), file) == content.size() &&
                       std::fflush(file) == 0 && ::fsync(fileno(file)) == 0;
  const int write_errno = errno;
  const bool closed = std::fclose(file) == 0;
  if (!written || !closed) {
    std::remove(temporary.c_str());
    throw output_error("{}: write failed ({})", path.string(),
                       std::strerror(written ? errno : write_errno));
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int rename_errno = errno;
    std::remove(temporary.c_str());
    throw output_error("{}: cannot replace ({})", path.string(), std::strerror(rename_errno));
  }
}

namespace {

/// `<file>.tmp.<host>.<pid>.<n>`, or `<file>.tmp.<pid>.<n>` as l2sweep 0.1 named them.
const std::regex& temporary_pattern() {
  static const std::regex pattern(R"(^(.+)\.tmp\.(?:(.+)\.)?([0-9]+)\.([0-9]+)$)");
  return pattern;
}

/// Whether the temporary file `name` belongs to a process of this host that no longer runs.
bool of_dead_process_here(const std::string& name) {
  std::smatch match;
  if (!std::regex_match(name, match, temporary_pattern())) return false;
  if (!match[2].matched || match[2].str() != host_name()) return false;  // unknown or other host
  const long pid = std::strtol(match[3].str().c_str(), nullptr, 10);
  return pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

}  // namespace

bool is_temporary_file(const std::string& name) {
  return std::regex_match(name, temporary_pattern());
}

std::optional<std::string> temporary_file_target(const std::string& name) {
  std::smatch match;
  if (!std::regex_match(name, match, temporary_pattern())) return std::nullopt;
  return match[1].str();
}

int remove_stale_temporaries(const fs::path& folder, StaleTemporaries which,
                             const std::function<bool(const std::string&)>& is_ours) {
  int removed = 0;
  std::error_code error;
  for (fs::directory_iterator it(folder, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    const std::optional<std::string> target = temporary_file_target(name);
    if (!target || !is_ours(*target) || it->is_symlink(error)) continue;
    if (which == StaleTemporaries::kOfDeadProcessesHere) {
      if (!of_dead_process_here(name)) continue;
      const auto written = fs::last_write_time(it->path(), error);
      if (error || fs::file_time_type::clock::now() - written < kStaleTemporaryAge) {
        error.clear();
        continue;
      }
    }
    std::error_code ignored;
    if (fs::remove(it->path(), ignored)) ++removed;
  }
  return removed;
}

AppendOnlyFile::AppendOnlyFile(fs::path path, bool append) : path_(std::move(path)) {
  // Never through a symbolic link: l2sweep makes none, and one would write somewhere else.
  const int fd =
      ::open(path_.c_str(),
             O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
  file_ = fd < 0 ? nullptr : ::fdopen(fd, append ? "ab" : "wb");
  if (file_ == nullptr) {
    const int error = errno;
    if (fd >= 0) ::close(fd);
    if (error == ELOOP) {
      throw output_error("{}: is a symbolic link; expected a file l2sweep writes", path_.string());
    }
    throw output_error("{}: cannot create ({})", path_.string(), std::strerror(error));
  }
}

AppendOnlyFile::~AppendOnlyFile() {
  if (file_ != nullptr) std::fclose(file_);
}

void AppendOnlyFile::close() {
  if (file_ == nullptr) return;
  std::FILE* file = std::exchange(file_, nullptr);
  const bool synced = std::fflush(file) == 0 && ::fsync(::fileno(file)) == 0;
  const int sync_errno = errno;
  const bool closed = std::fclose(file) == 0;
  if (!synced || !closed) {
    throw output_error("{}: write failed when closing it ({})", path_.string(),
                       std::strerror(synced ? errno : sync_errno));
  }
}

void AppendOnlyFile::append(std::string_view chunk) {
  if (file_ == nullptr) throw output_error("{}: written after it was closed", path_.string());
  if (std::fwrite(chunk.data(), 1, chunk.size(), file_) != chunk.size() ||
      std::fflush(file_) != 0) {
    throw output_error("{}: write failed ({})", path_.string(), std::strerror(errno));
  }
}

}  // namespace l2sweep
