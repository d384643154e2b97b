#pragma once

#include <torch/serialize/archive.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "l2sweep/data/data.h"
#include "l2sweep/train/engine.h"
#include "l2sweep/train/engines/device_adam.h"
#include "l2sweep/train/metrics.h"

namespace l2sweep {

/// One training step of a whole cohort as a fixed sequence of tensor operations on the
/// device, with every piece of state there: the batch position, the epoch's order, the metric
/// sums and Adam's step count. The members are stacked on a leading dimension (W1
/// [R,128,784], b1 [R,128], W2 [R,10,128], b2 [R,10]) and trained on the one batch they
/// share, each with its own L2 strength ([R,1,1]): the element-wise operations and Adam's
/// update run once over all of them, the matrix products once per member (below). No
/// operation reads a value back to the host, so step_full_batch() can be captured as a CUDA
/// graph and replayed (StepGraph); on the CPU, or uncaptured on a GPU, it runs eagerly.
///
/// The loss is the autograd path's (mean cross-entropy + l2 * sum(W1^2)), with explicit
/// gradients written straight into one flat gradient buffer; the members' parameters are
/// views of one flat parameter buffer, so each member's model sees every update. Equal to
/// autograd with torch::optim::Adam up to float rounding.
///
/// A member's numbers are the same bits whatever the other members, on the CPU and on a GPU
/// (tests/cohort_test.cpp): every product and reduction that mixes elements is computed per
/// member, with the same shapes, strides and operand alignment in any cohort (a BLAS or cuBLAS
/// may pick another kernel, and round differently, for another batch count or alignment:
/// issue 22), and the element-wise operations compute each element on its own. The price on a
/// GPU is one launch per member and product instead of one batched launch per product.
/// Epoch metrics follow Keras' History: each batch is
/// measured before its own update; to keep reductions off the step, each batch's logits are
/// stored in an epoch-long buffer and the cross-entropy and accuracy are computed from it once
/// per epoch.
class DeviceStep {
 public:
  /// A step for `members` (Keras-initialised models on one device), whose parameters become
  /// views of the step's buffers.
  DeviceStep(const std::vector<Member>& members, double learning_rate, int64_t batch_size,
             AdamVariant adam = AdamVariant::kTorch);

  /// Starts an epoch over `train` (on the models' device) in the order `order` (int64, any
  /// device): copies the order into the step's own buffer, rewinds the batch position and
  /// zeroes the metric sums. `train` must be the same split every epoch.
  /// `noise` is the epoch's dropout_noise, defined when a member has Dropout.
  void begin_epoch(const Split& train, const torch::Tensor& order, const torch::Tensor& noise = {});

  /// Batches of batch_size in the epoch, and whether a last partial batch follows them.
  int64_t full_batches() const { return full_batches_; }
  bool has_tail() const { return tail_ > 0; }

  /// One Adam step of every member on the next full batch; the batch position is a device
  /// tensor.
  void step_full_batch();
  /// One Adam step of every member on the epoch's last, partial batch.
  void step_tail();

  /// Each member's epoch loss, cross-entropy and accuracy means, read from the device at once.
  std::vector<TrainMetrics> epoch_means() const;

  /// Every tensor a step writes (parameters, moments, counters, sums), in a fixed order.
  std::vector<torch::Tensor> state() const;

  /// Whether member `r`'s parameters and Adam moments are all finite (one read).
  bool finite(int64_t r) const;

  /// Member `r`'s Adam moments and the step count, for checkpoints (the parameters are its
  /// model's): the moments flat in the order W1, b1, W2, b2, as a step of one member has them.
  void save_state(int64_t r, torch::serialize::OutputArchive& archive) const;
  void load_state(int64_t r, torch::serialize::InputArchive& archive);

 private:
  /// The constructor's part for the members' L2 strengths, weight decay and Dropout.
  void set_regularisation(const std::vector<Member>& members, double learning_rate);
  /// The step on the examples `rows`, `scale` holding 1/count each; returns every member's
  /// logits [R, count, classes] (before the update), for the caller to store.
  torch::Tensor step_on(const torch::Tensor& rows, const torch::Tensor& scale,
                        const torch::Tensor& noise);
  /// step_on's forward pass of every member on the batch `x` ([R, count, inputs]) with its
  /// dropout `noise`: what the backward pass reads (device_step.cpp).
  struct Forward;
  Forward forward(const torch::Tensor& x, const torch::Tensor& noise) const;
  /// Member `r`'s four pieces of `flat` (laid out like params_), each flattened.
  std::vector<torch::Tensor> member_pieces(const torch::Tensor& flat, int64_t r) const;

  int64_t members_;
  int64_t batch_size_;
  int64_t full_batches_ = 0;
  int64_t tail_ = 0;
  // Every member's parameters, by parameter: [W1 of all | b1 of all | W2 of all | b2 of all],
  // and the gradients laid out the same way.
  torch::Tensor params_, grads_;
  torch::Tensor w1_, b1_, w2_, b2_;  ///< [R,H,D], [R,H], [R,C,H], [R,C] views of params_
  torch::Tensor grad_w1_, grad_b1_, grad_w2_, grad_b2_;
  torch::Tensor two_l2_;  ///< [R,1,1]: the penalty's gradient is 2 * l2 * W1
  /// Decoupled weight decay, when a member has it: [R,1,1] factors 1 - lr * wd (torch's
  /// AdamW: W1 *= factor), or wd and lr as float (Keras': W1 -= W1 * wd * lr).
  torch::Tensor shrink_, decay_, decay_lr_;
  bool keras_adam_ = false;
  /// Dropout, when a member has it: [R,1,1] rates and scales 1 / (1 - rate) (1 for members
  /// without), and the epoch's noise on the device, [examples, hidden] and its full batches
  /// [batches, batch, hidden].
  torch::Tensor dropout_rates_, dropout_scales_, noise_, batch_noise_;
  torch::Tensor l2_double_;  ///< [R], float64: the penalty's sum is l2 * sum(W1^2)
  DeviceAdam adam_;
  // The epoch: the training split flattened (as held: bytes, scaled per batch), its order and
  // the next full batch's index;
  // batch_rows_ views the order's full batches as [batches, batch_size].
  torch::Tensor images_, labels_, order_, batch_index_, batch_rows_;
  torch::Tensor source_images_;  ///< the split's own images, to tell that it is the same split
  // The epoch's metrics: every batch's logits in epoch order [R, examples, classes], and the
  // sum of each batch's penalty times its size ([R], float64).
  torch::Tensor epoch_logits_, penalty_sum_;
  torch::Tensor batch_logits_;  ///< epoch_logits_'s full batches as [R, batches, batch, classes]
  int64_t examples_ = 0;
  torch::Tensor minus_ones_;  ///< [R, batch, 1] of -1: subtracts the one-hot labels
  /// [batch] and [tail] filled with 1/size: means over the batch as batched products.
  torch::Tensor batch_scale_, tail_scale_;
};

}  // namespace l2sweep
