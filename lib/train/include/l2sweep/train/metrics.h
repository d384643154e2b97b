#pragma once

#include <torch/types.h>

#include <array>
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

 private:
  void accumulate(const torch::Tensor& weighted_sum, int64_t count);

  torch::Tensor sum_;  ///< device-side sum, for values not on the CPU
  double host_sum_ = 0;
  int64_t count_ = 0;
};

/// Training-set means of one epoch with Keras History semantics: sample-weighted means over
/// the epoch's batches, each batch measured before its own update.
struct TrainMetrics {
  double loss = std::numeric_limits<double>::quiet_NaN();  ///< data_loss + penalty
  double data_loss = std::numeric_limits<double>::quiet_NaN();
  double accuracy = std::numeric_limits<double>::quiet_NaN();
};

/// The three meters behind TrainMetrics, fed batch by batch.
struct EpochMeters {
  MeanMeter loss;
  MeanMeter data_loss;
  MeanMeter accuracy;

  TrainMetrics value() const { return {loss.value(), data_loss.value(), accuracy.value()}; }
};

/// Loss and accuracy of the model on one split, with the penalty at the current weights.
struct EvalMetrics {
  double loss = std::numeric_limits<double>::quiet_NaN();  ///< data_loss + penalty
  double data_loss = std::numeric_limits<double>::quiet_NaN();
  double penalty = std::numeric_limits<double>::quiet_NaN();  ///< l2 * ||W1||^2
  double accuracy = std::numeric_limits<double>::quiet_NaN();
  /// The fraction of hidden units whose ReLU outputs 0 on every example of the split.
  double dead_units = std::numeric_limits<double>::quiet_NaN();
};

/// A first-layer weight is "small" below this magnitude (w1_small): 1/80 of the Glorot bound
/// sqrt(6 / (784 + 128)) = 0.081 the weights start within.
inline constexpr double kSmallWeight = 1e-3;

/// Buckets of a weight histogram: tf.summary.histogram's default, which Keras' TensorBoard
/// callback uses.
inline constexpr int kHistogramBuckets = 30;

/// A histogram of a tensor's values in kHistogramBuckets equal buckets from min to max (the
/// last one closed), as TensorBoard's HistogramProto holds it.
struct WeightHistogram {
  double min = 0, max = 0, num = 0, sum = 0, sum_squares = 0;
  std::array<double, kHistogramBuckets> counts{};

  /// The right edge of bucket `i` (the last one is max).
  double limit(int i) const;
};

/// What a regulariser did to the first layer's kernel W1.
struct WeightStatistics {
  double norm = 0;   ///< ||W1||_2
  double small = 0;  ///< the fraction of W1's entries with |w| < kSmallWeight
  double zero = 0;   ///< the fraction of W1's entries that are exactly 0
  WeightHistogram histogram;
};

/// The statistics of `w1` (any device; read once).
WeightStatistics weight_statistics(const torch::Tensor& w1);

/// One epoch of one run, with Keras History semantics:
/// `loss`/`accuracy`/`data_loss` are sample-weighted means over the epoch's batches, each
/// measured before its own update; the `val_*` values use the weights at the end of the epoch.
/// kEpochMetricFields lists the fields; every writer (metrics.csv, checkpoints, summary.json,
/// TensorBoard, the console) goes through that list.
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
  double w1_small = 0;       ///< the fraction of W1 below kSmallWeight in magnitude
  double w1_zero = 0;        ///< the fraction of W1 that is exactly 0 (L1 would make some)
  double dead_units = 0;     ///< the fraction of hidden units silent on all of the validation set
  double epoch_seconds = 0;  ///< wall time of the cohort's epoch: training and validation
  /// W1's values at the end of the epoch (TensorBoard's histograms; not a metrics.csv column).
  WeightHistogram w1_histogram;

  /// False when a loss or the weights stopped being finite: the run diverged.
  bool finite() const;
};

/// What one epoch measured for one run, before it becomes its EpochMetrics record.
struct EpochMeasurements {
  TrainMetrics train;        ///< the epoch's training means
  EvalMetrics val;           ///< the validation set at the weights the epoch ended with
  WeightStatistics weights;  ///< W1 at the end of the epoch
  double seconds = 0;        ///< wall time of the cohort's epoch
};

/// One metric of EpochMetrics: where its value comes from and where each writer puts it.
struct EpochMetricField {
  /// metrics.csv's column and summary.json's key (Keras' History name where Keras has one).
  const char* name;
  double EpochMetrics::*member;
  /// Its value among the epoch's measurements (epoch_record).
  double (*measured)(const EpochMeasurements& m);
  /// The TensorBoard writer ("train" or "validation") and tag; nullptr: not logged there.
  const char* tensorboard_writer;
  const char* tensorboard_tag;
  /// The console's epoch line shows it with this format ("loss {:.4f}"); nullptr: not shown.
  const char* console_format;
  /// summary.json gives the final epoch's value in each run (timings are not results).
  bool in_summary;
  /// What it is, in one line (docs/outputs.md's column list and `l2sweep --list-metrics`).
  const char* doc;
};

/// Every metric after `epoch`, in metrics.csv's column order. A new per-epoch metric is a row
/// here, the code that measures it (into EpochMeasurements), and a test: every writer and
/// reader, docs/outputs.md's column list and the scripts' tag lists follow this table.
inline constexpr EpochMetricField kEpochMetricFields[] = {
    {"loss", &EpochMetrics::loss, [](const EpochMeasurements& m) { return m.train.loss; }, "train",
     "epoch_loss", "loss {:.4f}", true,
     "training loss: data_loss + the L2 penalty, the sample-weighted mean over the epoch's "
     "batches, each measured before its own update (Keras' History)"},
    {"accuracy", &EpochMetrics::accuracy,
     [](const EpochMeasurements& m) { return m.train.accuracy; }, "train", "epoch_accuracy",
     "acc {:.4f}", true, "training accuracy, averaged over the epoch's batches as loss is"},
    {"val_loss", &EpochMetrics::val_loss, [](const EpochMeasurements& m) { return m.val.loss; },
     "validation", "epoch_loss", "val_loss {:.4f}", true,
     "validation loss at the weights the epoch ended with: val_data_loss + penalty"},
    {"val_accuracy", &EpochMetrics::val_accuracy,
     [](const EpochMeasurements& m) { return m.val.accuracy; }, "validation", "epoch_accuracy",
     "val_acc {:.4f}", true, "validation accuracy at the weights the epoch ended with"},
    {"data_loss", &EpochMetrics::data_loss,
     [](const EpochMeasurements& m) { return m.train.data_loss; }, "train", "epoch_data_loss",
     nullptr, true,
     "training cross-entropy without the penalty, averaged over the epoch's batches as loss is"},
    {"val_data_loss", &EpochMetrics::val_data_loss,
     [](const EpochMeasurements& m) { return m.val.data_loss; }, "validation", "epoch_data_loss",
     nullptr, true, "validation cross-entropy without the penalty"},
    {"penalty", &EpochMetrics::penalty, [](const EpochMeasurements& m) { return m.val.penalty; },
     "train", "epoch_penalty", nullptr, true,
     "the L2 term l2 * ||W1||^2 at the end of the epoch (val_loss - val_data_loss)"},
    {"w1_norm", &EpochMetrics::w1_norm, [](const EpochMeasurements& m) { return m.weights.norm; },
     "train", "w1_norm", nullptr, true,
     "||W1||_2, the first Dense kernel's norm, at the end of the epoch"},
    {"w1_small", &EpochMetrics::w1_small,
     [](const EpochMeasurements& m) { return m.weights.small; }, "train", "w1_small", nullptr, true,
     "the share of W1's entries with |w| < 0.001 (1/80 of the Glorot bound the weights start "
     "within), at the end of the epoch"},
    {"w1_zero", &EpochMetrics::w1_zero, [](const EpochMeasurements& m) { return m.weights.zero; },
     "train", "w1_zero", nullptr, true,
     "the share of W1's entries that are exactly 0, at the end of the epoch"},
    {"dead_units", &EpochMetrics::dead_units,
     [](const EpochMeasurements& m) { return m.val.dead_units; }, "validation", "dead_units",
     nullptr, true,
     "the share of hidden units whose ReLU outputs 0 for every validation image, at the end of "
     "the epoch"},
    {"epoch_seconds", &EpochMetrics::epoch_seconds,
     [](const EpochMeasurements& m) { return m.seconds; }, nullptr, nullptr, "{:.1f}s", false,
     "wall time of the epoch's training and validation (for an engine that stacks a cohort's "
     "runs, the cohort's epoch)"},
};

/// The record of epoch `epoch` (1-based) from what it measured: every field of
/// kEpochMetricFields, and W1's histogram.
EpochMetrics epoch_record(int64_t epoch, const EpochMeasurements& measured);

/// The field called `name`, or nullptr.
const EpochMetricField* find_epoch_metric(const char* name);

}  // namespace l2sweep
