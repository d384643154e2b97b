#pragma once

#include <cstdint>
#include <limits>
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

/// One L2 strength across its seeds, from the final epoch of each completed run.
struct StrengthSummary {
  double l2 = 0;
  int64_t runs = 0;
  int64_t completed = 0;
  int64_t diverged = 0;
  SeedStats accuracy;      ///< final training accuracy
  SeedStats val_accuracy;  ///< final validation accuracy
  SeedStats test_accuracy;
  SeedStats train_minus_val_accuracy;
  SeedStats w1_norm;
  SeedStats data_loss;      ///< final training cross-entropy
  SeedStats val_data_loss;  ///< final validation cross-entropy
  /// Trend of val_data_loss over the second half of training: the least-squares line's
  /// change across those epochs, relative to their mean (+0.05: rose by 5%).
  SeedStats val_data_loss_trend;
  /// The same for the training data_loss, relative too (< 0: still falling).
  SeedStats data_loss_trend;
};

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
    {"data_loss", &StrengthSummary::data_loss},
    {"val_data_loss", &StrengthSummary::val_data_loss},
};

/// The least-squares trend of `values` over their second half (at least 3 points, all of
/// them when fewer): the fitted line's change from first to last point, divided by the mean.
/// 0 when there are fewer than 2 points.
double relative_trend_of_second_half(const std::vector<double>& values);

/// One summary per strength, in the order the strengths were given.
std::vector<StrengthSummary> summarize_strengths(const std::vector<RunResult>& runs);

}  // namespace l2sweep
