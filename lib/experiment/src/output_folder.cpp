#include "l2sweep/experiment/output_folder.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "l2sweep/base/clock.h"
#include "l2sweep/base/error.h"
#include "l2sweep/base/files.h"
#include "l2sweep/base/publish.h"
#include "l2sweep/config/sweep_file.h"

namespace l2sweep {
namespace fs = std::filesystem;
namespace {

constexpr const char* kCheckpointsFolder = "checkpoints";

bool ends_with(const std::string& text, const std::string& end) {
  return text.size() >= end.size() && text.compare(text.size() - end.size(), end.size(), end) == 0;
}

/// Whether a temporary file for `target` in the folder itself is l2sweep's.
bool is_folder_output(const std::string& target) {
  return target == kSweepConfigFile || target == "metrics.csv" || target == "summary.json" ||
         target == "report.md";
}

/// Whether a temporary file for `target` in checkpoints/ is l2sweep's.
bool is_checkpoint(const std::string& target) { return ends_with(target, ".pt"); }

bool is_our_temporary(const std::string& name, bool (*is_ours)(const std::string&)) {
  const std::optional<std::string> target = temporary_file_target(name);
  return target && is_ours(*target);
}

/// Whether `entry` is something l2sweep leaves behind without results: a lock file, a
/// temporary file of a killed write, or a checkpoints folder holding only such things. A
/// symbolic link never is: l2sweep makes none.
bool is_leftover(const fs::directory_entry& entry) {
  std::error_code error;
  if (entry.is_symlink(error)) return false;
  const std::string name = entry.path().filename().string();
  if (name == kFolderLockFile || name == kSharedFilesLockFile || name == kTuneLockFile ||
      is_our_temporary(name, is_folder_output)) {
    return true;
  }
  if (name != kCheckpointsFolder || !entry.is_directory(error)) return false;
  for (fs::directory_iterator it(entry.path(), error), end; !error && it != end;
       it.increment(error)) {
    const std::string inner = it->path().filename().string();
    if (it->is_symlink(error)) return false;
    if (!ends_with(inner, ".lock") && !is_our_temporary(inner, is_checkpoint)) return false;
  }
  return !error;
}

}  // namespace

namespace {

/// Refuses (before anything is written) what `state` does not allow for this kind of writer.
void check_state(FolderState state, const SweepConfig& config, const fs::path& folder) {
  switch (state) {
    case FolderState::kMissing:
    case FolderState::kEmpty:
      return;
    case FolderState::kNotAFolder:
      throw not_a_folder("--out", folder);
    case FolderState::kSweep:
      if (config.resume || config.shard) return;
      throw folder_not_empty("--out", folder, "; add --resume to continue the sweep there");
    case FolderState::kForeign:
      if (std::error_code error; fs::exists(folder / "tuning.cfg", error)) {
        const std::string text = fmt::format(
            "--out {}: holds an --l2 auto search, not a sweep of a list of strengths; {} with "
            "--l2 auto and the search's own options, or choose another --out",
            folder.string(),
            config.resume ? "resume it" : "a new sweep needs a new folder; resume it");
        if (config.resume) throw usage_error("{}", text);
        throw output_error("{}", text);
      }
      if (config.resume) {
        throw usage_error(
            "--resume: {} holds no l2sweep sweep to resume (no {}) and is not empty; expected the "
            "--out of an earlier run",
            folder.string(), kSweepConfigFile);
      }
      throw folder_not_empty("--out", folder, "; it holds no l2sweep sweep");
  }
}

/// What the holder of the folder's lock records before its own line when it shares the
/// folder: a refused writer then says whom it waits for.
constexpr const char* kSharedHolders = "shards of this sweep or a merge; the last to start: ";

}  // namespace

FolderState inspect_output_folder(const fs::path& folder) {
  std::error_code error;
  const fs::file_status status = fs::status(folder, error);
  // A path through a file (a/file/sub) is missing: creating it fails and says why.
  if (error && error != std::errc::no_such_file_or_directory &&
      error != std::errc::not_a_directory) {
    return FolderState::kNotAFolder;
  }
  if (!fs::exists(status)) return FolderState::kMissing;
  if (!fs::is_directory(status)) return FolderState::kNotAFolder;
  if (fs::exists(folder / kSweepConfigFile, error)) return FolderState::kSweep;
  for (fs::directory_iterator it(folder, error), end; !error && it != end; it.increment(error)) {
    if (!is_leftover(*it)) return FolderState::kForeign;
  }
  return error ? FolderState::kNotAFolder : FolderState::kEmpty;
}

fs::path default_output_folder() { return fs::path("runs") / utc_now("%Y%m%dT%H%M%SZ"); }

OutputFolder OutputFolder::open_for_sweep(const Plan& plan) {
  const SweepConfig& config = plan.config;
  if (config.out_dir.empty()) {
    const fs::path folder = claim_new_folder(default_output_folder());
    auto lock = FileLock::try_lock(folder / kFolderLockFile, FileLock::Mode::kExclusive);
    if (!lock) throw folder_in_use("--out", folder, folder / kFolderLockFile);
    write_file_atomically(folder / kSweepConfigFile, sweep_config_text(config));
    return OutputFolder(folder, std::move(*lock), /*exclusive=*/true, /*existed=*/false);
  }

  const fs::path folder = config.out_dir;
  const fs::path lock_path = folder / kFolderLockFile;
  // Decide from what is there before writing anything. Where l2sweep already works (its lock
  // file is there), another writer is the first thing to tell; elsewhere nothing is locked
  // (or created) before the folder is known to be acceptable.
  const FolderState before = inspect_output_folder(folder);
  std::error_code error;
  const bool locked_before = fs::exists(lock_path, error);
  if (!locked_before || (before != FolderState::kSweep && before != FolderState::kEmpty)) {
    check_state(before, config, folder);
    if (before == FolderState::kSweep) check_resume_config(folder, config);
  }

  if (before == FolderState::kMissing) {
    fs::create_directories(folder, error);
    if (error) {
      throw output_error("--out {}: cannot create folder ({})", folder.string(), error.message());
    }
  }
  const bool exclusive = !config.shard;
  auto lock = FileLock::try_lock(lock_path,
                                 exclusive ? FileLock::Mode::kExclusive : FileLock::Mode::kShared);
  if (!lock) throw folder_in_use("--out", folder, lock_path);

  // Another process may have changed the folder between the look above and the lock.
  const FolderState state = inspect_output_folder(folder);
  check_state(state, config, folder);
  if (state == FolderState::kSweep) check_resume_config(folder, config);
  OutputFolder opened(folder, std::move(*lock), exclusive, state == FolderState::kSweep);
  opened.write_shared([&] {
    // Shards that start together meet here one at a time: the first saves sweep.cfg and the
    // others must agree with it.
    if (fs::exists(folder / kSweepConfigFile)) {
      check_resume_config(folder, config);
    } else {
      write_file_atomically(folder / kSweepConfigFile, sweep_config_text(config));
    }
  });
  if (config.shard) {
    for (const Cohort& cohort : plan.units) {
      opened.runs_.insert(opened.runs_.end(), cohort.runs.begin(), cohort.runs.end());
    }
  }
  return opened;
}

void OutputFolder::lock_runs(const std::string& command_line) {
  if (runs_.empty()) return;
  const fs::path checkpoints = path_ / kCheckpointsFolder;
  create_folder(checkpoints);  // the CheckpointStore has made it already in a sweep
  try {
    for (const RunSpec& run : runs_) {
      const fs::path lock_path = checkpoints / (run_name(run) + ".lock");
      auto lock = FileLock::try_lock(lock_path, FileLock::Mode::kExclusive);
      if (!lock) {
        throw output_error(
            "--out {}: run {} is being trained by {}; expected each run in one shard at a time",
            path_.string(), run_name(run), FileLock::holder(lock_path));
      }
      run_locks_.push_back(std::move(*lock));
    }
  } catch (...) {
    // Refused: leave the folder as it was.
    for (FileLock& taken : run_locks_) taken.release_and_remove_if_created();
    run_locks_.clear();
    throw;
  }
  for (FileLock& run : run_locks_) run.record_holder(command_line);
}

OutputFolder OutputFolder::open_for_merge(const fs::path& folder) {
  const fs::path lock_path = folder / kFolderLockFile;
  auto lock = FileLock::try_lock(lock_path, FileLock::Mode::kShared);
  if (!lock) throw folder_in_use("--out", folder, lock_path);
  return OutputFolder(folder, std::move(*lock), /*exclusive=*/false, /*existed=*/true);
}

void OutputFolder::write_shared(const std::function<void()>& write) const {
  // No holder recorded here: a process that is refused later must leave the folder as it was.
  const FileLock shared = FileLock::lock(path_ / kSharedFilesLockFile, FileLock::Mode::kExclusive);
  write();
}

void OutputFolder::claim(const std::string& command_line) {
  lock_runs(command_line);
  lock_.record_holder(command_line, exclusive_ ? "" : kSharedHolders);
  remove_stale_temporaries();
}

void OutputFolder::remove_stale_temporaries() const {
  const StaleTemporaries which =
      exclusive_ ? StaleTemporaries::kAll : StaleTemporaries::kOfDeadProcessesHere;
  l2sweep::remove_stale_temporaries(path_, which, is_folder_output);
  l2sweep::remove_stale_temporaries(path_ / kCheckpointsFolder, which, is_checkpoint);
}

}  // namespace l2sweep
