#pragma once

#include <torch/types.h>

#include <vector>

#include "l2sweep/config/sweep_config.h"

namespace l2sweep {

/// torch::optim::Adam's update (without weight decay) on one flat parameter buffer, written as
/// in-place tensor operations whose step count and bias corrections live on the parameter's
/// device. Nothing is read back to the host, so the update can be captured in a CUDA graph
/// and replayed: torch::optim::Adam keeps the step count on the host, where a capture would
/// freeze it. The formula is torch::optim::Adam's,
///   m = lerp(m, g, 1 - beta1)            (m * beta1 + g * (1 - beta1))
///   v = v * beta2 + g * g * (1 - beta2)
///   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
/// with the bias corrections computed in float64 on the device: eleven kernels whatever the
/// number of parameters. On CUDA, where LibTorch declares at::_fused_adam_, the same update
/// is one kernel plus the step count's. tests/device_step_test.cpp runs it beside
/// torch::optim::Adam for thousands of steps.
class DeviceAdam {
 public:
  /// Moments for a parameter buffer shaped like `like`, on its device; `variant` picks
  /// torch::optim::Adam's update (fused into one kernel on CUDA where LibTorch has it) or
  /// Keras' (KerasAdam's, as tensor operations).
  DeviceAdam(const torch::Tensor& like, double learning_rate, double beta1, double beta2,
             double eps, AdamVariant variant = AdamVariant::kTorch);

  /// One update of `param` from `grad` (both flat, on the moments' device).
  void step(torch::Tensor& param, const torch::Tensor& grad);

  /// Every tensor the update writes, for checkpoints and for undoing warm-up steps.
  std::vector<torch::Tensor> state() const { return {exp_avg_, exp_avg_sq_, step_}; }

  const torch::Tensor& exp_avg() const { return exp_avg_; }
  const torch::Tensor& exp_avg_sq() const { return exp_avg_sq_; }
  /// The step count: a 0-dim float32 tensor on the device.
  const torch::Tensor& step_count() const { return step_; }

 private:
  double learning_rate_, beta1_, beta2_, eps_value_;
  AdamVariant variant_;
  torch::Tensor exp_avg_, exp_avg_sq_, step_;
  torch::Tensor betas_;        ///< float64 {beta1, beta2}
  torch::Tensor float_betas_;  ///< float32 {beta1, beta2}, as Keras' update raises them
  torch::Tensor exponents_;    ///< float64 {-1, -0.5}: (1 - beta^t)^e gives both corrections
  torch::Tensor eps_;          ///< 0-dim, the parameters' dtype
};

}  // namespace l2sweep
