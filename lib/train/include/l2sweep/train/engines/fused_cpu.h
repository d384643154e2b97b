#pragma once

#include <torch/nn/modules/container/sequential.h>
#include <torch/serialize/archive.h>

#include <cstdint>
#include <vector>

#include "l2sweep/train/engine.h"
#include "l2sweep/train/metrics.h"

namespace l2sweep {

/// The CPU fast path of one training step for the seed's network (Flatten -> Linear -> ReLU ->
/// Linear): the same loss (mean cross-entropy + l2 * sum(W1^2)) and the same Adam update as
/// autograd with torch::optim::Adam and keras_adam_options, computed with explicit gradients
/// into preallocated buffers. Only the five matrix products go through LibTorch (BLAS); the
/// softmax, ReLU, penalty and the whole Adam update are single fused loops, and the penalty's
/// value and its gradient 2 * l2 * W1 are folded into the pass that updates W1. Equal to the
/// autograd path up to float rounding (tests/fused_step_test.cpp compares them over many steps).
/// It updates the model's parameters in place, so evaluation and checkpoints see them.
class FusedCpuStep {
 public:
  FusedCpuStep(const torch::nn::Sequential& model, double l2, double learning_rate,
               int64_t batch_size);

  /// One Adam step on the examples `indices` (int64, CPU) of `images`/`labels`; adds the
  /// batch's loss, cross-entropy and accuracy, measured before the update, to `meters`.
  void step(const torch::Tensor& images, const torch::Tensor& labels, const torch::Tensor& indices,
            EpochMeters& meters);

  /// Adam steps taken so far.
  int64_t steps() const { return step_; }

  /// Whether Adam's moments are all finite.
  bool moments_finite() const;

  /// Adam's moments and step count, for checkpoints.
  void save_state(torch::serialize::OutputArchive& archive) const;
  void load_state(torch::serialize::InputArchive& archive);

 private:
  /// A parameter with Adam's two moment buffers.
  struct AdamSlot {
    torch::Tensor value;  ///< the model's parameter, detached (same storage)
    std::vector<float> exp_avg;
    std::vector<float> exp_avg_sq;
  };

  void gather(const torch::Tensor& images, const int64_t* index, int64_t n);
  void forward(int64_t n);
  /// The batch's summed cross-entropy; writes d(mean cross-entropy)/d(logits) and counts the
  /// examples whose largest logit is the label.
  double softmax_cross_entropy(const int64_t* labels, const int64_t* index, int64_t n,
                               int64_t* correct);
  void backward(int64_t n);
  void adam_update(AdamSlot& slot, const float* gradient, double weight_decay_l2,
                   double* sum_of_squares);

  double l2_;
  double learning_rate_;
  int64_t step_ = 0;
  AdamSlot w1_, b1_, w2_, b2_;
  torch::Tensor x_, hidden_, logits_, d_logits_, d_hidden_, d_w1_, d_w2_;
  std::vector<float> d_b1_, d_b2_;
};

/// The fused CPU engine: one FusedCpuStep per member, members one after another on the
/// calling thread (CPU only).
class FusedCpuEngine : public Engine {
 public:
  FusedCpuEngine(std::vector<Member> members, const TrainOptions& options,
                 const torch::Device& device);

  std::vector<TrainMetrics> train_epoch(const Split& train, const torch::Tensor& order,
                                        const EpochControl& control) override;
  bool finite(size_t member) const override;
  void save_state(size_t member, torch::serialize::OutputArchive& archive) const override;
  void load_state(size_t member, torch::serialize::InputArchive& archive) override;
  EngineKind kind() const override { return EngineKind::kFused; }
  std::string description() const override;

 private:
  std::vector<FusedCpuStep> steps_;
};

}  // namespace l2sweep
