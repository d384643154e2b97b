#include "l2sweep/train/engines/device_step.h"

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "l2sweep/train/adam.h"
#include "l2sweep/train/dropout.h"
#include "l2sweep/train/model.h"

namespace l2sweep {
namespace {

/// One member's parameters, in the order of DeviceStep's buffers.
std::vector<torch::Tensor> model_parameters(const torch::nn::Sequential& model) {
  const auto first = first_linear(model);
  const auto second = second_linear(model);
  return {first->weight, first->bias, second->weight, second->bias};
}

/// The members' parameters stacked by parameter, flat: [W1 of every member | b1 of every member
/// | W2 ... | b2 ...].
torch::Tensor stacked_copy(const std::vector<Member>& members) {
  std::vector<torch::Tensor> flat;
  for (size_t p = 0; p < 4; ++p) {
    for (const Member& member : members) {
      flat.push_back(model_parameters(member.model)[p].detach().reshape({-1}));
    }
  }
  return at::cat(flat);
}

}  // namespace

DeviceStep::DeviceStep(const std::vector<Member>& members, double learning_rate, int64_t batch_size,
                       AdamVariant adam)
    : members_(static_cast<int64_t>(members.size())),
      batch_size_(batch_size),
      params_(stacked_copy(members)),
      grads_(at::zeros_like(params_)),
      keras_adam_(adam == AdamVariant::kKeras),
      adam_(params_, learning_rate, kAdamBeta1, kAdamBeta2, kAdamEpsilon, adam) {
  torch::NoGradGuard no_grad;
  TORCH_CHECK(!members.empty(), "a DeviceStep needs at least one member");
  const std::vector<torch::Tensor> shapes = model_parameters(members.front().model);
  std::vector<torch::Tensor*> values{&w1_, &b1_, &w2_, &b2_};
  std::vector<torch::Tensor*> gradients{&grad_w1_, &grad_b1_, &grad_w2_, &grad_b2_};
  int64_t offset = 0;
  for (size_t p = 0; p < shapes.size(); ++p) {
    std::vector<int64_t> stacked{members_};
    for (const int64_t size : shapes[p].sizes()) stacked.push_back(size);
    const int64_t size = members_ * shapes[p].numel();
    *values[p] = params_.narrow(0, offset, size).view(stacked);
    *gradients[p] = grads_.narrow(0, offset, size).view(stacked);
    offset += size;
    // Each model's parameter now lives in params_: forward passes, evaluation and checkpoints
    // see every update without a copy.
    for (int64_t r = 0; r < members_; ++r) {
      model_parameters(members[static_cast<size_t>(r)].model)[p].set_data((*values[p])[r]);
    }
  }
  set_regularisation(members, learning_rate);
  const auto options = params_.options();
  batch_index_ = at::zeros({1}, options.dtype(at::kLong));
  minus_ones_ = at::full({members_, batch_size_, 1}, -1.0, options);
  batch_scale_ = at::full({batch_size_}, 1.0 / static_cast<double>(batch_size_), options);
}

void DeviceStep::set_regularisation(const std::vector<Member>& members, double learning_rate) {
  const auto options = params_.options();
  std::vector<double> l2;
  for (const Member& member : members) l2.push_back(member.l2);
  l2_double_ = at::tensor(l2, options.dtype(at::kDouble));
  two_l2_ = (l2_double_ * 2).to(options.dtype()).view({members_, 1, 1});
  penalty_sum_ = at::zeros({members_}, options.dtype(at::kDouble));
  std::vector<double> shrink, decay, rates, scales;
  bool decays = false, drops = false;
  for (const Member& member : members) {
    shrink.push_back(1 - learning_rate * member.weight_decay);
    decay.push_back(member.weight_decay);
    rates.push_back(member.dropout);
    scales.push_back(member.dropout > 0 ? dropout_scale(member.dropout) : 1.0);
    decays = decays || member.weight_decay != 0;
    drops = drops || member.dropout > 0;
  }
  if (decays) {
    // As float32 numbers, the way AdamW and Keras multiply a float32 kernel by them.
    shrink_ = at::tensor(shrink, options.dtype(at::kDouble)).to(options.dtype()).view({-1, 1, 1});
    decay_ = at::tensor(decay, options.dtype(at::kDouble)).to(options.dtype()).view({-1, 1, 1});
    decay_lr_ = at::full({}, static_cast<float>(learning_rate), options);
  }
  if (drops) {
    dropout_rates_ =
        at::tensor(rates, options.dtype(at::kDouble)).to(options.dtype()).view({-1, 1, 1});
    dropout_scales_ =
        at::tensor(scales, options.dtype(at::kDouble)).to(options.dtype()).view({-1, 1, 1});
  }
}

void DeviceStep::begin_epoch(const Split& train, const torch::Tensor& order,
                             const torch::Tensor& noise) {
  torch::NoGradGuard no_grad;
  const int64_t examples = train.size();
  TORCH_CHECK(order.numel() == examples, "the order has ", order.numel(), " entries, the split ",
              examples);
  if (!images_.defined()) {
    // The split as it is held (bytes: 39 MB for Fashion-MNIST's 50,000 training images where
    // a float copy took 157 MB); each step scales only the rows it gathers, to the same floats
    // pixels() gives the whole split.
    source_images_ = train.images;
    images_ = train.images.reshape({examples, -1}).contiguous();
    labels_ = train.labels;
    order_ = at::empty({examples}, labels_.options());
    examples_ = examples;
    full_batches_ = examples / batch_size_;
    tail_ = examples % batch_size_;
    const int64_t classes = b2_.size(1);
    epoch_logits_ = at::zeros({members_, examples, classes}, params_.options());
    const int64_t full_examples = full_batches_ * batch_size_;
    batch_rows_ = order_.narrow(0, 0, full_examples).view({full_batches_, batch_size_});
    batch_logits_ = epoch_logits_.narrow(1, 0, full_examples)
                        .view({members_, full_batches_, batch_size_, classes});
    if (tail_ > 0) {
      tail_scale_ = at::full({tail_}, 1.0 / static_cast<double>(tail_), params_.options());
    }
  }
  // A captured graph reads these exact buffers.
  TORCH_CHECK(train.images.data_ptr() == source_images_.data_ptr() && examples == examples_,
              "DeviceStep trains one split; it was given another");
  order_.copy_(order);
  if (dropout_rates_.defined()) {
    TORCH_CHECK(noise.defined() && noise.size(0) == examples && noise.size(1) == w1_.size(1),
                "a Dropout member trained without the epoch's noise");
    if (!noise_.defined()) {
      noise_ = at::empty({examples, w1_.size(1)}, params_.options());
      batch_noise_ = noise_.narrow(0, 0, full_batches_ * batch_size_)
                         .view({full_batches_, batch_size_, w1_.size(1)});
    }
    noise_.copy_(noise);
  }
  batch_index_.zero_();
  penalty_sum_.zero_();
}

void DeviceStep::step_full_batch() {
  torch::NoGradGuard no_grad;
  const torch::Tensor rows = batch_rows_.index_select(0, batch_index_).view({-1});
  const torch::Tensor noise =
      batch_noise_.defined() ? batch_noise_.index_select(0, batch_index_).view({batch_size_, -1})
                             : torch::Tensor();
  const torch::Tensor logits = step_on(rows, batch_scale_, noise);
  batch_logits_.index_copy_(1, batch_index_, logits.unsqueeze(1));
  batch_index_.add_(1);
}

void DeviceStep::step_tail() {
  torch::NoGradGuard no_grad;
  const int64_t begin = full_batches_ * batch_size_;
  const torch::Tensor noise = noise_.defined() ? noise_.narrow(0, begin, tail_) : torch::Tensor();
  const torch::Tensor logits = step_on(order_.narrow(0, begin, tail_), tail_scale_, noise);
  epoch_logits_.narrow(1, begin, tail_).copy_(logits);
}

namespace {

/// Alignment, in bytes, of every operand a member's product sees. A BLAS picks its code path
/// by the operands' shapes, strides and alignment, and rounds differently on another path:
/// MKL's gemv kernels (a product with one output column: a bias gradient, W1's sum of squares)
/// do on some CPUs and instruction sets (e.g. MKL_ENABLE_INSTRUCTIONS=SSE4_2 on Intel, and the
/// AMD EPYC machines of issue 22), and cuBLAS chooses kernels by alignment. A member's piece
/// of a stacked buffer starts at an offset that depends on its place in the cohort (member 1's
/// b2 starts 40 bytes after member 0's), so pieces that are not aligned are copied to fresh
/// buffers, whose alignment every allocator guarantees: 64 bytes on the CPU (c10's
/// alignment), 256 on CUDA (the caching allocator's blocks start on 512 bytes).
size_t product_alignment(const torch::Tensor& t) { return t.is_cpu() ? 64 : 256; }

bool is_aligned(const torch::Tensor& t) {
  return reinterpret_cast<uintptr_t>(t.data_ptr()) % product_alignment(t) == 0;
}

/// `t`, or a copy of it with the same sizes and strides (so that the product is computed the
/// same way) in a freshly allocated, aligned buffer.
torch::Tensor aligned(const torch::Tensor& t) {
  if (is_aligned(t)) return t;
  torch::Tensor copy = at::empty_strided(t.sizes(), t.strides(), t.options());
  copy.copy_(t);
  return copy;
}

/// out[r] = beta * self[r] + alpha * a[r] @ b[r] for every member r (`self` may broadcast, or
/// be `out`), one product per member on every device. A batched product (bmm, baddbmm) would
/// take fewer kernels, but MKL and cuBLAS may choose another kernel, blocking or split of the
/// sum for another batch count, and a member's numbers must not depend on its cohort (issue
/// 22): each member's product has the same shapes, strides and alignment in any cohort.
void member_addmm(torch::Tensor& out, const torch::Tensor& self, const torch::Tensor& a,
                  const torch::Tensor& b, double beta = 1, double alpha = 1) {
  const torch::Tensor selves = self.expand({out.size(0), out.size(1), out.size(2)});
  for (int64_t r = 0; r < out.size(0); ++r) {
    torch::Tensor target = out[r];
    const torch::Tensor a_r = aligned(a[r]);
    const torch::Tensor b_r = aligned(b[r]);
    if (is_aligned(target)) {
      at::addmm_out(target, selves[r], a_r, b_r, beta, alpha);
    } else {
      // `self` is only read (copied into the result first), so it may stay where it is.
      torch::Tensor result = at::empty_strided(target.sizes(), target.strides(), target.options());
      at::addmm_out(result, selves[r], a_r, b_r, beta, alpha);
      target.copy_(result);
    }
  }
}

}  // namespace

/// What a batch's forward pass computed, for its backward pass.
struct DeviceStep::Forward {
  torch::Tensor hidden;   ///< [R, count, hidden]: the hidden layer, after the ReLU
  torch::Tensor keep;     ///< Dropout's mask, as 0 and 1; undefined without Dropout
  torch::Tensor dropped;  ///< the hidden layer after Dropout (`hidden` itself without)
  torch::Tensor logits;   ///< [R, count, classes]
  torch::Tensor log_probs;
};

DeviceStep::Forward DeviceStep::forward(const torch::Tensor& x, const torch::Tensor& noise) const {
  const int64_t count = x.size(1);
  const auto options = params_.options();
  Forward f;
  f.hidden = at::empty({members_, count, w1_.size(1)}, options);
  member_addmm(f.hidden, b1_.unsqueeze(1), x, w1_.transpose(1, 2));
  f.hidden.relu_();
  // Keras' Dropout: hidden * scale * keep (KerasDropout), the same masks as every engine.
  f.dropped = f.hidden;
  if (noise.defined()) {
    f.keep = noise.unsqueeze(0).ge(dropout_rates_).to(options.dtype());
    f.dropped = f.hidden.mul(dropout_scales_).mul(f.keep);
  }
  f.logits = at::empty({members_, count, w2_.size(1)}, options);
  member_addmm(f.logits, b2_.unsqueeze(1), f.dropped, w2_.transpose(1, 2));
  f.log_probs = at::log_softmax(f.logits, 2);
  return f;
}

torch::Tensor DeviceStep::step_on(const torch::Tensor& rows, const torch::Tensor& scale,
                                  const torch::Tensor& noise) {
  const int64_t count = rows.size(0);
  const int64_t inputs = images_.size(1);
  const auto options = params_.options();
  // The batch, gathered once and shared by every member (a stride-0 member dimension).
  const torch::Tensor x =
      pixels(images_.index_select(0, rows)).unsqueeze(0).expand({members_, count, inputs});
  const torch::Tensor y =
      labels_.index_select(0, rows).view({1, count, 1}).expand({members_, count, 1});
  // Means over the batch as products with [R, count, 1] of 1/count.
  const torch::Tensor means = scale.view({1, count, 1}).expand({members_, count, 1});

  // Forward.
  const Forward f = forward(x, noise);
  const torch::Tensor& hidden = f.hidden;
  const torch::Tensor& keep = f.keep;
  const torch::Tensor& dropped = f.dropped;
  const torch::Tensor& log_probs = f.log_probs;
  // Each member's penalty l2 * sum(W1^2) before the update, weighted by the batch size as
  // Keras' epoch mean weights each batch.
  const torch::Tensor w1_rows = w1_.view({members_, 1, -1});
  torch::Tensor squares = at::empty({members_, 1, 1}, options);
  member_addmm(squares, squares, w1_rows, w1_rows.transpose(1, 2), /*beta=*/0);
  penalty_sum_.addcmul_(squares.view({members_}).to(at::kDouble), l2_double_,
                        static_cast<double>(count));

  // Backward: d(mean cross-entropy)/d(logits) = (softmax - onehot) / count; the 1/count is
  // applied by the products below (alpha, or `means` for the bias sums).
  const torch::Tensor d_logits =
      log_probs.exp().scatter_add_(2, y, minus_ones_.narrow(1, 0, count));
  const double mean = 1.0 / static_cast<double>(count);
  const torch::Tensor d_logits_t = d_logits.transpose(1, 2);
  member_addmm(grad_w2_, grad_w2_, d_logits_t, dropped, /*beta=*/0, /*alpha=*/mean);
  torch::Tensor grad_b2 = grad_b2_.unsqueeze(2);
  member_addmm(grad_b2, grad_b2, d_logits_t, means, /*beta=*/0);
  torch::Tensor d_hidden = at::empty({members_, count, w2_.size(2)}, options);
  member_addmm(d_hidden, d_hidden, d_logits, w2_, /*beta=*/0);
  if (keep.defined()) d_hidden = d_hidden.mul(keep).mul(dropout_scales_);
  d_hidden = at::threshold_backward(d_hidden, hidden, 0);
  const torch::Tensor d_hidden_t = d_hidden.transpose(1, 2);
  // The penalty's gradient 2 * l2 * W1, each member's own, plus the data's.
  at::mul_out(grad_w1_, w1_, two_l2_);
  member_addmm(grad_w1_, grad_w1_, d_hidden_t, x, /*beta=*/1, /*alpha=*/mean);
  torch::Tensor grad_b1 = grad_b1_.unsqueeze(2);
  member_addmm(grad_b1, grad_b1, d_hidden_t, means, /*beta=*/0);

  if (shrink_.defined()) {
    // Decoupled weight decay before the update, as AdamW and Keras apply it.
    if (keras_adam_) {
      w1_.sub_(w1_.mul(decay_).mul(decay_lr_));
    } else {
      w1_.mul_(shrink_);
    }
  }
  adam_.step(params_, grads_);
  return f.logits;
}

std::vector<TrainMetrics> DeviceStep::epoch_means() const {
  torch::NoGradGuard no_grad;
  const torch::Tensor labels = labels_.index_select(0, order_).view({1, examples_, 1});
  const torch::Tensor picked = at::log_softmax(epoch_logits_, 2)
                                   .gather(2, labels.expand({members_, examples_, 1}))
                                   .to(at::kDouble);
  const torch::Tensor correct =
      epoch_logits_.argmax(2).eq(labels.view({1, examples_})).sum(1).to(at::kDouble);
  // Each member's cross-entropy summed on its own: a reduction over [R, examples] may split
  // the sum differently for another member count (CUDA's reduction plans by the number of
  // outputs), and a member's numbers must not depend on its cohort.
  std::vector<torch::Tensor> cross_entropy;
  // Each member's piece aligned first: CUDA's reduction treats a misaligned start apart.
  for (int64_t r = 0; r < members_; ++r) cross_entropy.push_back(aligned(picked[r]).sum().neg());
  // [3, R]: cross-entropy sums, penalty sums, correct counts.
  const torch::Tensor sums =
      at::stack({at::stack(cross_entropy), penalty_sum_, correct}).cpu().contiguous();
  const auto examples = static_cast<double>(examples_);
  std::vector<TrainMetrics> means(static_cast<size_t>(members_));
  for (int64_t r = 0; r < members_; ++r) {
    const double data = sums[0][r].item<double>();
    TrainMetrics& m = means[static_cast<size_t>(r)];
    m.data_loss = data / examples;
    m.loss = (data + sums[1][r].item<double>()) / examples;
    m.accuracy = sums[2][r].item<double>() / examples;
  }
  return means;
}

std::vector<torch::Tensor> DeviceStep::state() const {
  std::vector<torch::Tensor> tensors{params_, grads_, batch_index_, epoch_logits_, penalty_sum_};
  for (const auto& t : adam_.state()) tensors.push_back(t);
  return tensors;
}

std::vector<torch::Tensor> DeviceStep::member_pieces(const torch::Tensor& flat, int64_t r) const {
  std::vector<torch::Tensor> pieces;
  int64_t offset = 0;
  for (const torch::Tensor* stacked : {&w1_, &b1_, &w2_, &b2_}) {
    const int64_t size = stacked->numel() / members_;
    pieces.push_back(flat.narrow(0, offset + r * size, size));
    offset += stacked->numel();
  }
  return pieces;
}

bool DeviceStep::finite(int64_t r) const {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> all_finite;
  for (const torch::Tensor* flat : {&params_, &adam_.exp_avg(), &adam_.exp_avg_sq()}) {
    for (const torch::Tensor& piece : member_pieces(*flat, r)) {
      all_finite.push_back(torch::isfinite(piece).all());
    }
  }
  return torch::stack(all_finite).all().item<bool>();
}

void DeviceStep::save_state(int64_t r, torch::serialize::OutputArchive& archive) const {
  archive.write("device_step.exp_avg", at::cat(member_pieces(adam_.exp_avg(), r)).cpu());
  archive.write("device_step.exp_avg_sq", at::cat(member_pieces(adam_.exp_avg_sq(), r)).cpu());
  archive.write("device_step.step", adam_.step_count().cpu());
}

void DeviceStep::load_state(int64_t r, torch::serialize::InputArchive& archive) {
  torch::NoGradGuard no_grad;
  for (const auto& [name, flat] : {std::pair{"device_step.exp_avg", adam_.exp_avg()},
                                   std::pair{"device_step.exp_avg_sq", adam_.exp_avg_sq()}}) {
    torch::Tensor saved;
    archive.read(name, saved);
    const std::vector<torch::Tensor> pieces = member_pieces(flat, r);
    int64_t size = 0;
    for (const auto& piece : pieces) size += piece.numel();
    TORCH_CHECK(saved.numel() == size, name, " has the wrong size");
    saved = saved.reshape({-1}).to(flat.device(), flat.scalar_type());
    int64_t offset = 0;
    for (torch::Tensor piece : pieces) {
      piece.copy_(saved.narrow(0, offset, piece.numel()));
      offset += piece.numel();
    }
  }
  torch::Tensor step;
  archive.read("device_step.step", step);
  TORCH_CHECK(step.numel() == 1, "device_step.step has the wrong shape");
  // Every member of one step has taken as many steps (a group resumes together).
  torch::Tensor count = adam_.step_count();
  count.copy_(step.reshape({}));
}

}  // namespace l2sweep
