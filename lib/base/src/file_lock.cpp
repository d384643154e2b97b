#include "l2sweep/base/file_lock.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
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

/// A descriptor of the lock file `path`, created if missing (`created` says whether this call
/// made it). A symbolic link is refused: l2sweep never makes one, and following it would lock
/// (and record the holder in) a file elsewhere.
int open_lock_file(const std::filesystem::path& path, bool* created) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  *created = fd >= 0;
  if (fd < 0 && errno == EEXIST) fd = ::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    if (error == ELOOP) {
      throw output_error("{}: is a symbolic link; expected l2sweep's own lock file", path.string());
    }
    throw output_error("{}: cannot open the lock file ({})", path.string(), std::strerror(error));
  }
  return fd;
}

/// flock(2) on `fd` without waiting: false when another process holds it in a conflicting mode.
bool try_flock(int fd, FileLock::Mode mode, const std::filesystem::path& path) {
  const int operation = (mode == FileLock::Mode::kExclusive ? LOCK_EX : LOCK_SH) | LOCK_NB;
  while (::flock(fd, operation) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return false;
    throw output_error("{}: cannot lock ({})", path.string(), std::strerror(errno));
  }
  return true;
}

}  // namespace

std::optional<FileLock> FileLock::try_lock(const std::filesystem::path& path, Mode mode) {
  // A holder that gives up removes a lock file it created (release_and_remove_if_created):
  // a lock taken on the file it removed would guard nothing, so it is taken again on the
  // file the path names now.
  for (int attempt = 0;; ++attempt) {
    bool created = false;
    const int fd = open_lock_file(path, &created);
    bool locked = false;
    try {
      locked = try_flock(fd, mode, path);
    } catch (...) {
      ::close(fd);
      throw;
    }
    if (!locked) {
      ::close(fd);
      return std::nullopt;
    }
    struct stat held {};
    struct stat named {};
    if (::fstat(fd, &held) == 0 && ::lstat(path.c_str(), &named) == 0 &&
        held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
      return FileLock(path, fd, created);
    }
    ::close(fd);
    if (attempt >= 10) return std::nullopt;
  }
}

FileLock FileLock::lock(const std::filesystem::path& path, Mode mode,
                        std::chrono::milliseconds patience) {
  bool created = false;
  const int fd = open_lock_file(path, &created);
  const auto give_up = std::chrono::steady_clock::now() + patience;
  try {
    // Polled rather than a blocking flock(2): a holder that hangs (a stopped process, a stuck
    // network file system) must not hang every other writer with it.
    while (!try_flock(fd, mode, path)) {
      if (std::chrono::steady_clock::now() >= give_up) {
        throw output_error("{}: held by {} for more than {} s; expected it to be released",
                           path.string(), holder(path),
                           std::chrono::duration_cast<std::chrono::seconds>(patience).count());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  } catch (...) {
    ::close(fd);
    throw;
  }
  return FileLock(path, fd, created);
}

FileLock::FileLock(FileLock&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      created_(std::exchange(other.created_, false)) {}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    created_ = std::exchange(other.created_, false);
  }
  return *this;
}

void FileLock::release_and_remove_if_created() {
  if (fd_ < 0) return;
  if (created_) {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);  // while still held: no one locked it meanwhile
  }
  ::close(fd_);
  fd_ = -1;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the lock
}

void FileLock::record_holder(const std::string& what, const std::string& preface) {
  const std::string line = fmt::format("{}pid {} on host {} since {}: {}\n", preface, ::getpid(),
                                       host_name(), utc_now("%Y-%m-%dT%H:%M:%SZ"), what);
  // Best effort: the lock itself is what matters; the text only names the holder.
  if (::ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] const auto written = ::pwrite(fd_, line.data(), line.size(), 0);
  }
}

std::string FileLock::holder(const std::filesystem::path& path) {
  const std::optional<std::string> text = read_text_file(path);
  if (!text || text->empty())
    return "another l2sweep process (one that has not named itself: starting, or in a short "
           "section)";
  return text->substr(0, text->find('\n'));
}

}  // namespace l2sweep
