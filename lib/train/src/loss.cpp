#include "l2sweep/train/loss.h"

#include <torch/nn/functional/loss.h>
#include <torch/nn/modules/activation.h>
#include <torch/utils.h>

#include <algorithm>

#include "l2sweep/train/model.h"

namespace l2sweep {
namespace F = torch::nn::functional;

torch::Tensor l2_penalty(const torch::Tensor& weight, double l2) {
  return weight.square().sum() * l2;
}

LossTerms regularized_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                           const torch::Tensor& w1, double l2) {
  LossTerms terms;
  terms.data_loss = F::cross_entropy(logits, labels);
  terms.penalty = l2_penalty(w1, l2);
  terms.loss = terms.data_loss + terms.penalty;
  return terms;
}

void clear_gradients(torch::nn::Module& module) {
  for (auto& parameter : module.parameters()) {
    parameter.mutable_grad() = torch::Tensor();
  }
}

EvalMetrics evaluate_model(const torch::nn::Sequential& holder, double l2, const Split& split) {
  torch::NoGradGuard no_grad;
  torch::nn::Sequential model = holder;  // another handle on the same module, to switch modes
  model->eval();
  MeanMeter data_loss;
  MeanMeter accuracy;
  torch::Tensor fired;  // per hidden unit: whether its ReLU was positive on any example
  const int64_t examples = split.size();
  for (int64_t begin = 0; begin < examples; begin += kEvalBatchSize) {
    const int64_t end = std::min(examples, begin + kEvalBatchSize);
    const torch::Tensor labels = split.labels.slice(0, begin, end);
    // Layer by layer, to see the hidden layer on its way.
    torch::Tensor logits = pixels(split.images.slice(0, begin, end));
    for (auto& layer : *model) {
      logits = layer.forward(logits);
      if (layer.ptr()->as<torch::nn::ReLU>() != nullptr) {
        const torch::Tensor positive = logits.gt(0).any(0);
        fired = fired.defined() ? fired.logical_or(positive) : positive;
      }
    }
    data_loss.add_sum(
        F::cross_entropy(logits, labels, F::CrossEntropyFuncOptions().reduction(torch::kSum)),
        end - begin);
    accuracy.add_sum(logits.argmax(1).eq(labels).sum(), end - begin);
  }
  model->train();
  EvalMetrics metrics;
  metrics.data_loss = data_loss.value();
  metrics.accuracy = accuracy.value();
  if (fired.defined()) {
    metrics.dead_units = 1.0 - fired.to(torch::kFloat64).mean().item<double>();
  }
  metrics.penalty = l2_penalty(first_linear(model)->weight, l2).item<double>();
  metrics.loss = metrics.data_loss + metrics.penalty;
  return metrics;
}

double w1_norm(const torch::nn::Sequential& model) {
  torch::NoGradGuard no_grad;
  return first_linear(model)->weight.norm().item<double>();
}

}  // namespace l2sweep
