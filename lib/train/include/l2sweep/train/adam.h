#pragma once

#include <torch/optim/adam.h>

#include <memory>
#include <vector>

#include "l2sweep/config/sweep_config.h"

namespace l2sweep {

/// Keras' Adam defaults: beta_1 0.9, beta_2 0.999, epsilon 1e-7 (LibTorch's is 1e-8). Every
/// engine performs torch::optim::Adam's update with these, or with --adam keras Keras' own.
inline constexpr double kAdamBeta1 = 0.9;
inline constexpr double kAdamBeta2 = 0.999;
inline constexpr double kAdamEpsilon = 1e-7;

/// torch::optim::Adam options with Keras' defaults and the given learning rate.
torch::optim::AdamOptions keras_adam_options(double learning_rate);

/// Keras' step size at step `step` (1-based), in float32 as Keras computes it:
/// lr * sqrt(1 - beta_2^t) / (1 - beta_1^t).
float keras_adam_alpha(double learning_rate, int64_t step, double beta1 = kAdamBeta1,
                       double beta2 = kAdamBeta2);

/// Keras' Adam (keras/src/optimizers/adam.py), as a torch::optim::Adam with the same state,
/// options, save() and load(), and Keras' update in float32:
///   m += (g - m) * (1 - beta_1);  v += (g^2 - v) * (1 - beta_2)
///   p -= m * alpha / (sqrt(v) + epsilon),  alpha = keras_adam_alpha(lr, t)
/// epsilon is added to the uncorrected sqrt(v) ("epsilon hat" in Kingma and Ba), where
/// torch::optim::Adam adds it after the bias correction. A parameter group's weight_decay is
/// Keras' (AdamW's) decoupled decay, p -= p * weight_decay * lr before the update, not
/// torch::optim::Adam's gradient term.
class KerasAdam : public torch::optim::Adam {
 public:
  using torch::optim::Adam::Adam;
  torch::Tensor step(LossClosure closure = nullptr) override;
};

/// The optimizer for one model's parameters: `first_kernel` (W1) gets decoupled weight decay
/// `weight_decay`, the rest none. With AdamVariant::kTorch, torch::optim::Adam when
/// `weight_decay` is 0, else torch::optim::AdamW (the same update after p *= 1 - lr * wd);
/// with kKeras, KerasAdam.
std::unique_ptr<torch::optim::Optimizer> make_adam(const std::vector<torch::Tensor>& parameters,
                                                   const torch::Tensor& first_kernel,
                                                   double learning_rate, double weight_decay,
                                                   AdamVariant variant);

}  // namespace l2sweep
