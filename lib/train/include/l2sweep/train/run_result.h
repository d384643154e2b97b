#pragma once

#include <optional>
#include <string>
#include <vector>

#include "l2sweep/config/runs.h"
#include "l2sweep/train/metrics.h"

namespace l2sweep {

enum class RunStatus {
  kCompleted,    ///< trained every epoch and evaluated on the test set
  kDiverged,     ///< a loss or W1 became non-finite; training stopped after that epoch
  kInterrupted,  ///< stopped by a signal; its completed epochs are checkpointed
};

/// "completed", "diverged" or "interrupted", as written to summary.json.
const char* to_string(RunStatus status);

/// Everything one run produced.
struct RunResult {
  RunSpec spec;
  RunStatus status = RunStatus::kCompleted;
  std::vector<EpochMetrics> history;  ///< one entry per completed epoch, in order
  std::optional<EvalMetrics> test;    ///< after the last epoch; absent if the run diverged
  double train_seconds = 0;
  std::string device;  ///< where it trained, e.g. "cpu" or "cuda:0"
  std::string engine;  ///< what trained it: the engine's own description (Engine::description)

  /// The epoch with the highest val_accuracy (the first one on ties); null when no epoch ran.
  const EpochMetrics* best_epoch() const;
};

}  // namespace l2sweep
