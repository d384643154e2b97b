#pragma once

#include <ATen/core/Generator.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>

#include <cstdint>

#include "l2sweep/train/dropout.h"

namespace l2sweep {

/// Units of the hidden Dense layer in the seed experiment.
inline constexpr int64_t kHiddenUnits = 128;

/// Flatten -> Linear(input, hidden) -> ReLU -> Linear(hidden, classes), the seed's Keras
/// model with the softmax folded into the loss. Weights are Glorot-uniform and biases zero,
/// as Keras' Dense initialises them, drawn on the CPU from `generator` so that every device
/// starts from the same numbers.
/// With `dropout` > 0, Keras' Dropout(dropout) follows the ReLU (KerasDropout); it draws
/// nothing from `generator`, so a model starts from the same weights with or without it.
torch::nn::Sequential make_model(int64_t input_features, int64_t hidden_units, int64_t classes,
                                 at::Generator& generator, double dropout = 0);

/// Keras' glorot_uniform: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)).
void glorot_uniform_(torch::Tensor weight, at::Generator& generator);

/// The first Linear layer of `model`: the one whose kernel carries the L2 penalty.
torch::nn::Linear first_linear(const torch::nn::Sequential& model);

/// The second Linear layer of `model`: the output layer.
torch::nn::Linear second_linear(const torch::nn::Sequential& model);

/// `model`'s Dropout layer, or an empty holder when it has none.
KerasDropout find_dropout(const torch::nn::Sequential& model);

/// The rate of `model`'s Dropout layer; 0 when it has none.
double dropout_rate(const torch::nn::Sequential& model);

/// A CPU generator seeded with `seed`, for reproducible initialisation and shuffles.
at::Generator make_cpu_generator(uint64_t seed);

}  // namespace l2sweep
