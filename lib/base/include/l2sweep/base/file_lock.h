#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

namespace l2sweep {

/// The lock file every writer of an output folder holds: exclusively a sweep, a resume, a
/// comparison or a trace; shared by the shards of one sweep and by `merge`.
inline constexpr const char* kFolderLockFile = ".l2sweep.lock";

/// An advisory lock (flock(2)) on a file, held while the object lives and released by the
/// kernel if the process dies, so a crash never leaves a folder locked (after Git's
/// index.lock, but without the stale-lock problem). Exclusive for one writer, shared for
/// writers that may work side by side (the shards of one sweep).
class FileLock {
 public:
  enum class Mode { kExclusive, kShared };

  /// Takes the lock on `path` (creating the file, whose folder must exist) without waiting;
  /// nullopt when another process holds it in a conflicting mode. An output Error when the
  /// file cannot be opened.
  static std::optional<FileLock> try_lock(const std::filesystem::path& path, Mode mode);

  /// The same, but waits for the lock: for short sections that every writer passes through.
  /// An output Error naming the holder when it is not released within `patience`.
  static FileLock lock(const std::filesystem::path& path, Mode mode,
                       std::chrono::milliseconds patience = std::chrono::seconds(30));

  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

  /// Writes `preface`, this process (pid, host, start time) and `what` it does into the lock
  /// file, for the message a refused process prints.
  void record_holder(const std::string& what, const std::string& preface = "");

  /// Who holds the lock on `path`, as the holder recorded it ("pid 123 on host h since
  /// 2026-11-26T08:00:00Z: l2sweep --out runs/x"), or a description of an l2sweep that has
  /// not recorded itself yet.
  static std::string holder(const std::filesystem::path& path);

  /// Releases the lock, first removing the lock file when this lock created it: for a process
  /// that gives up before it changed anything, so that its refusal leaves nothing behind.
  void release_and_remove_if_created();

  const std::filesystem::path& path() const { return path_; }

 private:
  FileLock(std::filesystem::path path, int descriptor, bool created)
      : path_(std::move(path)), fd_(descriptor), created_(created) {}

  std::filesystem::path path_;
  int fd_ = -1;
  bool created_ = false;
};

/// This machine's host name ("localhost" when it has none).
std::string host_name();

}  // namespace l2sweep
