#pragma once

#include <torch/nn/modules/container/sequential.h>
#include <torch/types.h>

#include <cstdint>

#include "l2sweep/data/data.h"
#include "l2sweep/train/metrics.h"

namespace l2sweep {

/// Examples per forward pass when evaluating; any size gives the same means.
inline constexpr int64_t kEvalBatchSize = 8192;

/// The three terms of the training objective for one batch, as 0-dim tensors.
struct LossTerms {
  torch::Tensor loss;       ///< data_loss + penalty: what is minimised and reported as `loss`
  torch::Tensor data_loss;  ///< mean cross-entropy of the logits (softmax folded in)
  torch::Tensor penalty;    ///< l2 * sum(W1^2): Keras' l2 regularizer, no 1/2
};

/// Keras' l2(l) regularizer on one kernel: l2 * sum(weight^2).
torch::Tensor l2_penalty(const torch::Tensor& weight, double l2);

/// Mean cross-entropy of `logits` against `labels` plus the L2 penalty on `w1` alone.
LossTerms regularized_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                           const torch::Tensor& w1, double l2);

/// Sets every parameter's gradient to undefined. LibTorch 1.13's zero_grad() zeroes in place
/// and 2.x's sets to none by default; doing it here gives the same behaviour on both.
void clear_gradients(torch::nn::Module& module);

/// Loss, cross-entropy and accuracy of `model` (penalised with `l2` on its first Linear
/// weight) on a whole split at its current weights, in eval mode and without gradients.
EvalMetrics evaluate_model(const torch::nn::Sequential& model, double l2, const Split& split);

/// ||W1||_2, the L2 norm of `model`'s regularised kernel.
double w1_norm(const torch::nn::Sequential& model);

}  // namespace l2sweep
