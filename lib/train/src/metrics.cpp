#include "l2sweep/train/metrics.h"

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

const EpochMetricField* find_epoch_metric(const char* name) {
  for (const EpochMetricField& field : kEpochMetricFields) {
    if (std::strcmp(field.name, name) == 0) return &field;
  }
  return nullptr;
}

}  // namespace l2sweep
