#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "l2sweep/base/error.h"
#include "l2sweep/base/file_lock.h"
#include "l2sweep/sweep/plan.h"

namespace l2sweep {

/// The lock file that guards the files every shard shares (sweep.cfg; merge's outputs).
inline constexpr const char* kSharedFilesLockFile = ".l2sweep.shared.lock";

/// The lock file of an `--l2 auto` search's folder (l2sweep/tune/tune.h).
inline constexpr const char* kTuneLockFile = ".l2sweep.tune.lock";

/// What an output folder holds, as seen before anything is written into it.
enum class FolderState {
  kMissing,
  kEmpty,       ///< empty, or only l2sweep's lock files and temporary files of killed writes
  kSweep,       ///< an l2sweep sweep: it has sweep.cfg
  kForeign,     ///< not empty, and not an l2sweep sweep
  kNotAFolder,  ///< a file, or something that cannot be read as a folder
};

FolderState inspect_output_folder(const std::filesystem::path& folder);

/// `runs/<UTC timestamp>`, the name used when --out is not given (claim_default_folder adds
/// `-2`, `-3`, ... when it is taken).
std::filesystem::path default_output_folder();

/// The output folder one l2sweep process writes, locked for as long as the object lives, so
/// that two processes never write one folder at once (a second one is refused with an output
/// Error naming the holder's pid and host). Shards of one sweep share the folder, each
/// holding its own runs' locks.
class OutputFolder {
 public:
  /// Opens the folder of `plan`'s sweep: a new one (runs/<UTC timestamp>[-N] without --out:
  /// two sweeps never share one), a resumed one, or one shard's share. Every check that can
  /// refuse (the folder's state, another writer, sweep.cfg against the plan, a shard's runs
  /// trained elsewhere) happens before the first byte is written; then sweep.cfg is saved for
  /// a sweep that has none. `--resume` on a missing or empty folder (or one holding only
  /// l2sweep's own leftovers) starts the sweep, so a requeued job can always rerun its command.
  static OutputFolder open_for_sweep(const Plan& plan);

  /// Opens a sweep's folder for `l2sweep merge`: shared with its shards, refused while a
  /// sweep or a resume writes it.
  static OutputFolder open_for_merge(const std::filesystem::path& folder);

  const std::filesystem::path& path() const { return path_; }
  /// The folder held a sweep before this process opened it (its checkpoints are restored).
  bool existed() const { return existed_; }

  /// Runs `write` holding the lock that guards the files shards share.
  void write_shared(const std::function<void()>& write) const;

  /// Once every check has passed: takes a shard's run locks (an output Error, with nothing
  /// left behind, when another shard trains one of its runs), records this process
  /// (`command_line`, pid, host) in the lock files, for the message a refused writer prints,
  /// and removes the temporary files of killed writes. Nothing before it changes a byte of a
  /// folder that already held a sweep, so a refusal leaves such a folder exactly as it was.
  void claim(const std::string& command_line);

  /// Removes l2sweep's temporary files of killed writes (never a user's file that looks like
  /// one): all of them for the folder's only writer; for a shard or a merge, those of dead
  /// processes on this host that are no longer being written (claim() calls it).
  void remove_stale_temporaries() const;

 private:
  OutputFolder(std::filesystem::path path, FileLock lock, bool exclusive, bool existed)
      : path_(std::move(path)), lock_(std::move(lock)), exclusive_(exclusive), existed_(existed) {}

  void lock_runs(const std::string& command_line);

  std::filesystem::path path_;
  FileLock lock_;
  bool exclusive_;
  bool existed_;
  std::vector<RunSpec> runs_;  ///< a shard's runs, locked by claim()
  std::vector<FileLock> run_locks_;
};

}  // namespace l2sweep
