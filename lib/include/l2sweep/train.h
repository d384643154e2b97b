#pragma once

#include <torch/nn/modules/container/sequential.h>
#include <torch/optim/adam.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "l2sweep/config.h"
#include "l2sweep/cuda_graph.h"
#include "l2sweep/data.h"
#include "l2sweep/device_step.h"
#include "l2sweep/fused_step.h"
#include "l2sweep/metrics.h"

namespace l2sweep {

/// Keras' Adam defaults: beta_1 0.9, beta_2 0.999, epsilon 1e-7 (LibTorch's is 1e-8).
inline constexpr double kAdamBeta1 = 0.9;
inline constexpr double kAdamBeta2 = 0.999;
inline constexpr double kAdamEpsilon = 1e-7;
/// Examples per forward pass when evaluating; any size gives the same means.
inline constexpr int64_t kEvalBatchSize = 8192;

/// Steps captured in one CUDA graph: one launch (and one check for a stop request) per this
/// many batches. Longer graphs amortise the launch and PyTorch's per-replay generator
/// bookkeeping (two small kernels) at no cost in memory: the steps reuse one memory pool.
inline constexpr int64_t kStepsPerGraph = 16;

/// torch::optim::Adam options with Keras' defaults and the given learning rate.
torch::optim::AdamOptions keras_adam_options(double learning_rate);

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

/// How one run trains.
struct TrainOptions {
  double l2 = 0;
  double learning_rate = 1e-3;
  int64_t batch_size = 32;
  uint64_t shuffle_seed = 0;  ///< seeds the per-epoch permutations
  /// How each step is computed: autograd and torch::optim::Adam, FusedCpuStep (CPU only) or
  /// DeviceStep; all equal up to float rounding.
  StepEngine engine = StepEngine::kAutograd;
  /// With DeviceStep on CUDA: replay the step from a CUDA graph captured in the first epoch.
  bool cuda_graph = false;
};

/// Training-set means of one epoch, with Keras History semantics (see EpochMetrics).
struct TrainMetrics {
  double loss = 0;
  double data_loss = 0;
  double accuracy = 0;
};

/// Called after each training batch with (batches done, batches in the epoch).
using BatchCallback = std::function<void(int64_t, int64_t)>;

/// Trains one model with Adam on the regularised loss and evaluates it. The model and the
/// splits it is given must already be on `device`.
class Trainer {
 public:
  Trainer(torch::nn::Sequential model, const TrainOptions& options, torch::Device device);

  /// One pass over `train` in a fresh random order (reshuffled every epoch from the shuffle
  /// seed, last partial batch kept), one Adam step per batch with options.engine.
  TrainMetrics train_epoch(const Split& train, const BatchCallback& on_batch = {});

  /// Loss, cross-entropy and accuracy on a whole split at the current weights; no update.
  EvalMetrics evaluate(const Split& split);

  /// ||W1||_2, the L2 norm of the regularised kernel.
  double w1_norm() const;

  /// Everything a resumed run needs to continue bit for bit: parameters, the optimizer's
  /// state and the shuffle generator's state.
  void save_state(torch::serialize::OutputArchive& archive) const;
  void load_state(torch::serialize::InputArchive& archive);

  /// Whether full batches are replayed from a CUDA graph: false before the first epoch, and
  /// for the rest of the run when the capture failed (the run then continues with the eager
  /// device step, after a warning on stderr).
  bool uses_cuda_graph() const { return graph_ != nullptr; }

  torch::nn::Sequential& model() { return model_; }
  torch::optim::Adam& optimizer() { return optimizer_; }

 private:
  torch::nn::Sequential model_;
  torch::Tensor w1_;
  TrainOptions options_;
  torch::Device device_;
  torch::optim::Adam optimizer_;
  at::Generator shuffle_generator_;
  std::unique_ptr<FusedCpuStep> fused_;      ///< set for StepEngine::kFusedCpu
  std::unique_ptr<DeviceStep> device_step_;  ///< set for StepEngine::kDevice
  std::unique_ptr<StepGraph> graph_;         ///< kStepsPerGraph steps, with cuda_graph
  std::unique_ptr<StepGraph> rest_graph_;    ///< the epoch's remaining full batches
  bool graph_failed_ = false;

  TrainMetrics train_epoch_on_device(const Split& train, const torch::Tensor& order,
                                     const BatchCallback& on_batch);
  void capture_graphs();
};

}  // namespace l2sweep
