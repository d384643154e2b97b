#pragma once

#include <torch/types.h>

#include <cstdint>
#include <limits>

namespace l2sweep {

/// A sample-weighted mean over batches, accumulated in float64 (after flashlight's
/// AverageValueMeter). Values on a GPU are summed on the device, so adding a batch never
/// waits for it; values on the CPU are summed on the host, which costs no tensor operation.
/// Both paths do the same float64 arithmetic.
class MeanMeter {
 public:
  /// Adds a batch whose mean is `batch_mean` (a 0-dim tensor) over `count` samples.
  void add_mean(const torch::Tensor& batch_mean, int64_t count);
  /// Adds a batch whose values sum to `batch_sum` (a 0-dim tensor) over `count` samples.
  void add_sum(const torch::Tensor& batch_sum, int64_t count);
  /// Adds a batch whose values sum to `batch_sum` over `count` samples, already on the host.
  void add_sum(double batch_sum, int64_t count) {
    host_sum_ += batch_sum;
    count_ += count;
  }
  /// The weighted mean so far (reads the device once); NaN before anything was added.
  double value() const;
  int64_t count() const { return count_; }
  void reset();

 private:
  void accumulate(const torch::Tensor& weighted_sum, int64_t count);

  torch::Tensor sum_;  ///< device-side sum, for values not on the CPU
  double host_sum_ = 0;
  int64_t count_ = 0;
};

/// Loss and accuracy of the model on one split, with the penalty at the current weights.
struct EvalMetrics {
  double loss = std::numeric_limits<double>::quiet_NaN();  ///< data_loss + penalty
  double data_loss = std::numeric_limits<double>::quiet_NaN();
  double penalty = std::numeric_limits<double>::quiet_NaN();  ///< l2 * ||W1||^2
  double accuracy = std::numeric_limits<double>::quiet_NaN();
};

/// One epoch of one run, with Keras History semantics:
/// `loss`/`accuracy`/`data_loss` are sample-weighted means over the epoch's batches, each
/// measured before its own update; the `val_*` values use the weights at the end of the epoch.
struct EpochMetrics {
  int64_t epoch = 0;  ///< 1-based: the number of epochs completed
  double loss = 0;
  double accuracy = 0;
  double data_loss = 0;
  double val_loss = 0;
  double val_accuracy = 0;
  double val_data_loss = 0;
  double penalty = 0;        ///< l2 * ||W1||^2 at the end of the epoch (val_loss - val_data_loss)
  double w1_norm = 0;        ///< ||W1||_2 at the end of the epoch
  double epoch_seconds = 0;  ///< wall time of training and validation

  /// False when a loss or the weights stopped being finite: the run diverged.
  bool finite() const;
};

}  // namespace l2sweep
