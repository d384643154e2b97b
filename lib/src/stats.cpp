#include "l2sweep/stats.h"

#include <algorithm>
#include <cmath>

namespace l2sweep {

SeedStats seed_stats(const std::vector<double>& values) {
  SeedStats stats;
  stats.n = static_cast<int64_t>(values.size());
  if (values.empty()) {
    return stats;
  }
  double sum = 0;
  for (const double v : values) sum += v;
  stats.mean = sum / static_cast<double>(values.size());
  if (values.size() > 1) {
    double squares = 0;
    for (const double v : values) squares += (v - stats.mean) * (v - stats.mean);
    stats.std = std::sqrt(squares / static_cast<double>(values.size() - 1));
  }
  return stats;
}

std::vector<StrengthSummary> summarize_strengths(const std::vector<RunResult>& runs) {
  std::vector<double> order;
  for (const RunResult& run : runs) {
    if (std::find(order.begin(), order.end(), run.spec.l2) == order.end()) {
      order.push_back(run.spec.l2);
    }
  }
  std::vector<StrengthSummary> summaries;
  for (const double l2 : order) {
    StrengthSummary summary;
    summary.l2 = l2;
    std::vector<double> accuracy, val_accuracy, test_accuracy, gap, w1_norm, data_loss,
        val_data_loss, rise, change;
    for (const RunResult& run : runs) {
      if (run.spec.l2 != l2) continue;
      ++summary.runs;
      if (run.status != RunStatus::kCompleted || run.history.empty()) {
        summary.diverged += run.status == RunStatus::kDiverged ? 1 : 0;
        continue;
      }
      ++summary.completed;
      const EpochMetrics& last = run.history.back();
      const auto minimum = std::min_element(run.history.begin(), run.history.end(),
                                            [](const EpochMetrics& a, const EpochMetrics& b) {
                                              return a.val_data_loss < b.val_data_loss;
                                            });
      accuracy.push_back(last.accuracy);
      val_accuracy.push_back(last.val_accuracy);
      test_accuracy.push_back(run.test ? run.test->accuracy : std::nan(""));
      gap.push_back(last.accuracy - last.val_accuracy);
      w1_norm.push_back(last.w1_norm);
      data_loss.push_back(last.data_loss);
      val_data_loss.push_back(last.val_data_loss);
      rise.push_back(last.val_data_loss - minimum->val_data_loss);
      change.push_back(last.data_loss - minimum->data_loss);
    }
    summary.accuracy = seed_stats(accuracy);
    summary.val_accuracy = seed_stats(val_accuracy);
    summary.test_accuracy = seed_stats(test_accuracy);
    summary.train_minus_val_accuracy = seed_stats(gap);
    summary.w1_norm = seed_stats(w1_norm);
    summary.data_loss = seed_stats(data_loss);
    summary.val_data_loss = seed_stats(val_data_loss);
    summary.val_data_loss_rise = seed_stats(rise);
    summary.data_loss_change_since_val_minimum = seed_stats(change);
    summaries.push_back(summary);
  }
  return summaries;
}

}  // namespace l2sweep
