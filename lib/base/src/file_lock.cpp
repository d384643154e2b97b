#include "l2sweep/base/file_lock.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "l2sweep/base/clock.h"
#include "l2sweep/base/error.h"
#include "l2sweep/base/files.h"

namespace l2sweep {

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

namespace {

/// flock(2) on `path` (created if missing); nullopt when `wait` is false and it is held.
std::optional<int> flock_file(const std::filesystem::path& path, FileLock::Mode mode, bool wait) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw output_error("{}: cannot open the lock file ({})", path.string(), std::strerror(errno));
  }
  const int operation =
      (mode == FileLock::Mode::kExclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB);
  while (::flock(fd, operation) != 0) {
    if (errno == EINTR) continue;
    const int error = errno;
    ::close(fd);
    if (error == EWOULDBLOCK) return std::nullopt;
    throw output_error("{}: cannot lock ({})", path.string(), std::strerror(error));
  }
  return fd;
}

}  // namespace

std::optional<FileLock> FileLock::try_lock(const std::filesystem::path& path, Mode mode) {
  const std::optional<int> fd = flock_file(path, mode, /*wait=*/false);
  if (!fd) return std::nullopt;
  return FileLock(path, *fd);
}

FileLock FileLock::lock(const std::filesystem::path& path, Mode mode) {
  return FileLock(path, *flock_file(path, mode, /*wait=*/true));
}

FileLock::FileLock(FileLock&& other) noexcept
    : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)) {}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the lock
}

void FileLock::record_holder(const std::string& what) {
  const std::string line = fmt::format("pid {} on host {} since {}: {}\n", ::getpid(), host_name(),
                                       utc_now("%Y-%m-%dT%H:%M:%SZ"), what);
  // Best effort: the lock itself is what matters; the text only names the holder.
  if (::ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] const auto written = ::pwrite(fd_, line.data(), line.size(), 0);
  }
}

std::string FileLock::holder(const std::filesystem::path& path) {
  const std::optional<std::string> text = read_text_file(path);
  if (!text || text->empty()) return "another process";
  return text->substr(0, text->find('\n'));
}

}  // namespace l2sweep
