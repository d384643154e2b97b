#pragma once

#include <torch/optim/adam.h>

namespace l2sweep {

/// Keras' Adam defaults: beta_1 0.9, beta_2 0.999, epsilon 1e-7 (LibTorch's is 1e-8). Every
/// engine performs torch::optim::Adam's update with these.
inline constexpr double kAdamBeta1 = 0.9;
inline constexpr double kAdamBeta2 = 0.999;
inline constexpr double kAdamEpsilon = 1e-7;

/// torch::optim::Adam options with Keras' defaults and the given learning rate.
torch::optim::AdamOptions keras_adam_options(double learning_rate);

}  // namespace l2sweep
