#include "l2sweep/outputs/stats.h"

#include <fmt/format.h>

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

std::string fixed(double value, int precision, bool sign) {
  if (std::isnan(value)) return "n/a";
  const double scale = std::pow(10.0, precision);
  // Adding 0.0 turns the -0 of a small negative value that rounds to zero into 0.
  const double rounded = std::isfinite(value) ? std::round(value * scale) / scale + 0.0 : value;
  return sign ? fmt::format("{:+.{}f}", rounded, precision)
              : fmt::format("{:.{}f}", rounded, precision);
}

std::string mean_std_text(const SeedStats& stats, int precision) {
  if (stats.n == 0 || std::isnan(stats.mean)) return "n/a";
  if (std::isnan(stats.std)) return fixed(stats.mean, precision);
  return fixed(stats.mean, precision) + " ± " + fixed(stats.std, precision);
}

double relative_trend_of_second_half(const std::vector<double>& values) {
  const size_t count = values.size();
  const size_t first = count >= 6 ? count / 2 : (count > 3 ? count - 3 : 0);
  const size_t n = count - first;
  if (n < 2) return 0.0;
  double mean_x = 0, mean_y = 0;
  for (size_t i = first; i < count; ++i) {
    mean_x += static_cast<double>(i - first);
    mean_y += values[i];
  }
  mean_x /= static_cast<double>(n);
  mean_y /= static_cast<double>(n);
  double covariance = 0, variance = 0;
  for (size_t i = first; i < count; ++i) {
    const double dx = static_cast<double>(i - first) - mean_x;
    covariance += dx * (values[i] - mean_y);
    variance += dx * dx;
  }
  const double slope = covariance / variance;
  return slope * static_cast<double>(n - 1) / mean_y;
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
        val_data_loss, val_trend, train_trend;
    for (const RunResult& run : runs) {
      if (run.spec.l2 != l2) continue;
      ++summary.runs;
      if (run.status != RunStatus::kCompleted || run.history.empty()) {
        summary.diverged += run.status == RunStatus::kDiverged ? 1 : 0;
        continue;
      }
      ++summary.completed;
      const EpochMetrics& last = run.history.back();
      std::vector<double> val_curve, train_curve;
      for (const EpochMetrics& m : run.history) {
        val_curve.push_back(m.val_data_loss);
        train_curve.push_back(m.data_loss);
      }
      accuracy.push_back(last.accuracy);
      val_accuracy.push_back(last.val_accuracy);
      test_accuracy.push_back(run.test ? run.test->accuracy : std::nan(""));
      gap.push_back(last.accuracy - last.val_accuracy);
      w1_norm.push_back(last.w1_norm);
      data_loss.push_back(last.data_loss);
      val_data_loss.push_back(last.val_data_loss);
      val_trend.push_back(relative_trend_of_second_half(val_curve));
      train_trend.push_back(relative_trend_of_second_half(train_curve));
    }
    summary.accuracy = seed_stats(accuracy);
    summary.val_accuracy = seed_stats(val_accuracy);
    summary.test_accuracy = seed_stats(test_accuracy);
    summary.train_minus_val_accuracy = seed_stats(gap);
    summary.w1_norm = seed_stats(w1_norm);
    summary.data_loss = seed_stats(data_loss);
    summary.val_data_loss = seed_stats(val_data_loss);
    summary.val_data_loss_trend = seed_stats(val_trend);
    summary.data_loss_trend = seed_stats(train_trend);
    summaries.push_back(summary);
  }
  return summaries;
}

}  // namespace l2sweep
