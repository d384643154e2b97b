#include "l2sweep/train/engines/device.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/utils.h>

#include <algorithm>
#include <utility>

#include "l2sweep/train/adam.h"
#include "l2sweep/train/model.h"

namespace l2sweep {

DeviceAdam::DeviceAdam(const torch::Tensor& like, double learning_rate, double beta1, double beta2,
                       double eps)
    : learning_rate_(learning_rate),
      beta1_(beta1),
      beta2_(beta2),
      eps_value_(eps),
      exp_avg_(at::zeros_like(like)),
      exp_avg_sq_(at::zeros_like(like)),
      // 0-dim, float32 as LibTorch's fused Adam wants it (exact up to 2^24 steps); 0-dim
      // tensors take part in arithmetic without promoting the result.
      step_(at::zeros({}, like.options().dtype(at::kFloat))),
      betas_(at::tensor({beta1, beta2}, like.options().dtype(at::kDouble))),
      exponents_(at::tensor({-1.0, -0.5}, like.options().dtype(at::kDouble))),
      eps_(at::full({}, eps, like.options())) {}

void DeviceAdam::step(torch::Tensor& param, const torch::Tensor& grad) {
  torch::NoGradGuard no_grad;
  step_.add_(1);
#if defined(L2SWEEP_HAVE_FUSED_ADAM)
  // On CUDA, the same update in one kernel that reads the step count from the device, as
  // torch.optim.Adam(fused=True, capturable=True) does. cmake/Dependencies.cmake checks that
  // LibTorch declares it; LibTorch 1.13 has only the CUDA kernel, hence CUDA only.
  if (exp_avg_.is_cuda()) {
    at::_fused_adam_({param}, {grad}, {exp_avg_}, {exp_avg_sq_}, {}, {step_}, learning_rate_,
                     beta1_, beta2_, /*weight_decay=*/0.0, eps_value_, /*amsgrad=*/false,
                     /*maximize=*/false);
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

namespace {

/// The parameters DeviceStep trains, in the order of its flat buffers.
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
  penalty_sum_ = at::zeros({}, options.dtype(at::kDouble));
  batch_index_ = at::zeros({1}, options.dtype(at::kLong));
  minus_ones_ = at::full({batch_size_, 1}, -1.0, options);
  batch_scale_ = at::full({batch_size_}, 1.0 / static_cast<double>(batch_size_), options);
}

void DeviceStep::begin_epoch(const Split& train, const torch::Tensor& order) {
  torch::NoGradGuard no_grad;
  const int64_t examples = train.size();
  TORCH_CHECK(order.numel() == examples, "the order has ", order.numel(), " entries, the split ",
              examples);
  if (!images_.defined()) {
    // The split's pixels as the model's input, converted once: the steps gather from them.
    source_images_ = train.images;
    images_ = pixels(train.images).reshape({examples, -1}).contiguous();
    labels_ = train.labels;
    order_ = at::empty({examples}, labels_.options());
    examples_ = examples;
    full_batches_ = examples / batch_size_;
    tail_ = examples % batch_size_;
    epoch_logits_ = at::zeros({examples, b2_.size(0)}, params_.options());
    const int64_t full_examples = full_batches_ * batch_size_;
    batch_rows_ = order_.narrow(0, 0, full_examples).view({full_batches_, batch_size_});
    batch_logits_ = epoch_logits_.narrow(0, 0, full_examples)
                        .view({full_batches_, batch_size_, epoch_logits_.size(1)});
    if (tail_ > 0) {
      tail_scale_ = at::full({tail_}, 1.0 / static_cast<double>(tail_), params_.options());
    }
  }
  // A captured graph reads these exact buffers.
  TORCH_CHECK(train.images.data_ptr() == source_images_.data_ptr() && examples == examples_,
              "DeviceStep trains one split; it was given another");
  order_.copy_(order);
  batch_index_.zero_();
  penalty_sum_.zero_();
}

void DeviceStep::step_full_batch() {
  torch::NoGradGuard no_grad;
  const torch::Tensor rows = batch_rows_.index_select(0, batch_index_).view({-1});
  const torch::Tensor logits = step_on(rows, batch_scale_);
  batch_logits_.index_copy_(0, batch_index_, logits.unsqueeze(0));
  batch_index_.add_(1);
}

void DeviceStep::step_tail() {
  torch::NoGradGuard no_grad;
  const int64_t begin = full_batches_ * batch_size_;
  const torch::Tensor logits = step_on(order_.narrow(0, begin, tail_), tail_scale_);
  epoch_logits_.narrow(0, begin, tail_).copy_(logits);
}

torch::Tensor DeviceStep::step_on(const torch::Tensor& rows, const torch::Tensor& scale) {
  const int64_t count = rows.size(0);
  const torch::Tensor x = images_.index_select(0, rows);
  const torch::Tensor y = labels_.index_select(0, rows).view({count, 1});

  // Forward. Linear + ReLU is one kernel where cuBLASLt fuses the bias and the activation.
  const torch::Tensor hidden = at::_addmm_activation(b1_, x, w1_.t());
  const torch::Tensor logits = at::addmm(b2_, hidden, w2_.t());
  const torch::Tensor log_probs = at::log_softmax(logits, 1);
  // The penalty l2 * sum(W1^2) before the update, weighted by the batch size as Keras'
  // epoch mean weights each batch.
  const torch::Tensor w1_flat = w1_.view({-1});
  penalty_sum_.add_(at::dot(w1_flat, w1_flat), l2_ * static_cast<double>(count));

  // Backward: d(mean cross-entropy)/d(logits) = (softmax - onehot) / count; the 1/count is
  // applied by the products below (alpha, or `scale` for the bias sums).
  const torch::Tensor d_logits =
      log_probs.exp().scatter_add_(1, y, minus_ones_.narrow(0, 0, count));
  const double mean = 1.0 / static_cast<double>(count);
  grad_w2_.addmm_(d_logits.t(), hidden, /*beta=*/0, /*alpha=*/mean);
  grad_b2_.addmv_(d_logits.t(), scale, /*beta=*/0);
  const torch::Tensor d_hidden = at::threshold_backward(at::mm(d_logits, w2_), hidden, 0);
  // The penalty's gradient 2 * l2 * W1 folded into the same product.
  at::addmm_out(grad_w1_, w1_, d_hidden.t(), x, /*beta=*/2 * l2_, /*alpha=*/mean);
  grad_b1_.addmv_(d_hidden.t(), scale, /*beta=*/0);

  adam_.step(params_, grads_);
  return logits;
}

TrainMetrics DeviceStep::epoch_means() const {
  torch::NoGradGuard no_grad;
  const torch::Tensor labels = labels_.index_select(0, order_);
  const torch::Tensor picked =
      at::log_softmax(epoch_logits_, 1).gather(1, labels.view({-1, 1})).to(at::kDouble);
  const torch::Tensor correct = epoch_logits_.argmax(1).eq(labels).sum().to(at::kDouble);
  const torch::Tensor sums = at::stack({picked.sum().neg(), penalty_sum_, correct}).cpu();
  const auto* values = sums.data_ptr<double>();
  const auto examples = static_cast<double>(examples_);
  TrainMetrics means;
  means.data_loss = values[0] / examples;
  means.loss = (values[0] + values[1]) / examples;
  means.accuracy = values[2] / examples;
  return means;
}

std::vector<torch::Tensor> DeviceStep::state() const {
  std::vector<torch::Tensor> tensors{params_, grads_, batch_index_, epoch_logits_, penalty_sum_};
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

DeviceEngine::DeviceEngine(std::vector<Member> members, const TrainOptions& options,
                           const torch::Device& device)
    : Engine(std::move(members), options, device) {
  TORCH_CHECK(!options.cuda_graphs || device.is_cuda(), "CUDA graphs need a CUDA device");
  for (const Member& member : members_) {
    MemberStep step;
    step.step = std::make_unique<DeviceStep>(member.model, member.l2, options.learning_rate,
                                             options.batch_size);
    steps_.push_back(std::move(step));
  }
}

DeviceEngine::~DeviceEngine() = default;

void DeviceEngine::capture_graphs(MemberStep& member) {
  const int64_t full = member.step->full_batches();
  const int64_t per_replay = std::min(kStepsPerGraph, full);
  try {
    member.graph = std::make_unique<StepGraph>(*member.step, per_replay);
    if (full % per_replay > 0) {
      member.rest_graph = std::make_unique<StepGraph>(*member.step, full % per_replay);
    }
  } catch (const std::exception& e) {
    // Slower but the same numbers: a capture executes nothing, so the state is intact.
    member.graph.reset();
    member.rest_graph.reset();
    capture_failed_ = true;
    const std::string what = e.what();
    fmt::print(stderr,
               "l2sweep: warning: the training step could not be captured as a CUDA graph ({}); "
               "this run continues without it\n",
               what.substr(0, what.find('\n')));
  }
}

TrainMetrics DeviceEngine::train_member(MemberStep& member, const Split& train,
                                        const torch::Tensor& order, const EpochControl& control,
                                        int64_t& done, int64_t steps) {
  DeviceStep& step = *member.step;
  step.begin_epoch(train, order);
  const int64_t full = step.full_batches();
  if (options_.cuda_graphs && !member.graph && !capture_failed_ && full > 0) {
    capture_graphs(member);
  }
  const int64_t batches = full + (step.has_tail() ? 1 : 0);
  // Nothing is read back to the host until the epoch's means: the launches run ahead.
  int64_t batch = 0;
  while (batch < batches) {
    if (control.stop.stop_requested()) throw StopRequested();
    int64_t ran = 1;
    if (batch == full) {
      step.step_tail();
    } else if (member.graph && full - batch >= member.graph->steps()) {
      member.graph->replay();
      ran = member.graph->steps();
    } else if (member.rest_graph) {
      member.rest_graph->replay();
      ran = member.rest_graph->steps();
    } else {
      step.step_full_batch();
    }
    batch += ran;
    done += ran;
    if (control.on_batch) control.on_batch(done, steps);
  }
  return step.epoch_means();
}

std::vector<TrainMetrics> DeviceEngine::train_epoch(const Split& train, const torch::Tensor& order,
                                                    const EpochControl& control) {
  const int64_t batches = (train.size() + options_.batch_size - 1) / options_.batch_size;
  const int64_t steps = batches * control.count_active(members_.size());
  std::vector<TrainMetrics> results(members_.size());
  int64_t done = 0;
  for (size_t i = 0; i < members_.size(); ++i) {
    if (control.is_active(i))
      results[i] = train_member(steps_[i], train, order, control, done, steps);
  }
  return results;
}

bool DeviceEngine::finite(size_t member) const {
  torch::NoGradGuard no_grad;
  // Parameters and moments in one read from the device.
  const std::vector<torch::Tensor> state = steps_.at(member).step->state();
  std::vector<torch::Tensor> all_finite;
  for (const auto& tensor : state) {
    if (tensor.is_floating_point()) all_finite.push_back(torch::isfinite(tensor).all());
  }
  return torch::stack(all_finite).all().item<bool>();
}

void DeviceEngine::save_state(size_t member, torch::serialize::OutputArchive& archive) const {
  steps_.at(member).step->save_state(archive);
}

void DeviceEngine::load_state(size_t member, torch::serialize::InputArchive& archive) {
  steps_.at(member).step->load_state(archive);
}

bool DeviceEngine::uses_cuda_graphs() const {
  return options_.cuda_graphs && !capture_failed_ &&
         std::all_of(steps_.begin(), steps_.end(),
                     [](const MemberStep& m) { return m.graph != nullptr; });
}

std::string DeviceEngine::description() const {
  if (!capture_failed_) return describe_engine(EngineKind::kDevice, options_.cuda_graphs);
  return describe_engine(EngineKind::kDevice, /*cuda_graphs=*/false) +
         ", eager after a failed CUDA graph capture";
}

}  // namespace l2sweep
