#pragma once

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace l2sweep {

/// Creates `folder` and its parents if they are missing; an output Error naming it otherwise.
void create_folder(const std::filesystem::path& folder);

/// Creates a new folder `base`, or `base-2`, `base-3`, ... when another process took the name:
/// mkdir is the claim, so of the processes that try a name only one gets it. Creates the
/// parents first. An output Error naming the folder when it cannot be created.
std::filesystem::path claim_new_folder(const std::filesystem::path& base);

/// The whole content of `path`, or nullopt when it cannot be opened.
std::optional<std::string> read_text_file(const std::filesystem::path& path);

/// Writes `content` to a temporary file beside `path` (`<name>.tmp.<host>.<pid>.<n>`),
/// flushes it to disk and renames it over `path`, so a reader (or a crash) sees the old file
/// or the new one, never half of one.
void write_file_atomically(const std::filesystem::path& path, const std::string& content);

/// Whether `name` (a file name) is one of write_file_atomically's temporary files.
bool is_temporary_file(const std::string& name);

/// The name of the file that the temporary file `name` was to replace ("summary.json" for
/// "summary.json.tmp.host.12.0"); nullopt when `name` is not a temporary file.
std::optional<std::string> temporary_file_target(const std::string& name);

/// Which temporary files remove_stale_temporaries removes.
enum class StaleTemporaries {
  kAll,  ///< every one: the caller is the folder's only writer
  /// Those of processes on this host that no longer run, and not written to for
  /// kStaleTemporaryAge (another container may share the host name, with its own pids).
  kOfDeadProcessesHere
};

inline constexpr std::chrono::minutes kStaleTemporaryAge{10};

/// Removes the temporary files that killed writers left in `folder` (not its subfolders) for
/// the targets `is_ours` accepts (a user's file that only looks like one stays); returns how
/// many. Failures to remove are ignored: the next writer tries again.
int remove_stale_temporaries(const std::filesystem::path& folder, StaleTemporaries which,
                             const std::function<bool(const std::string&)>& is_ours);

/// A new file written in whole chunks, each flushed as soon as it is appended, so a crash
/// leaves every chunk written before it. Failures are output Errors naming the file.
class AppendOnlyFile {
 public:
  /// Creates (truncates) `path`, or with `append` adds to what it holds.
  explicit AppendOnlyFile(std::filesystem::path path, bool append = false);
  ~AppendOnlyFile();
  AppendOnlyFile(const AppendOnlyFile&) = delete;
  AppendOnlyFile& operator=(const AppendOnlyFile&) = delete;

  void append(std::string_view chunk);
  /// Flushes the file to disk and closes it: an output Error naming it when the flush, the
  /// fsync or the close fails (network filesystems report write-back and quota errors only
  /// there). The destructor closes a file not closed so, ignoring errors: an error path.
  void close();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
};

}  // namespace l2sweep
