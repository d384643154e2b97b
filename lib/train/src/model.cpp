#include "l2sweep/train/model.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include <cmath>

#include "l2sweep/base/error.h"

namespace l2sweep {

at::Generator make_cpu_generator(uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

void glorot_uniform_(torch::Tensor weight, at::Generator& generator) {
  // A Linear weight is [fan_out, fan_in]; Keras' kernel is its transpose, same fans.
  const auto fan_out = static_cast<double>(weight.size(0));
  const auto fan_in = static_cast<double>(weight.size(1));
  const double bound = std::sqrt(6.0 / (fan_in + fan_out));
  torch::NoGradGuard no_grad;
  weight.uniform_(-bound, bound, generator);
}

torch::nn::Sequential make_model(int64_t input_features, int64_t hidden_units, int64_t classes,
                                 at::Generator& generator, double dropout) {
  torch::nn::Sequential model(
      torch::nn::Flatten(),
      torch::nn::Linear(/*in_features=*/input_features, /*out_features=*/hidden_units),
      torch::nn::ReLU());
  if (dropout > 0) model->push_back(KerasDropout(dropout));
  model->push_back(torch::nn::Linear(/*in_features=*/hidden_units, /*out_features=*/classes));
  for (const auto& module : model->modules(/*include_self=*/false)) {
    if (auto* linear = module->as<torch::nn::Linear>()) {
      glorot_uniform_(linear->weight, generator);
      torch::NoGradGuard no_grad;
      linear->bias.zero_();
    }
  }
  return model;
}

torch::nn::Linear first_linear(const torch::nn::Sequential& model) {
  for (const auto& module : model->modules(/*include_self=*/false)) {
    if (auto linear = std::dynamic_pointer_cast<torch::nn::LinearImpl>(module)) {
      return torch::nn::Linear(linear);
    }
  }
  throw Error(ErrorKind::kInternal, "model has no Linear layer to regularise");
}

KerasDropout find_dropout(const torch::nn::Sequential& model) {
  for (const auto& module : model->modules(/*include_self=*/false)) {
    if (auto dropout = std::dynamic_pointer_cast<KerasDropoutImpl>(module)) {
      return KerasDropout(dropout);
    }
  }
  return KerasDropout(nullptr);
}

double dropout_rate(const torch::nn::Sequential& model) {
  const KerasDropout layer = find_dropout(model);
  return layer.is_empty() ? 0.0 : layer->rate();
}

torch::nn::Linear second_linear(const torch::nn::Sequential& model) {
  int found = 0;
  for (const auto& module : model->modules(/*include_self=*/false)) {
    if (auto linear = std::dynamic_pointer_cast<torch::nn::LinearImpl>(module)) {
      if (++found == 2) return torch::nn::Linear(linear);
    }
  }
  throw Error(ErrorKind::kInternal, "model has no second Linear layer");
}

}  // namespace l2sweep
