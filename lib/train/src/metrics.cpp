#include "l2sweep/train/metrics.h"

#include <torch/utils.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>

namespace l2sweep {

void MeanMeter::add_mean(const torch::Tensor& batch_mean, int64_t count) {
  if (batch_mean.is_cpu()) {
    host_sum_ += batch_mean.item<double>() * static_cast<double>(count);
    count_ += count;
    return;
  }
  accumulate(batch_mean.detach().to(torch::kFloat64) * static_cast<double>(count), count);
}

void MeanMeter::add_sum(const torch::Tensor& batch_sum, int64_t count) {
  if (batch_sum.is_cpu()) {
    host_sum_ += batch_sum.item<double>();
    count_ += count;
    return;
  }
  accumulate(batch_sum.detach().to(torch::kFloat64), count);
}

void MeanMeter::accumulate(const torch::Tensor& weighted_sum, int64_t count) {
  if (sum_.defined()) {
    sum_.add_(weighted_sum);
  } else {
    sum_ = weighted_sum.clone();
  }
  count_ += count;
}

double MeanMeter::value() const {
  if (count_ == 0) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  const double sum = sum_.defined() ? sum_.item<double>() : host_sum_;
  return sum / static_cast<double>(count_);
}

bool EpochMetrics::finite() const {
  return std::isfinite(loss) && std::isfinite(val_loss) && std::isfinite(w1_norm);
}

double WeightHistogram::limit(int i) const {
  if (i >= kHistogramBuckets - 1) return max;
  return min + (max - min) * static_cast<double>(i + 1) / kHistogramBuckets;
}

namespace {

/// weight_statistics' pass over `count` values (any but the norm): one read of W1, every sum
/// in double in index order.
template <typename T>
void gather_statistics(const T* values, int64_t count, WeightStatistics& stats) {
  WeightHistogram& h = stats.histogram;
  int64_t small = 0, zero = 0;
  double low = std::numeric_limits<double>::infinity(), high = -low, sum = 0, squares = 0;
  bool nan = false;
  for (int64_t i = 0; i < count; ++i) {
    const auto v = static_cast<double>(values[i]);
    const double magnitude = std::abs(v);
    small += magnitude < kSmallWeight ? 1 : 0;
    zero += magnitude == 0 ? 1 : 0;
    nan = nan || std::isnan(v);
    low = std::min(low, v);
    high = std::max(high, v);
    sum += v;
    squares += v * v;
  }
  stats.small = static_cast<double>(small) / static_cast<double>(count);
  stats.zero = static_cast<double>(zero) / static_cast<double>(count);
  h.min = nan ? std::numeric_limits<double>::quiet_NaN() : low;
  h.max = nan ? std::numeric_limits<double>::quiet_NaN() : high;
  if (!std::isfinite(h.min) || !std::isfinite(h.max)) return;  // diverged: no histogram
  h.num = static_cast<double>(count);
  h.sum = sum;
  h.sum_squares = squares;
  // As tf.summary.histogram: equal buckets from min to max, max in the last one.
  const double width = (h.max - h.min) / kHistogramBuckets;
  std::array<int64_t, kHistogramBuckets> counts{};
  for (int64_t i = 0; i < count; ++i) {
    int64_t bucket = 0;
    if (width > 0) {
      const double at = std::floor((static_cast<double>(values[i]) - h.min) / width);
      bucket = static_cast<int64_t>(std::clamp(at, 0.0, double{kHistogramBuckets - 1}));
    }
    ++counts[static_cast<size_t>(bucket)];
  }
  for (size_t i = 0; i < counts.size(); ++i) h.counts[i] = static_cast<double>(counts[i]);
}

}  // namespace

WeightStatistics weight_statistics(const torch::Tensor& w1) {
  torch::NoGradGuard no_grad;
  WeightStatistics stats;
  if (w1.numel() == 0) return stats;
  stats.norm = w1.detach().norm().item<double>();  // in float32, as w1_norm always was
  const torch::Tensor host = w1.detach().to(torch::kCPU).contiguous().reshape({-1});
  if (host.scalar_type() == torch::kFloat32) {
    gather_statistics(host.data_ptr<float>(), host.numel(), stats);
  } else {
    const torch::Tensor wide = host.to(torch::kFloat64);
    gather_statistics(wide.data_ptr<double>(), wide.numel(), stats);
  }
  return stats;
}

EpochMetrics epoch_record(int64_t epoch, const EpochMeasurements& measured) {
  EpochMetrics record;
  record.epoch = epoch;
  for (const EpochMetricField& field : kEpochMetricFields) {
    record.*field.member = field.measured(measured);
  }
  record.w1_histogram = measured.weights.histogram;
  return record;
}

const EpochMetricField* find_epoch_metric(const char* name) {
  for (const EpochMetricField& field : kEpochMetricFields) {
    if (std::strcmp(field.name, name) == 0) return &field;
  }
  return nullptr;
}

}  // namespace l2sweep
