#include "l2sweep/outputs/setting_summary.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace l2sweep {

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

std::string setting_title(const RunSpec& run) {
  std::string text = fmt::format("L2 = {}", run.l2);
  if (run.dropout != 0) text += fmt::format(", dropout = {}", run.dropout);
  if (run.weight_decay != 0) text += fmt::format(", weight decay = {}", run.weight_decay);
  return text;
}

bool is_control(const SettingSummary& s) {
  return s.l2 == 0 && s.dropout == 0 && s.weight_decay == 0;
}

RunSpec SettingSummary::setting() const {
  RunSpec spec;
  spec.l2 = l2;
  spec.dropout = dropout;
  spec.weight_decay = weight_decay;
  return spec;
}

double relative_trend(const RunResult& run, double EpochMetrics::*metric) {
  std::vector<double> curve;
  for (const EpochMetrics& m : run.history) curve.push_back(m.*metric);
  return relative_trend_of_second_half(curve);
}

std::vector<SettingSummary> summarize_settings(const std::vector<RunResult>& runs) {
  std::vector<RunSpec> order;
  for (const RunResult& run : runs) {
    if (std::none_of(order.begin(), order.end(),
                     [&](const RunSpec& seen) { return same_setting(seen, run.spec); })) {
      order.push_back(run.spec);
    }
  }
  std::vector<SettingSummary> summaries;
  for (const RunSpec& setting : order) {
    SettingSummary summary;
    summary.l2 = setting.l2;
    summary.dropout = setting.dropout;
    summary.weight_decay = setting.weight_decay;
    std::vector<std::vector<double>> values(std::size(kSettingStatFields));
    for (const RunResult& run : runs) {
      if (!same_setting(run.spec, setting)) continue;
      ++summary.runs;
      if (run.status != RunStatus::kCompleted || run.history.empty()) {
        summary.diverged += run.status == RunStatus::kDiverged ? 1 : 0;
        continue;
      }
      ++summary.completed;
      for (size_t f = 0; f < values.size(); ++f)
        values[f].push_back(kSettingStatFields[f].value(run));
      summary.seeds.push_back(run.spec.seed);
      summary.final_val_accuracy.push_back(run.history.back().val_accuracy);
    }
    for (size_t f = 0; f < values.size(); ++f) {
      summary.*kSettingStatFields[f].member = seed_stats(values[f]);
    }
    summaries.push_back(summary);
  }
  return summaries;
}

}  // namespace l2sweep
