#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "l2sweep/stats/statistics.h"
#include "l2sweep/train/run_result.h"

namespace l2sweep {

/// `value` with `precision` decimals, `+` in front of positive values when `sign`; a value
/// that rounds to zero is "0.0000" (never "-0.0000"), and NaN is "n/a".
std::string fixed(double value, int precision, bool sign = false);

/// "0.8771 ± 0.0021", "0.8771" when there is no spread to show, "n/a" without values.
std::string mean_std_text(const SeedStats& stats, int precision = 4);

/// One setting (L2 strength, dropout rate and weight decay) across its seeds, from the final
/// epoch of each completed run. kSettingStatFields lists its statistics.
struct SettingSummary {
  double l2 = 0;
  double dropout = 0;
  double weight_decay = 0;
  int64_t runs = 0;
  int64_t completed = 0;
  int64_t diverged = 0;
  SeedStats accuracy;
  SeedStats val_accuracy;
  SeedStats test_accuracy;
  SeedStats train_minus_val_accuracy;
  SeedStats w1_norm;
  SeedStats w1_small;
  SeedStats w1_zero;
  SeedStats dead_units;
  SeedStats data_loss;
  SeedStats val_data_loss;
  SeedStats val_data_loss_trend;
  SeedStats data_loss_trend;
  /// The seeds of the completed runs and their final val_accuracy, in the same order: for
  /// tests paired by seed (settings of one seed share initial weights and batches).
  std::vector<uint64_t> seeds;
  std::vector<double> final_val_accuracy;

  /// A RunSpec with this setting (seed 0): for run_name(), setting_label() and same_setting().
  RunSpec setting() const;
};

/// A setting as report.md and the recommendation name it: "L2 = 0.001", "L2 = 0, dropout =
/// 0.2", "L2 = 0, weight decay = 0.001".
std::string setting_title(const RunSpec& run);

/// The unregularised control: no L2, no Dropout, no weight decay.
bool is_control(const SettingSummary& s);

/// relative_trend_of_second_half() of one metric over a run's epochs.
double relative_trend(const RunResult& run, double EpochMetrics::*metric);

/// One statistic of SettingSummary: what it takes from each completed run, and where it goes.
struct SettingStatField {
  /// Its key in summary.json's `strengths` objects.
  const char* name;
  SeedStats SettingSummary::*member;
  /// Its value in one completed run (with at least one epoch).
  double (*value)(const RunResult& run);
  /// summary.json gives its mean, std and n per setting.
  bool in_summary;
  /// What it is, in one line (docs/outputs.md and `l2sweep --list-metrics`).
  const char* doc;
};

/// Every statistic of a setting, in summary.json's order: summarize_settings fills each from
/// its `value`, and summary.json and docs/outputs.md's list follow the table.
inline constexpr SettingStatField kSettingStatFields[] = {
    {"accuracy", &SettingSummary::accuracy,
     [](const RunResult& r) { return r.history.back().accuracy; }, true, "final training accuracy"},
    {"val_accuracy", &SettingSummary::val_accuracy,
     [](const RunResult& r) { return r.history.back().val_accuracy; }, true,
     "final validation accuracy"},
    {"test_accuracy", &SettingSummary::test_accuracy,
     [](const RunResult& r) { return r.test ? r.test->accuracy : std::nan(""); }, true,
     "test-set accuracy, scored once after the last epoch"},
    {"train_minus_val_accuracy", &SettingSummary::train_minus_val_accuracy,
     [](const RunResult& r) { return r.history.back().accuracy - r.history.back().val_accuracy; },
     true, "final accuracy minus final val_accuracy: the overfitting gap"},
    {"w1_norm", &SettingSummary::w1_norm,
     [](const RunResult& r) { return r.history.back().w1_norm; }, true, "final ||W1||_2"},
    {"w1_small", &SettingSummary::w1_small,
     [](const RunResult& r) { return r.history.back().w1_small; }, true,
     "final share of W1 below 0.001 in magnitude"},
    {"w1_zero", &SettingSummary::w1_zero,
     [](const RunResult& r) { return r.history.back().w1_zero; }, true,
     "final share of W1 exactly 0"},
    {"dead_units", &SettingSummary::dead_units,
     [](const RunResult& r) { return r.history.back().dead_units; }, true,
     "final share of hidden units silent on the whole validation set"},
    {"data_loss", &SettingSummary::data_loss,
     [](const RunResult& r) { return r.history.back().data_loss; }, true,
     "final training cross-entropy"},
    {"val_data_loss", &SettingSummary::val_data_loss,
     [](const RunResult& r) { return r.history.back().val_data_loss; }, true,
     "final validation cross-entropy"},
    {"val_data_loss_trend", &SettingSummary::val_data_loss_trend,
     [](const RunResult& r) { return relative_trend(r, &EpochMetrics::val_data_loss); }, false,
     "val_data_loss's least-squares change over the second half of training, relative to its "
     "mean (+0.05: rose by 5%; report.md's overfitting verdict)"},
    {"data_loss_trend", &SettingSummary::data_loss_trend,
     [](const RunResult& r) { return relative_trend(r, &EpochMetrics::data_loss); }, false,
     "the same for the training data_loss (< 0: still falling; report.md's underfitting "
     "verdict)"},
};

/// One summary per setting, in plan order.
std::vector<SettingSummary> summarize_settings(const std::vector<RunResult>& runs);

}  // namespace l2sweep
