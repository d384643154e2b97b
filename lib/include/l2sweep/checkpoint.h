#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "l2sweep/config.h"
#include "l2sweep/sweep.h"
#include "l2sweep/train.h"

namespace l2sweep {

/// One checkpoint per run, `folder/<run name>.pt`, rewritten after every epoch: the model,
/// the optimizer's state, the shuffle generator's state and the metrics so far. Written to a
/// temporary file, flushed to disk and renamed, so a crash leaves the old checkpoint or the
/// new one, never a torn one.
class CheckpointStore {
 public:
  explicit CheckpointStore(std::filesystem::path folder);

  std::filesystem::path path_for(const RunSpec& run) const;

  /// Saves `progress` (its status kInterrupted while epochs remain) and `trainer`'s state.
  void save(const RunSpec& run, const RunResult& progress, const Trainer& trainer) const;

  /// The run's saved progress with `trainer` restored to the moment it was saved; nullopt
  /// when the run has no checkpoint. A damaged or foreign file is a data Error naming it.
  std::optional<RunResult> load(const RunSpec& run, Trainer& trainer) const;

  /// The run's saved progress alone (status, metrics so far), without any training state.
  std::optional<RunResult> progress(const RunSpec& run) const;

 private:
  std::optional<RunResult> read(const RunSpec& run, Trainer* trainer) const;

  std::filesystem::path folder_;
};

/// The name of the file in an output folder that records the options a sweep ran with.
inline constexpr const char* kSweepConfigFile = "sweep.cfg";

/// The options that decide a sweep's numbers, one `name=value` line each, as in sweep.cfg.
std::string sweep_config_text(const SweepConfig& config);

/// The configuration saved in `folder`/sweep.cfg; a usage Error when there is none, a data
/// Error naming the line when it cannot be read.
SweepConfig read_sweep_config(const std::filesystem::path& folder);

/// For --resume: throws a usage Error when `folder` holds no sweep, or when `config` differs
/// from the sweep saved there, naming the first differing option and both values.
void check_resume_config(const std::filesystem::path& folder, const SweepConfig& config);

}  // namespace l2sweep
