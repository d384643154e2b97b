#include "l2sweep/train/adam.h"

#include <torch/optim/adamw.h>
#include <torch/utils.h>

#include <cmath>
#include <sstream>
#include <string>
#include <type_traits>

namespace l2sweep {
namespace {

/// The key of `p`'s state in an Optimizer's state map: its TensorImpl's address, printed in
/// LibTorch 1.13 (a string key) and as the pointer itself in 2.x.
template <typename Map>
typename Map::key_type state_key(const torch::Tensor& p) {
  using Key = typename Map::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream text;
    text << p.unsafeGetTensorImpl();
    return text.str();
  } else {
    return static_cast<Key>(p.unsafeGetTensorImpl());
  }
}

}  // namespace

torch::optim::AdamOptions keras_adam_options(double learning_rate) {
  return torch::optim::AdamOptions(learning_rate)
      .betas(std::make_tuple(kAdamBeta1, kAdamBeta2))
      .eps(kAdamEpsilon);
}

float keras_adam_alpha(double learning_rate, int64_t step, double beta1, double beta2) {
  const auto t = static_cast<float>(step);
  const float beta1_power = std::pow(static_cast<float>(beta1), t);
  const float beta2_power = std::pow(static_cast<float>(beta2), t);
  return static_cast<float>(learning_rate) * std::sqrt(1.0f - beta2_power) / (1.0f - beta1_power);
}

torch::Tensor KerasAdam::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure != nullptr) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups_) {
    const auto& options = static_cast<const torch::optim::AdamOptions&>(group.options());
    const auto lr = static_cast<float>(options.lr());
    const auto decay = static_cast<float>(options.weight_decay());
    const auto one_minus_beta1 = static_cast<float>(1 - std::get<0>(options.betas()));
    const auto one_minus_beta2 = static_cast<float>(1 - std::get<1>(options.betas()));
    const auto eps = static_cast<float>(options.eps());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const torch::Tensor grad = p.grad();
      // Keras' _apply_weight_decay, before the update: variable - variable * wd * lr.
      if (decay != 0) p.sub_(p.mul(decay).mul(lr));
      const auto key = state_key<decltype(state_)>(p);
      auto found = state_.find(key);
      if (found == state_.end()) {
        auto fresh = std::make_unique<torch::optim::AdamParamState>();
        fresh->step(0);
        fresh->exp_avg(torch::zeros_like(p, at::MemoryFormat::Preserve));
        fresh->exp_avg_sq(torch::zeros_like(p, at::MemoryFormat::Preserve));
        found = state_.emplace(key, std::move(fresh)).first;
      }
      auto& state = static_cast<torch::optim::AdamParamState&>(*found->second);
      state.step(state.step() + 1);
      torch::Tensor& m = state.exp_avg();
      torch::Tensor& v = state.exp_avg_sq();
      m.add_(grad.sub(m).mul(one_minus_beta1));
      v.add_(grad.square().sub(v).mul(one_minus_beta2));
      const float alpha = keras_adam_alpha(options.lr(), state.step(), std::get<0>(options.betas()),
                                           std::get<1>(options.betas()));
      p.sub_(m.mul(alpha).div(v.sqrt().add(eps)));
    }
  }
  return loss;
}

std::unique_ptr<torch::optim::Optimizer> make_adam(const std::vector<torch::Tensor>& parameters,
                                                   const torch::Tensor& first_kernel,
                                                   double learning_rate, double weight_decay,
                                                   AdamVariant variant) {
  if (variant == AdamVariant::kTorch && weight_decay == 0) {
    return std::make_unique<torch::optim::Adam>(parameters, keras_adam_options(learning_rate));
  }
  // Two groups: the first layer's kernel, decayed, and the rest.
  std::vector<torch::Tensor> rest;
  for (const torch::Tensor& p : parameters) {
    if (!p.is_same(first_kernel)) rest.push_back(p);
  }
  if (variant == AdamVariant::kKeras) {
    auto kernel = std::make_unique<torch::optim::AdamOptions>(keras_adam_options(learning_rate));
    kernel->weight_decay(weight_decay);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(std::vector<torch::Tensor>{first_kernel}, std::move(kernel));
    groups.emplace_back(
        rest, std::make_unique<torch::optim::AdamOptions>(keras_adam_options(learning_rate)));
    return std::make_unique<KerasAdam>(std::move(groups), keras_adam_options(learning_rate));
  }
  const auto adamw = [&](double decay) {
    return torch::optim::AdamWOptions(learning_rate)
        .betas(std::make_tuple(kAdamBeta1, kAdamBeta2))
        .eps(kAdamEpsilon)
        .weight_decay(decay);
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{first_kernel},
                      std::make_unique<torch::optim::AdamWOptions>(adamw(weight_decay)));
  groups.emplace_back(rest, std::make_unique<torch::optim::AdamWOptions>(adamw(0)));
  return std::make_unique<torch::optim::AdamW>(std::move(groups), adamw(0));
}

}  // namespace l2sweep
