#include "l2sweep/device_step.h"

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <utility>

#include "l2sweep/error.h"
#include "l2sweep/model.h"
#include "l2sweep/train.h"

namespace l2sweep {

DeviceAdam::DeviceAdam(const torch::Tensor& like, double learning_rate, double beta1,
                       double beta2, double eps)
    : learning_rate_(learning_rate),
      beta1_(beta1),
      beta2_(beta2),
      eps_(eps),
      exp_avg_(at::zeros_like(like)),
      exp_avg_sq_(at::zeros_like(like)),
      // 0-dim, so that it takes part in float32 arithmetic without promoting it to float64.
      step_(at::zeros({}, like.options().dtype(at::kDouble))) {}

void DeviceAdam::step(torch::Tensor& param, const torch::Tensor& grad) {
  torch::NoGradGuard no_grad;
  step_.add_(1);
  // The bias corrections in float64, as torch::optim::Adam computes them on the host.
  const at::Tensor bias_correction1 = at::pow(beta1_, step_).neg_().add_(1);
  const at::Tensor sqrt_bias_correction2 = at::pow(beta2_, step_).neg_().add_(1).sqrt_();
  const at::Tensor step_size = bias_correction1.reciprocal().mul_(-learning_rate_);

  exp_avg_.mul_(beta1_).add_(grad, 1 - beta1_);
  exp_avg_sq_.mul_(beta2_).addcmul_(grad, grad, 1 - beta2_);
  const at::Tensor denom = exp_avg_sq_.sqrt().div_(sqrt_bias_correction2).add_(eps_);
  // p.addcdiv_(m, denom, -step_size) with the step size as a device tensor.
  param.add_(exp_avg_.div(denom).mul_(step_size));
}

namespace {

/// The flat offsets of the four parameters in params_/grads_.
std::vector<torch::Tensor> model_parameters(const torch::nn::Sequential& model) {
  const auto first = first_linear(model);
  const auto second = second_linear(model);
  return {first->weight, first->bias, second->weight, second->bias};
}

torch::Tensor flat_copy(const std::vector<torch::Tensor>& tensors) {
  std::vector<torch::Tensor> flat;
  flat.reserve(tensors.size());
  for (const auto& t : tensors) flat.push_back(t.detach().reshape({-1}));
  return at::cat(flat);
}

}  // namespace

DeviceStep::DeviceStep(const torch::nn::Sequential& model, double l2, double learning_rate,
                       int64_t batch_size)
    : l2_(l2),
      batch_size_(batch_size),
      params_(flat_copy(model_parameters(model))),
      grads_(at::zeros_like(params_)),
      adam_(params_, learning_rate, kAdamBeta1, kAdamBeta2, kAdamEpsilon) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parameters = model_parameters(model);
  std::vector<torch::Tensor*> values{&w1_, &b1_, &w2_, &b2_};
  std::vector<torch::Tensor*> gradients{&grad_w1_, &grad_b1_, &grad_w2_, &grad_b2_};
  int64_t offset = 0;
  for (size_t i = 0; i < parameters.size(); ++i) {
    const int64_t size = parameters[i].numel();
    *values[i] = params_.narrow(0, offset, size).view(parameters[i].sizes());
    *gradients[i] = grads_.narrow(0, offset, size).view(parameters[i].sizes());
    // The model's parameter now lives in params_: forward passes, evaluation and checkpoints
    // see every update without a copy.
    parameters[i].set_data(*values[i]);
    offset += size;
  }
  const auto options = params_.options();
  data_loss_sum_ = at::zeros({}, options.dtype(at::kDouble));
  penalty_sum_ = at::zeros({}, options.dtype(at::kDouble));
  correct_sum_ = at::zeros({}, options.dtype(at::kLong));
  batch_index_ = at::zeros({1}, options.dtype(at::kLong));
  minus_ones_ = at::full({batch_size_, 1}, -1.0, options);
}

void DeviceStep::begin_epoch(const Split& train, const torch::Tensor& order) {
  torch::NoGradGuard no_grad;
  const int64_t examples = train.size();
  TORCH_CHECK(order.numel() == examples, "the order has ", order.numel(), " entries, the split ",
              examples);
  const torch::Tensor images = train.images.reshape({examples, -1});
  if (!images_.defined()) {
    images_ = images;
    labels_ = train.labels;
    order_ = at::empty({examples}, labels_.options());
    examples_ = examples;
    full_batches_ = examples / batch_size_;
    tail_ = examples % batch_size_;
  }
  // A captured graph reads these exact buffers.
  TORCH_CHECK(images.data_ptr() == images_.data_ptr() && examples == examples_,
              "DeviceStep trains one split; it was given another");
  order_.copy_(order);
  batch_index_.zero_();
  data_loss_sum_.zero_();
  penalty_sum_.zero_();
  correct_sum_.zero_();
}

void DeviceStep::step_full_batch() {
  torch::NoGradGuard no_grad;
  const torch::Tensor rows =
      order_.narrow(0, 0, full_batches_ * batch_size_)
          .view({full_batches_, batch_size_})
          .index_select(0, batch_index_)
          .view({-1});
  batch_index_.add_(1);
  step_on(rows);
}

void DeviceStep::step_tail() {
  torch::NoGradGuard no_grad;
  step_on(order_.narrow(0, full_batches_ * batch_size_, tail_));
}

void DeviceStep::step_on(const torch::Tensor& rows) {
  const int64_t count = rows.size(0);
  const torch::Tensor x = images_.index_select(0, rows);
  const torch::Tensor y = labels_.index_select(0, rows).view({count, 1});

  // Forward, measured before the update as Keras does.
  const torch::Tensor hidden = at::addmm(b1_, x, w1_.t()).relu_();
  const torch::Tensor logits = at::addmm(b2_, hidden, w2_.t());
  const torch::Tensor log_probs = at::log_softmax(logits, 1);
  // sum(W1^2) as one dot product; l2 times it is the penalty.
  const torch::Tensor w1_flat = w1_.view({-1});
  penalty_sum_.add_(at::dot(w1_flat, w1_flat), l2_ * static_cast<double>(count));
  data_loss_sum_.sub_(log_probs.gather(1, y).sum());
  correct_sum_.add_(logits.argmax(1).eq(y.view({count})).sum());

  // Backward: d(mean cross-entropy)/d(logits) = (softmax - onehot) / count.
  const torch::Tensor d_logits = log_probs.exp();
  d_logits.scatter_add_(1, y, minus_ones_.narrow(0, 0, count)).mul_(1.0 / static_cast<double>(count));
  at::mm_out(grad_w2_, d_logits.t(), hidden);
  at::sum_out(grad_b2_, d_logits, {0});
  const torch::Tensor d_hidden = at::threshold_backward(at::mm(d_logits, w2_), hidden, 0);
  // The penalty's gradient 2 * l2 * W1 folded into the same matrix product.
  at::addmm_out(grad_w1_, w1_, d_hidden.t(), x, /*beta=*/2 * l2_, /*alpha=*/1);
  at::sum_out(grad_b1_, d_hidden, {0});

  adam_.step(params_, grads_);
}

DeviceStep::Means DeviceStep::epoch_means() const {
  const torch::Tensor sums =
      at::stack({data_loss_sum_, penalty_sum_, correct_sum_.to(at::kDouble)}).cpu();
  const auto* values = sums.data_ptr<double>();
  // Examples seen so far this epoch: all of them once the epoch is done.
  const double seen = static_cast<double>(examples_);
  Means means;
  means.data_loss = values[0] / seen;
  means.loss = (values[0] + values[1]) / seen;
  means.accuracy = values[2] / seen;
  return means;
}

std::vector<torch::Tensor> DeviceStep::state() const {
  std::vector<torch::Tensor> tensors{params_, grads_, batch_index_, data_loss_sum_, penalty_sum_,
                                     correct_sum_};
  for (const auto& t : adam_.state()) tensors.push_back(t);
  return tensors;
}

void DeviceStep::save_state(torch::serialize::OutputArchive& archive) const {
  archive.write("device_step.exp_avg", adam_.exp_avg().cpu());
  archive.write("device_step.exp_avg_sq", adam_.exp_avg_sq().cpu());
  archive.write("device_step.step", adam_.step_count().cpu());
}

void DeviceStep::load_state(torch::serialize::InputArchive& archive) {
  torch::NoGradGuard no_grad;
  const std::vector<std::pair<const char*, torch::Tensor>> saved_state{
      {"device_step.exp_avg", adam_.exp_avg()},
      {"device_step.exp_avg_sq", adam_.exp_avg_sq()},
      {"device_step.step", adam_.step_count()}};
  for (const auto& [name, target] : saved_state) {
    torch::Tensor saved;
    archive.read(name, saved);
    TORCH_CHECK(saved.sizes() == target.sizes(), name, " has the wrong shape");
    torch::Tensor destination = target;
    destination.copy_(saved);
  }
}

}  // namespace l2sweep
