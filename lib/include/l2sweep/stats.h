#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "l2sweep/sweep.h"

namespace l2sweep {

/// Mean and sample standard deviation (n - 1 in the denominator, as pandas' .std()) of one
/// quantity across seeds. `std` is NaN with fewer than two values, `mean` with none.
struct SeedStats {
  int64_t n = 0;
  double mean = std::numeric_limits<double>::quiet_NaN();
  double std = std::numeric_limits<double>::quiet_NaN();
};

SeedStats seed_stats(const std::vector<double>& values);

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
  /// Final val_data_loss minus its lowest value over the epochs: > 0 when it rose again.
  SeedStats val_data_loss_rise;
  /// data_loss at the final epoch minus data_loss at the epoch of the lowest val_data_loss:
  /// < 0 when training cross-entropy kept falling while validation rose.
  SeedStats data_loss_change_since_val_minimum;
};

/// One summary per strength, in the order the strengths were given.
std::vector<StrengthSummary> summarize_strengths(const std::vector<RunResult>& runs);

}  // namespace l2sweep
