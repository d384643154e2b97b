#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "l2sweep/train/run_result.h"

namespace l2sweep {

/// Mean and sample standard deviation (n - 1 in the denominator, as pandas' .std()) of one
/// quantity across seeds. `std` is NaN with fewer than two values, `mean` with none.
struct SeedStats {
  int64_t n = 0;
  double mean = std::numeric_limits<double>::quiet_NaN();
  double std = std::numeric_limits<double>::quiet_NaN();
};

SeedStats seed_stats(const std::vector<double>& values);

/// `value` with `precision` decimals, `+` in front of positive values when `sign`; a value
/// that rounds to zero is "0.0000" (never "-0.0000"), and NaN is "n/a".
std::string fixed(double value, int precision, bool sign = false);

/// "0.8771 ± 0.0021", "0.8771" when there is no spread to show, "n/a" without values.
std::string mean_std_text(const SeedStats& stats, int precision = 4);

/// One setting (L2 strength, dropout rate and weight decay) across its seeds, from the final
/// epoch of each completed run.
struct StrengthSummary {
  double l2 = 0;
  double dropout = 0;
  double weight_decay = 0;
  int64_t runs = 0;
  int64_t completed = 0;
  int64_t diverged = 0;
  SeedStats accuracy;      ///< final training accuracy
  SeedStats val_accuracy;  ///< final validation accuracy
  SeedStats test_accuracy;
  SeedStats train_minus_val_accuracy;
  SeedStats w1_norm;
  SeedStats w1_small;       ///< the fraction of W1 below kSmallWeight in magnitude
  SeedStats w1_zero;        ///< the fraction of W1 exactly 0
  SeedStats dead_units;     ///< the fraction of hidden units silent on the validation set
  SeedStats data_loss;      ///< final training cross-entropy
  SeedStats val_data_loss;  ///< final validation cross-entropy
  /// Trend of val_data_loss over the second half of training: the least-squares line's
  /// change across those epochs, relative to their mean (+0.05: rose by 5%).
  SeedStats val_data_loss_trend;
  /// The same for the training data_loss, relative too (< 0: still falling).
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
bool is_control(const StrengthSummary& s);

/// One statistic of StrengthSummary with its name in summary.json and report.md.
struct StrengthStatField {
  const char* name;
  SeedStats StrengthSummary::*member;
};

/// The statistics summary.json gives per strength, in its order.
inline constexpr StrengthStatField kStrengthStatFields[] = {
    {"accuracy", &StrengthSummary::accuracy},
    {"val_accuracy", &StrengthSummary::val_accuracy},
    {"test_accuracy", &StrengthSummary::test_accuracy},
    {"train_minus_val_accuracy", &StrengthSummary::train_minus_val_accuracy},
    {"w1_norm", &StrengthSummary::w1_norm},
    {"w1_small", &StrengthSummary::w1_small},
    {"w1_zero", &StrengthSummary::w1_zero},
    {"dead_units", &StrengthSummary::dead_units},
    {"data_loss", &StrengthSummary::data_loss},
    {"val_data_loss", &StrengthSummary::val_data_loss},
};

/// The least-squares trend of `values` over their second half (at least 3 points, all of
/// them when fewer): the fitted line's change from first to last point, divided by the mean.
/// 0 when there are fewer than 2 points.
double relative_trend_of_second_half(const std::vector<double>& values);

/// Two-sided p-value of `t` under Student's t distribution with `df` (> 0, may be fractional)
/// degrees of freedom: I_{df/(df+t^2)}(df/2, 1/2).
double student_t_two_sided_p(double t, double df);

/// The regularized incomplete beta function I_x(a, b), for a, b > 0 and 0 <= x <= 1.
double regularized_incomplete_beta(double a, double b, double x);

/// Two-sided p-value of the paired t-test of `a` against `b` (pairs a[i], b[i] over the shorter
/// length); NaN with fewer than two pairs, or when every difference is the same non-zero value
/// (no spread to test against); 1 when every difference is 0.
double paired_t_p(const std::vector<double>& a, const std::vector<double>& b);

/// Seeds a paired t-test at α = 0.05 would need to detect a mean per-seed difference
/// `difference` with 80% power when the per-seed differences spread by `std`:
/// ((z_{1-α/2} + z_{power}) std / d)^2 + z_{1-α/2}^2 / 2, rounded up, at least 2. nullopt when the
/// difference or the spread is 0 or not finite.
std::optional<int64_t> paired_seeds_to_resolve(double difference, double std);

/// One summary per setting, in plan order.
std::vector<StrengthSummary> summarize_strengths(const std::vector<RunResult>& runs);

}  // namespace l2sweep
