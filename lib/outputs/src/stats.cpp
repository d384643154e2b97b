#include "l2sweep/outputs/stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace l2sweep {
namespace {

/// The continued fraction of I_x(a, b) (modified Lentz), converging for x < (a+1)/(a+b+2).
double beta_continued_fraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  constexpr double kEpsilon = 1e-15;
  double c = 1.0;
  double d = 1.0 - (a + b) * x / (a + 1.0);
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1.0 / d;
  double fraction = d;
  for (int m = 1; m <= 10000; ++m) {
    const double m2 = 2.0 * m;
    // Even step: m (b - m) x / ((a + 2m - 1)(a + 2m)).
    double numerator = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
    d = 1.0 + numerator * d;
    c = 1.0 + numerator / c;
    if (std::fabs(d) < kTiny) d = kTiny;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    fraction *= d * c;
    // Odd step: -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)).
    numerator = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
    d = 1.0 + numerator * d;
    c = 1.0 + numerator / c;
    if (std::fabs(d) < kTiny) d = kTiny;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double delta = d * c;
    fraction *= delta;
    if (std::fabs(delta - 1.0) < kEpsilon) break;
  }
  return fraction;
}

}  // namespace

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

double regularized_incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double log_front =
      std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  if (x < (a + 1.0) / (a + b + 2.0)) {
    return std::exp(log_front) * beta_continued_fraction(a, b, x) / a;
  }
  return 1.0 - std::exp(log_front) * beta_continued_fraction(b, a, 1.0 - x) / b;
}

double student_t_two_sided_p(double t, double df) {
  if (std::isnan(t) || !(df > 0)) return std::numeric_limits<double>::quiet_NaN();
  if (std::isinf(t)) return 0;
  return regularized_incomplete_beta(df / 2.0, 0.5, df / (df + t * t));
}

double paired_t_p(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> differences;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) differences.push_back(a[i] - b[i]);
  const SeedStats d = seed_stats(differences);
  if (d.n < 2 || std::isnan(d.std)) return std::numeric_limits<double>::quiet_NaN();
  // Differences all alike (up to the rounding of values such as counts / N, where equal counts
  // give differences a few ulps apart): no spread to test against.
  if (d.std <= 1e-12 * std::max(1.0, std::fabs(d.mean))) {
    return std::fabs(d.mean) <= 1e-12 ? 1.0 : std::numeric_limits<double>::quiet_NaN();
  }
  return student_t_two_sided_p(d.mean / (d.std / std::sqrt(static_cast<double>(d.n))),
                               static_cast<double>(d.n - 1));
}

std::optional<int64_t> paired_seeds_to_resolve(double difference, double std) {
  // Standard normal quantiles for α = 0.05 (two-sided) and 80% power.
  constexpr double kZAlpha = 1.959963984540054;
  constexpr double kZPower = 0.8416212335729143;
  if (!std::isfinite(difference) || !std::isfinite(std) || difference == 0 || std <= 0) {
    return std::nullopt;
  }
  const double ratio = (kZAlpha + kZPower) * std / difference;
  const double n = ratio * ratio + kZAlpha * kZAlpha / 2.0;
  if (n > 1e9) return std::nullopt;
  return std::max<int64_t>(2, static_cast<int64_t>(std::ceil(n)));
}

std::string setting_title(const RunSpec& run) {
  std::string text = fmt::format("L2 = {}", run.l2);
  if (run.dropout != 0) text += fmt::format(", dropout = {}", run.dropout);
  if (run.weight_decay != 0) text += fmt::format(", weight decay = {}", run.weight_decay);
  return text;
}

bool is_control(const StrengthSummary& s) {
  return s.l2 == 0 && s.dropout == 0 && s.weight_decay == 0;
}

RunSpec StrengthSummary::setting() const {
  RunSpec spec;
  spec.l2 = l2;
  spec.dropout = dropout;
  spec.weight_decay = weight_decay;
  return spec;
}

std::vector<StrengthSummary> summarize_strengths(const std::vector<RunResult>& runs) {
  std::vector<RunSpec> order;
  for (const RunResult& run : runs) {
    if (std::none_of(order.begin(), order.end(),
                     [&](const RunSpec& seen) { return same_setting(seen, run.spec); })) {
      order.push_back(run.spec);
    }
  }
  std::vector<StrengthSummary> summaries;
  for (const RunSpec& setting : order) {
    StrengthSummary summary;
    summary.l2 = setting.l2;
    summary.dropout = setting.dropout;
    summary.weight_decay = setting.weight_decay;
    std::vector<double> accuracy, val_accuracy, test_accuracy, gap, w1_norm, w1_small, w1_zero,
        dead_units, data_loss, val_data_loss, val_trend, train_trend;
    for (const RunResult& run : runs) {
      if (!same_setting(run.spec, setting)) continue;
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
      w1_small.push_back(last.w1_small);
      w1_zero.push_back(last.w1_zero);
      dead_units.push_back(last.dead_units);
      data_loss.push_back(last.data_loss);
      val_data_loss.push_back(last.val_data_loss);
      val_trend.push_back(relative_trend_of_second_half(val_curve));
      train_trend.push_back(relative_trend_of_second_half(train_curve));
      summary.seeds.push_back(run.spec.seed);
    }
    summary.final_val_accuracy = val_accuracy;
    summary.accuracy = seed_stats(accuracy);
    summary.val_accuracy = seed_stats(val_accuracy);
    summary.test_accuracy = seed_stats(test_accuracy);
    summary.train_minus_val_accuracy = seed_stats(gap);
    summary.w1_norm = seed_stats(w1_norm);
    summary.w1_small = seed_stats(w1_small);
    summary.w1_zero = seed_stats(w1_zero);
    summary.dead_units = seed_stats(dead_units);
    summary.data_loss = seed_stats(data_loss);
    summary.val_data_loss = seed_stats(val_data_loss);
    summary.val_data_loss_trend = seed_stats(val_trend);
    summary.data_loss_trend = seed_stats(train_trend);
    summaries.push_back(summary);
  }
  return summaries;
}

}  // namespace l2sweep
