#include "l2sweep/train/metrics.h"

#include <torch/utils.h>

#include <cmath>
#include <cstring>

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

WeightStatistics weight_statistics(const torch::Tensor& w1) {
  torch::NoGradGuard no_grad;
  const torch::Tensor values = w1.detach().to(torch::kCPU, torch::kFloat64).reshape({-1});
  WeightStatistics stats;
  const auto count = static_cast<double>(values.numel());
  if (values.numel() == 0) return stats;
  stats.norm = w1.detach().norm().item<double>();  // in float32, as w1_norm always was
  const torch::Tensor magnitude = values.abs();
  stats.small = magnitude.lt(kSmallWeight).sum().item<double>() / count;
  stats.zero = magnitude.eq(0).sum().item<double>() / count;
  WeightHistogram& h = stats.histogram;
  h.min = values.min().item<double>();
  h.max = values.max().item<double>();
  if (!std::isfinite(h.min) || !std::isfinite(h.max)) return stats;  // diverged: no histogram
  h.num = count;
  h.sum = values.sum().item<double>();
  h.sum_squares = values.square().sum().item<double>();
  const double width = (h.max - h.min) / kHistogramBuckets;
  // As tf.summary.histogram: equal buckets from min to max, max in the last one.
  const torch::Tensor bucket =
      width > 0
          ? values.sub(h.min).div(width).floor().clamp(0, kHistogramBuckets - 1).to(torch::kInt64)
          : torch::zeros({values.numel()}, torch::kInt64);
  const torch::Tensor counts = torch::bincount(bucket, {}, kHistogramBuckets);
  for (int i = 0; i < kHistogramBuckets; ++i) {
    h.counts[static_cast<size_t>(i)] = static_cast<double>(counts[i].item<int64_t>());
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
