#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

namespace l2sweep {

/// The uniform noise behind every Dropout mask of a cohort's epoch `epoch` (1-based): U[0, 1)
/// floats [examples, units], row i for the i-th example of the epoch's order, drawn on the
/// CPU from a generator seeded by the run seed and the epoch alone. A member with rate r keeps
/// the units whose noise is >= r (Keras' test), so its masks depend on its seed, rate and epoch
/// only: not on its cohort, its engine, its device, or whether it was resumed; and members that
/// differ only in their rate see nested masks (common random numbers), which makes their
/// comparison sharper.
torch::Tensor dropout_noise(uint64_t seed, int64_t epoch, int64_t examples, int64_t units);

/// Keras' inverted-dropout scale for `rate`, in float32: 1 / (1 - rate).
float dropout_scale(double rate);

/// Keras' Dropout(rate) as a module of the torch::nn::Sequential model: in training,
/// x * dropout_scale(rate) * keep, with keep (0 or 1 per unit, float) the mask the trainer set
/// for the batch; in evaluation (eval()), x unchanged. Its masks come from dropout_noise, not
/// from LibTorch's global generator, so that every engine applies the same ones.
class KerasDropoutImpl : public torch::nn::Cloneable<KerasDropoutImpl> {
 public:
  explicit KerasDropoutImpl(double rate = 0);
  void reset() override {}
  /// Sets the batch's mask from its rows of the epoch's dropout_noise ([batch, units]).
  void set_noise(const torch::Tensor& noise);
  /// In training, x * dropout_scale(rate) * keep; in evaluation, or at rate 0, x itself.
  torch::Tensor forward(const torch::Tensor& x);
  /// The Dropout rate the layer was built with.
  double rate() const { return rate_; }

 private:
  double rate_;
  torch::Tensor keep_;
};
TORCH_MODULE(KerasDropout);

}  // namespace l2sweep
