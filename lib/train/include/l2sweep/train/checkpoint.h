#pragma once

#include <filesystem>
#include <optional>

#include "l2sweep/config/plan.h"
#include "l2sweep/train/run_result.h"
#include "l2sweep/train/trainer.h"

namespace l2sweep {

/// One checkpoint per run, `folder/<run name>.pt`, rewritten after every epoch: the model,
/// the optimizer's state, the shuffle generator's state and the metrics so far. Written to a
/// temporary file, flushed to disk and renamed, so a crash leaves the old checkpoint or the
/// new one, never a torn one.
class CheckpointStore {
 public:
  explicit CheckpointStore(std::filesystem::path folder);

  std::filesystem::path path_for(const RunSpec& run) const;

  /// Saves `progress` (its status kInterrupted while epochs remain) with the training state of
  /// `trainer`'s member `member`, which trains `run`.
  void save(const RunSpec& run, const RunResult& progress, const Trainer& trainer,
            size_t member = 0) const;

  /// The run's saved progress with `trainer`'s member `member` restored to the moment it was
  /// saved; nullopt when the run has no checkpoint. A damaged or foreign file is a data Error
  /// naming it.
  std::optional<RunResult> load(const RunSpec& run, Trainer& trainer, size_t member = 0) const;

  /// The run's saved progress alone (status, metrics so far), without any training state.
  std::optional<RunResult> progress(const RunSpec& run) const;

 private:
  std::optional<RunResult> read(const RunSpec& run, Trainer* trainer, size_t member) const;

  std::filesystem::path folder_;
};

}  // namespace l2sweep
