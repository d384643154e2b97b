#include "l2sweep/train/run_result.h"

namespace l2sweep {

const char* to_string(RunStatus status) {
  switch (status) {
    case RunStatus::kCompleted:
      return "completed";
    case RunStatus::kDiverged:
      return "diverged";
    case RunStatus::kInterrupted:
      return "interrupted";
  }
  return "unknown";
}

const EpochMetrics* RunResult::best_epoch() const {
  const EpochMetrics* best = nullptr;
  for (const auto& metrics : history) {
    if (best == nullptr || metrics.val_accuracy > best->val_accuracy) {
      best = &metrics;
    }
  }
  return best;
}

}  // namespace l2sweep
