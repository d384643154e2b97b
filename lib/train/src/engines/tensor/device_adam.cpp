#include "l2sweep/train/engines/device_adam.h"

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <cstdint>
#include <vector>

namespace l2sweep {
namespace {

/// Pieces the fused CUDA Adam kernel gets a flat buffer in.
constexpr int64_t kFusedAdamChunks = 32;

}  // namespace

DeviceAdam::DeviceAdam(const torch::Tensor& like, double learning_rate, double beta1, double beta2,
                       double eps, AdamVariant variant)
    : learning_rate_(learning_rate),
      beta1_(beta1),
      beta2_(beta2),
      eps_value_(eps),
      variant_(variant),
      exp_avg_(at::zeros_like(like)),
      exp_avg_sq_(at::zeros_like(like)),
      // 0-dim, float32 as LibTorch's fused Adam wants it (exact up to 2^24 steps); 0-dim
      // tensors take part in arithmetic without promoting the result.
      step_(at::zeros({}, like.options().dtype(at::kFloat))),
      betas_(at::tensor({beta1, beta2}, like.options().dtype(at::kDouble))),
      float_betas_(betas_.to(at::kFloat)),
      exponents_(at::tensor({-1.0, -0.5}, like.options().dtype(at::kDouble))),
      eps_(at::full({}, eps, like.options())) {}

void DeviceAdam::step(torch::Tensor& param, const torch::Tensor& grad) {
  torch::NoGradGuard no_grad;
  step_.add_(1);
  if (variant_ == AdamVariant::kKeras) {
    // Keras' update (KerasAdam), in float32 with the step count on the device:
    // alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t).
    const at::Tensor powers = at::pow(float_betas_, step_);
    const at::Tensor alpha = at::rsub(powers.select(0, 1), 1)
                                 .sqrt()
                                 .mul(static_cast<float>(learning_rate_))
                                 .div(at::rsub(powers.select(0, 0), 1));
    exp_avg_.add_(grad.sub(exp_avg_).mul(static_cast<float>(1 - beta1_)));
    exp_avg_sq_.add_(grad.square().sub(exp_avg_sq_).mul(static_cast<float>(1 - beta2_)));
    param.sub_(exp_avg_.mul(alpha).div(exp_avg_sq_.sqrt().add(eps_)));
    return;
  }
#if defined(L2SWEEP_HAVE_FUSED_ADAM)
  // On CUDA, the same update in one kernel that reads the step count from the device, as
  // torch.optim.Adam(fused=True, capturable=True) does. cmake/Dependencies.cmake checks that
  // LibTorch declares it; LibTorch 1.13 has only the CUDA kernel, hence CUDA only.
  if (exp_avg_.is_cuda()) {
    // In about kFusedAdamChunks pieces: the kernel spreads tensors over thread blocks, and one
    // flat buffer of a cohort's parameters would get only a few.
    // Pieces of a multiple of 4 floats, so that every piece starts 16-byte aligned (the
    // kernel's vectorised path).
    const int64_t piece = ((param.numel() + kFusedAdamChunks - 1) / kFusedAdamChunks + 3) / 4 * 4;
    const auto pieces = [piece](const torch::Tensor& flat) {
      return flat.split(piece);  // views: the update lands in the buffers
    };
    const std::vector<torch::Tensor> params = pieces(param);
    const std::vector<torch::Tensor> steps(params.size(), step_);
    at::_fused_adam_(params, pieces(grad), pieces(exp_avg_), pieces(exp_avg_sq_), {}, steps,
                     learning_rate_, beta1_, beta2_, /*weight_decay=*/0.0, eps_value_,
                     /*amsgrad=*/false, /*maximize=*/false);
    return;
  }
#endif
  // {1 / (1 - beta1^t), 1 / sqrt(1 - beta2^t)}, in float64 as torch::optim::Adam has them.
  const at::Tensor corrections = at::pow(at::rsub(at::pow(betas_, step_), 1), exponents_);

  exp_avg_.lerp_(grad, 1 - beta1_);
  exp_avg_sq_.mul_(beta2_).addcmul_(grad, grad, 1 - beta2_);
  // sqrt(v) / sqrt(1 - beta2^t) + eps
  const at::Tensor denom = at::addcmul(eps_, exp_avg_sq_.sqrt(), corrections.select(0, 1));
  // p -= lr / (1 - beta1^t) * m / denom
  param.addcmul_(exp_avg_.div(denom), corrections.select(0, 0), -learning_rate_);
}

}  // namespace l2sweep
