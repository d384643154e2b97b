#pragma once

#include <torch/nn/modules/container/sequential.h>
#include <torch/serialize/archive.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "l2sweep/data/data.h"
#include "l2sweep/train/engine.h"
#include "l2sweep/train/engines/cuda_graph.h"
#include "l2sweep/train/metrics.h"

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
  /// Moments for a parameter buffer shaped like `like`, on its device.
  DeviceAdam(const torch::Tensor& like, double learning_rate, double beta1, double beta2,
             double eps);

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
  torch::Tensor exp_avg_, exp_avg_sq_, step_;
  torch::Tensor betas_;      ///< float64 {beta1, beta2}
  torch::Tensor exponents_;  ///< float64 {-1, -0.5}: (1 - beta^t)^e gives both corrections
  torch::Tensor eps_;        ///< 0-dim, the parameters' dtype
};

/// One training step of the seed's network as a fixed sequence of tensor operations on the
/// model's device, with every piece of state there: the batch position, the epoch's order,
/// the metric sums and Adam's step count. No operation reads a value back to the host, so
/// step_full_batch() can be captured once as a CUDA graph and replayed (StepGraph); on the
/// CPU, or uncaptured on a GPU, it runs eagerly.
///
/// The loss is the same as the autograd path's (mean cross-entropy + l2 * sum(W1^2)), with
/// explicit gradients written straight into one flat gradient buffer; the model's four
/// parameters are made views of one flat parameter buffer, so Adam is a handful of kernels
/// over all of them. Equal to autograd with torch::optim::Adam up to float rounding.
/// Epoch metrics follow Keras' History: each batch is measured before its own update. To
/// keep reductions off the step, each batch's logits are stored in an epoch-long buffer and
/// the cross-entropy and accuracy are computed from it once, at the end of the epoch.
/// About thirty kernels a step on CUDA, each launched from the graph, none from the host.
class DeviceStep {
 public:
  DeviceStep(const torch::nn::Sequential& model, double l2, double learning_rate,
             int64_t batch_size);

  /// Starts an epoch over `train` (on the model's device) in the order `order` (int64, any
  /// device): copies the order into the step's own buffer, rewinds the batch position and
  /// zeroes the metric sums. `train` must be the same split every epoch.
  void begin_epoch(const Split& train, const torch::Tensor& order);

  /// Batches of batch_size in the epoch, and whether a last partial batch follows them.
  int64_t full_batches() const { return full_batches_; }
  bool has_tail() const { return tail_ > 0; }

  /// One Adam step on the next full batch; the batch position is a device tensor.
  void step_full_batch();
  /// One Adam step on the epoch's last, partial batch.
  void step_tail();

  /// The epoch's loss, cross-entropy and accuracy means, read from the device at once.
  TrainMetrics epoch_means() const;

  /// Every tensor a step writes (parameters, moments, counters, sums), in a fixed order.
  std::vector<torch::Tensor> state() const;

  /// Adam's moments and step count, for checkpoints; the parameters are the model's.
  void save_state(torch::serialize::OutputArchive& archive) const;
  void load_state(torch::serialize::InputArchive& archive);

 private:
  /// The step on the examples `rows`, `scale` holding 1/count each; returns their logits
  /// (before the update), for the caller to store in epoch_logits_.
  torch::Tensor step_on(const torch::Tensor& rows, const torch::Tensor& scale);

  double l2_;
  int64_t batch_size_;
  int64_t full_batches_ = 0;
  int64_t tail_ = 0;
  // The model's parameters as views of params_, their gradients as views of grads_.
  torch::Tensor params_, grads_;
  torch::Tensor w1_, b1_, w2_, b2_;
  torch::Tensor grad_w1_, grad_b1_, grad_w2_, grad_b2_;
  DeviceAdam adam_;
  // The epoch: the training split flattened, its order and the next full batch's index;
  // batch_rows_ views the order's full batches as [batches, batch_size].
  torch::Tensor images_, labels_, order_, batch_index_, batch_rows_;
  torch::Tensor source_images_;  ///< the split's own images, to tell that it is the same split
  // The epoch's metrics: every batch's logits in epoch order, and the sum of each batch's
  // penalty times its size (float64).
  torch::Tensor epoch_logits_, penalty_sum_;
  torch::Tensor batch_logits_;  ///< epoch_logits_'s full batches as [batches, batch_size, classes]
  int64_t examples_ = 0;
  torch::Tensor minus_ones_;  ///< [batch, 1] of -1: subtracts the one-hot labels
  /// [batch] and [tail] filled with 1/size: the mean over the batch as a matrix-vector product.
  torch::Tensor batch_scale_, tail_scale_;
};

/// Steps captured in one CUDA graph: one launch (and one check for a stop request) per this
/// many batches. Longer graphs amortise the launch and PyTorch's per-replay generator
/// bookkeeping (two small kernels) at no cost in memory: the steps reuse one memory pool.
inline constexpr int64_t kStepsPerGraph = 16;

/// The device engine: one DeviceStep per member, members one after another. With
/// options.cuda_graphs (CUDA only) each member's full batches are replayed from CUDA graphs
/// captured in its first epoch, kStepsPerGraph at a time, on the calling thread's stream (a
/// DeviceStream's); the last partial batch runs eagerly. Nothing is read back to the host
/// until the epoch's means.
class DeviceEngine : public Engine {
 public:
  DeviceEngine(std::vector<Member> members, const TrainOptions& options,
               const torch::Device& device);
  ~DeviceEngine() override;

  std::vector<TrainMetrics> train_epoch(const Split& train, const torch::Tensor& order,
                                        const EpochControl& control) override;
  bool finite(size_t member) const override;
  void save_state(size_t member, torch::serialize::OutputArchive& archive) const override;
  void load_state(size_t member, torch::serialize::InputArchive& archive) override;
  EngineKind kind() const override { return EngineKind::kDevice; }
  /// Says whether the steps were replayed from CUDA graphs, and whether a capture failed.
  std::string description() const override;

  /// Whether every member that trained replays its full batches from a CUDA graph: false
  /// before the first epoch, and after a failed capture (the member then continues with the
  /// eager device step, after a warning on stderr).
  bool uses_cuda_graphs() const;

 private:
  struct MemberStep {
    std::unique_ptr<DeviceStep> step;
    std::unique_ptr<StepGraph> graph;       ///< kStepsPerGraph steps, with cuda_graphs
    std::unique_ptr<StepGraph> rest_graph;  ///< the epoch's remaining full batches
  };

  TrainMetrics train_member(MemberStep& member, const Split& train, const torch::Tensor& order,
                            const EpochControl& control, int64_t& done, int64_t steps);
  void capture_graphs(MemberStep& member);

  std::vector<MemberStep> steps_;
  bool capture_failed_ = false;
};

}  // namespace l2sweep
