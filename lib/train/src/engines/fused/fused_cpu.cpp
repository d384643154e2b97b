#include "l2sweep/train/engines/fused_cpu.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <map>

#include "blas.h"
#include "kernels.h"
#include "l2sweep/train/adam.h"
#include "l2sweep/train/dropout.h"
#include "l2sweep/train/loss.h"
#include "l2sweep/train/model.h"

namespace l2sweep {
namespace {

/// Rows of W1 per product: the first layer and W1's gradient are computed block by block, one
/// BLAS call on the same 64 rows whatever the cohort. A BLAS may round an
/// element differently as the product grows (OpenBLAS does for batches under 16), so the
/// products never grow: a member's numbers are the same alone or among any others.
constexpr int64_t kRowBlock = 64;
/// Examples per stacked product when evaluating. Each example's cross-entropy is added to its
/// member's sum in order, so the chunk size changes no number; small chunks keep the
/// buffers (every member's hidden layer for the chunk) small.
constexpr int64_t kEvalChunk = 1024;

// The step's products (fused/blas.cpp) and loops (fused/kernels.cpp, and inline in
// fused/kernels.h).
using fused::adam_kernel;
using fused::AdamCoefficients;
using fused::apply_dropout;
using fused::gather_rows;
using fused::gemm;
using fused::keras_adam_kernel;
using fused::mask_by_dropout_relu;
using fused::mask_by_relu;
using fused::softmax_cross_entropy;
using fused::sum_rows;

}  // namespace

struct FusedCpuEngine::Impl {
  /// The step's buffers for a batch of `n` examples.
  struct Buffers {
    torch::Tensor x;           ///< [n, inputs]: the batch's pixels
    torch::Tensor hidden_t;    ///< [members * hidden, n]: every member's hidden layer, transposed
    torch::Tensor logits_t;    ///< [members, classes, n]
    torch::Tensor d_logits;    ///< [members, n, classes]: d(mean cross-entropy)/d(logits)
    torch::Tensor d_hidden_t;  ///< [members * hidden, n]
  };

  int64_t members = 0, hidden = 0, inputs = 0, classes = 0;
  std::vector<double> l2, dropout, weight_decay;
  double learning_rate = 0;
  bool keras_adam = false;  ///< Keras' update rather than torch::optim::Adam's
  int64_t step = 0;
  /// Parameters, gradients and Adam's moments, each one flat buffer laid out as every
  /// member's W1 ([members * hidden, inputs], member after member), then b1, W2 and b2.
  torch::Tensor params, grads, exp_avg, exp_avg_sq;
  torch::Tensor w1, b1, w2, b2, grad_w1, grad_b1, grad_w2, grad_b2;
  /// Rows of the stacked W1 in kRowBlock blocks from the start of each member's: (first, rows).
  std::vector<std::pair<int64_t, int64_t>> row_blocks;
  /// The sum of squares of each row block of W1 before the step's update, in row_blocks order.
  std::vector<double> block_squares;
  std::map<int64_t, Buffers> buffers;  ///< by batch size: the full batch and the epoch's tail
  std::vector<double> cross_entropy;   ///< the batch's summed cross-entropy, per member
  std::vector<int64_t> correct;
  /// Each thread's dW1 for one row block: computed, then used by Adam while still in cache.
  std::vector<float> gradient_scratch;

  Impl(const std::vector<Member>& cohort, const TrainOptions& options)
      : learning_rate(options.learning_rate), keras_adam(options.adam == AdamVariant::kKeras) {
    const auto first = first_linear(cohort.front().model);
    const auto second = second_linear(cohort.front().model);
    members = static_cast<int64_t>(cohort.size());
    hidden = first->weight.size(0);
    inputs = first->weight.size(1);
    classes = second->weight.size(0);
    const int64_t w1_size = members * hidden * inputs;
    const int64_t total = w1_size + members * (hidden + classes * hidden + classes);
    const auto options_f = torch::TensorOptions().dtype(torch::kFloat32);
    params = torch::empty({total}, options_f);
    grads = torch::zeros({total}, options_f);
    exp_avg = torch::zeros({total}, options_f);
    exp_avg_sq = torch::zeros({total}, options_f);
    int64_t offset = 0;
    const auto take = [&](torch::Tensor& view, torch::Tensor& gradient,
                          std::vector<int64_t> shape) {
      int64_t size = 1;
      for (const int64_t d : shape) size *= d;
      view = params.narrow(0, offset, size).view(shape);
      gradient = grads.narrow(0, offset, size).view(shape);
      offset += size;
    };
    take(w1, grad_w1, {members * hidden, inputs});
    take(b1, grad_b1, {members * hidden});
    take(w2, grad_w2, {members, classes, hidden});
    take(b2, grad_b2, {members, classes});
    for (const Member& member : cohort) {
      l2.push_back(member.l2);
      dropout.push_back(member.dropout);
      weight_decay.push_back(member.weight_decay);
    }
    for (int64_t r = 0; r < members; ++r) {
      for (int64_t row = 0; row < hidden; row += kRowBlock) {
        row_blocks.emplace_back(r * hidden + row, std::min(kRowBlock, hidden - row));
      }
    }
    block_squares.assign(row_blocks.size(), 0.0);
    gradient_scratch.resize(static_cast<size_t>(kRowBlock * inputs));
    cross_entropy.resize(static_cast<size_t>(members));
    correct.resize(static_cast<size_t>(members));
  }

  /// Member `r`'s parameters as views of the flat buffer: the four tensors of its model.
  std::vector<torch::Tensor> member_views(int64_t r, bool gradients = false) const {
    const torch::Tensor& a = gradients ? grad_w1 : w1;
    const torch::Tensor& b = gradients ? grad_b1 : b1;
    const torch::Tensor& c = gradients ? grad_w2 : w2;
    const torch::Tensor& d = gradients ? grad_b2 : b2;
    return {a.narrow(0, r * hidden, hidden), b.narrow(0, r * hidden, hidden), c[r], d[r]};
  }

  Buffers& buffers_for(int64_t n) {
    auto found = buffers.find(n);
    if (found != buffers.end()) return found->second;
    const auto f = torch::TensorOptions().dtype(torch::kFloat32);
    Buffers b{torch::empty({n, inputs}, f), torch::empty({members * hidden, n}, f),
              torch::empty({members, classes, n}, f), torch::empty({members, n, classes}, f),
              torch::empty({members * hidden, n}, f)};
    return buffers.emplace(n, std::move(b)).first->second;
  }

  /// The first layer of every member for the `n` examples in `x`, row block by row block:
  /// hidden^T = relu(W1 x^T + b1).
  void first_layer(const torch::Tensor& x, torch::Tensor& hidden_t, int64_t n) {
    const float* bias = b1.data_ptr<float>();
    for (const auto& [begin, rows] : row_blocks) {
      float* h = hidden_t.data_ptr<float>() + begin * n;
      gemm(false, true, rows, n, inputs, w1.data_ptr<float>() + begin * inputs, inputs,
           x.data_ptr<float>(), inputs, h, n);
      for (int64_t k = 0; k < rows; ++k) {
        const float b = bias[begin + k];
        for (int64_t e = 0; e < n; ++e) h[k * n + e] = std::max(h[k * n + e] + b, 0.0f);
      }
    }
  }

  /// Member r's second layer, loss and the gradients of its second layer: the part of the
  /// backward pass that needs all of the member's hidden units.
  void member_head(Buffers& b, const int64_t* labels, const int64_t* rows, int64_t n, int64_t r) {
    const float* hidden_t = b.hidden_t.data_ptr<float>() + r * hidden * n;  // [hidden, n]
    float* z = b.logits_t[r].data_ptr<float>();                             // [classes, n]
    gemm(false, false, classes, n, hidden, w2[r].data_ptr<float>(), hidden, hidden_t, n, z, n);
    const float* bias = b2[r].data_ptr<float>();
    for (int64_t c = 0; c < classes; ++c) {
      for (int64_t i = 0; i < n; ++i) z[c * n + i] += bias[c];
    }
    float* dz = b.d_logits[r].data_ptr<float>();  // [n, classes]
    const float scale = 1.0f / static_cast<float>(n);
    double sum = 0;
    int64_t right = 0;
    for (int64_t i = 0; i < n; ++i) {
      bool hit = false;
      sum += static_cast<double>(
          softmax_cross_entropy(z + i, n, classes, labels[rows[i]], scale, dz + i * classes, &hit));
      right += hit ? 1 : 0;
    }
    cross_entropy[static_cast<size_t>(r)] = sum;
    correct[static_cast<size_t>(r)] = right;

    // dW2[classes, hidden] = dz^T [classes, n] hidden [n, hidden], db2 = sum of dz.
    gemm(true, true, classes, hidden, n, dz, classes, hidden_t, n, grad_w2[r].data_ptr<float>(),
         hidden);
    float* db2 = grad_b2[r].data_ptr<float>();
    std::fill(db2, db2 + classes, 0.0f);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t c = 0; c < classes; ++c) db2[c] += dz[i * classes + c];
    }
  }

  /// The rest of the backward pass and Adam on row block `i` of W1 (rows of one member):
  /// d hidden^T = (W2^T dz^T) * (hidden > 0) and db1 on those rows, their rows of dW1 =
  /// d hidden^T x into this thread's `scratch`, and Adam on those rows of W1 and b1 while the
  /// gradient is still in cache (the sum of squares of the rows taken before the update): no
  /// gradient buffer the size of every W1 streams through memory. W2 is only read here (other
  /// blocks of the member read it too), so it is updated after them (second_layer_adam).
  void row_block_backward(Buffers& b, int64_t n, size_t i, const AdamCoefficients& c,
                          float* scratch) {
    const auto [begin, rows] = row_blocks[i];
    const int64_t r = begin / hidden;
    float* dh = b.d_hidden_t.data_ptr<float>() + begin * n;
    // d hidden^T [rows, n] = W2[:, rows]^T [rows, classes] dz^T [classes, n]
    gemm(true, true, rows, n, classes, w2[r].data_ptr<float>() + (begin - r * hidden), hidden,
         b.d_logits[r].data_ptr<float>(), classes, dh, n);
    const float* h = b.hidden_t.data_ptr<float>() + begin * n;
    if (dropout[static_cast<size_t>(r)] > 0) {
      mask_by_dropout_relu(dh, h, rows * n, dropout_scale(dropout[static_cast<size_t>(r)]));
    } else {
      mask_by_relu(dh, h, rows * n);
    }
    sum_rows(dh, rows, n, grad_b1.data_ptr<float>() + begin);
    gemm(false, false, rows, inputs, n, dh, n, b.x.data_ptr<float>(), inputs, scratch, inputs);

    AdamCoefficients decayed = c;
    const auto member = static_cast<size_t>(r);
    decayed.decay = static_cast<float>(2 * l2[member]);
    decayed.shrink = static_cast<float>(1 - learning_rate * weight_decay[member]);
    decayed.keras_decay = static_cast<float>(weight_decay[member]);
    const int64_t offset = begin * inputs;
    adam(params.data_ptr<float>() + offset, exp_avg.data_ptr<float>() + offset,
         exp_avg_sq.data_ptr<float>() + offset, scratch, rows * inputs, decayed, &block_squares[i]);
    update(b1.data_ptr<float>() - params.data_ptr<float>() + begin, rows, c, nullptr);
  }

  /// Adam on member r's W2 and b2, once no block reads W2 any more.
  void second_layer_adam(int64_t r, const AdamCoefficients& c) {
    update(w2[r].data_ptr<float>() - params.data_ptr<float>(), classes * hidden, c, nullptr);
    update(b2[r].data_ptr<float>() - params.data_ptr<float>(), classes, c, nullptr);
  }

  /// Adam on `size` elements of the flat buffers from `offset`.
  void update(int64_t offset, int64_t size, const AdamCoefficients& c, double* squares) {
    adam(params.data_ptr<float>() + offset, exp_avg.data_ptr<float>() + offset,
         exp_avg_sq.data_ptr<float>() + offset, grads.data_ptr<float>() + offset, size, c, squares);
  }

  /// The update the cohort trains with, torch's or Keras'.
  void adam(float* param, float* m, float* v, const float* gradient, int64_t size,
            const AdamCoefficients& c, double* squares) const {
    if (keras_adam) {
      keras_adam_kernel(param, m, v, gradient, size, c, squares);
    } else {
      adam_kernel(param, m, v, gradient, size, c, squares);
    }
  }

  AdamCoefficients coefficients() const {
    const auto t = static_cast<double>(step);
    AdamCoefficients c{};
    c.beta1 = static_cast<float>(kAdamBeta1);
    c.beta2 = static_cast<float>(kAdamBeta2);
    c.one_minus_beta1 = static_cast<float>(1 - kAdamBeta1);
    c.one_minus_beta2 = static_cast<float>(1 - kAdamBeta2);
    c.step_size = static_cast<float>(learning_rate / (1 - std::pow(kAdamBeta1, t)));
    c.inverse_sqrt_bias2 = static_cast<float>(1 / std::sqrt(1 - std::pow(kAdamBeta2, t)));
    c.eps = static_cast<float>(kAdamEpsilon);
    c.decay = 0.0f;
    c.keras_alpha = keras_adam_alpha(learning_rate, step);
    c.keras_lr = static_cast<float>(learning_rate);
    return c;
  }

  /// One Adam step of every member on the examples `rows` of `images`/`labels`, whose dropout
  /// noise is `noise` ([n, hidden]; null when no member has Dropout); adds each member's batch
  /// loss, cross-entropy and accuracy (measured before the update) to `meters`.
  void step_on(const torch::Tensor& images, const int64_t* labels, const int64_t* rows, int64_t n,
               const float* noise, std::vector<EpochMeters>& meters) {
    torch::NoGradGuard no_grad;
    Buffers& b = buffers_for(n);
    ++step;
    gather_rows(images, rows, 0, n, inputs, b.x.data_ptr<float>());
    first_layer(b.x, b.hidden_t, n);
    for (int64_t r = 0; r < members; ++r) {
      const double rate = dropout[static_cast<size_t>(r)];
      if (rate <= 0) continue;
      TORCH_CHECK(noise != nullptr, "a Dropout member trained without the epoch's noise");
      apply_dropout(b.hidden_t.data_ptr<float>() + r * hidden * n, noise, hidden, n,
                    static_cast<float>(rate), dropout_scale(rate));
    }
    for (int64_t r = 0; r < members; ++r) member_head(b, labels, rows, n, r);
    const AdamCoefficients c = coefficients();
    for (size_t i = 0; i < row_blocks.size(); ++i) {
      row_block_backward(b, n, i, c, gradient_scratch.data());
    }
    // W2 last: every row block of a member reads it.
    for (int64_t r = 0; r < members; ++r) second_layer_adam(r, c);
    const auto count = static_cast<double>(n);
    size_t block = 0;
    for (int64_t r = 0; r < members; ++r) {
      double squares = 0;
      for (; block < row_blocks.size() && row_blocks[block].first / hidden == r; ++block) {
        squares += block_squares[block];
      }
      const double data_loss = cross_entropy[static_cast<size_t>(r)] / count;
      const double loss = data_loss + l2[static_cast<size_t>(r)] * squares;
      EpochMeters& meter = meters[static_cast<size_t>(r)];
      meter.loss.add_sum(loss * count, n);
      meter.data_loss.add_sum(data_loss * count, n);
      meter.accuracy.add_sum(static_cast<double>(correct[static_cast<size_t>(r)]), n);
    }
  }
};

FusedCpuEngine::FusedCpuEngine(std::vector<Member> members, const TrainOptions& options,
                               const torch::Device& device)
    : Engine(std::move(members), options, device) {
  TORCH_CHECK(device.is_cpu(), "the fused step runs on the CPU only");
  impl_ = std::make_unique<Impl>(members_, options);
  torch::NoGradGuard no_grad;
  for (size_t r = 0; r < members_.size(); ++r) {
    const auto first = first_linear(members_[r].model);
    const auto second = second_linear(members_[r].model);
    const std::vector<torch::Tensor> model{first->weight, first->bias, second->weight,
                                           second->bias};
    std::vector<torch::Tensor> views = impl_->member_views(static_cast<int64_t>(r));
    for (size_t i = 0; i < model.size(); ++i) {
      TORCH_CHECK(model[i].is_cpu() && model[i].scalar_type() == torch::kFloat32 &&
                      model[i].sizes() == views[i].sizes(),
                  "the fused step needs the cohort's float32 CPU models of one shape");
      views[i].copy_(model[i]);
      // The model's parameter now lives in the engine's buffer: forward passes, evaluation and
      // checkpoints see every update without a copy.
      model[i].set_data(views[i]);
    }
  }
}

FusedCpuEngine::~FusedCpuEngine() = default;

int64_t FusedCpuEngine::steps() const { return impl_->step; }

std::vector<TrainMetrics> FusedCpuEngine::train_epoch(const Split& train,
                                                      const torch::Tensor& order,
                                                      const EpochControl& control) {
  for (size_t r = 0; r < members_.size(); ++r) members_[r].model->train();
  const torch::Tensor images = train.images.reshape({train.size(), impl_->inputs}).contiguous();
  const torch::Tensor labels = train.labels.contiguous();
  const torch::Tensor rows = order.contiguous();
  const torch::Tensor noise_rows = control.dropout_noise.defined()
                                       ? control.dropout_noise.to(torch::kFloat32).contiguous()
                                       : torch::Tensor();
  TORCH_CHECK(!noise_rows.defined() ||
                  noise_rows.sizes() == torch::IntArrayRef({train.size(), impl_->hidden}),
              "the dropout noise has the wrong shape");
  const int64_t examples = train.size();
  const int64_t batch_size = options_.batch_size;
  const int64_t batches = (examples + batch_size - 1) / batch_size;
  const int64_t steps = batches * control.count_active(members_.size());
  const int64_t active = control.count_active(members_.size());
  std::vector<EpochMeters> meters(members_.size());
  for (int64_t batch = 0; batch < batches; ++batch) {
    if (control.stop.stop_requested()) throw StopRequested();
    const int64_t begin = batch * batch_size;
    const int64_t count = std::min(batch_size, examples - begin);
    const float* noise = control.dropout_noise.defined()
                             ? noise_rows.data_ptr<float>() + begin * impl_->hidden
                             : nullptr;
    impl_->step_on(images, labels.data_ptr<int64_t>(), rows.data_ptr<int64_t>() + begin, count,
                   noise, meters);
    if (control.on_batch) control.on_batch((batch + 1) * active, steps);
  }
  std::vector<TrainMetrics> results(members_.size());
  for (size_t r = 0; r < members_.size(); ++r) {
    if (control.is_active(r)) results[r] = meters[r].value();
  }
  return results;
}

std::vector<EvalMetrics> FusedCpuEngine::evaluate(const Split& split,
                                                  const std::vector<bool>& active) {
  torch::NoGradGuard no_grad;
  Impl& impl = *impl_;
  const int64_t examples = split.size();
  const torch::Tensor images = split.images.reshape({examples, impl.inputs}).contiguous();
  const torch::Tensor labels = split.labels.contiguous();
  const int64_t* label = labels.data_ptr<int64_t>();
  const auto f = torch::TensorOptions().dtype(torch::kFloat32);
  const int64_t chunk = std::min(kEvalChunk, std::max<int64_t>(examples, 1));
  torch::Tensor x = torch::empty({chunk, impl.inputs}, f);
  torch::Tensor hidden_t = torch::empty({impl.members * impl.hidden, chunk}, f);
  // One member's logits at a time, in a buffer of their own: a member's place in a stacked
  // buffer would give its product another alignment in another cohort (see gemm).
  torch::Tensor logits_t = torch::empty({impl.classes, chunk}, f);
  std::vector<int64_t> rows(static_cast<size_t>(chunk));
  std::vector<double> cross_entropy(members_.size(), 0.0);
  std::vector<int64_t> correct(members_.size(), 0);
  // Per member and hidden unit: whether its ReLU was positive on any example.
  std::vector<uint8_t> fired(static_cast<size_t>(impl.members * impl.hidden), 0);
  for (int64_t begin = 0; begin < examples; begin += chunk) {
    const int64_t n = std::min(chunk, examples - begin);
    for (int64_t i = 0; i < n; ++i) rows[static_cast<size_t>(i)] = begin + i;
    torch::Tensor xs = x.narrow(0, 0, n);
    torch::Tensor hs = n == chunk ? hidden_t : torch::empty({impl.members * impl.hidden, n}, f);
    gather_rows(images, rows.data(), 0, n, impl.inputs, xs.data_ptr<float>());
    impl.first_layer(xs, hs, n);
    for (int64_t r = 0; r < impl.members; ++r) {
      const auto member = static_cast<size_t>(r);
      if (!active.empty() && !active[member]) continue;
      const float* h = hs.data_ptr<float>() + r * impl.hidden * n;
      for (int64_t k = 0; k < impl.hidden; ++k) {
        uint8_t& unit = fired[static_cast<size_t>(r * impl.hidden + k)];
        for (int64_t e = 0; e < n && unit == 0; ++e) unit = h[k * n + e] > 0.0f ? 1 : 0;
      }
      torch::Tensor z_t = n == chunk ? logits_t : torch::empty({impl.classes, n}, f);
      at::addmm_out(z_t, impl.b2[r].unsqueeze(1), impl.w2[r],
                    hs.narrow(0, r * impl.hidden, impl.hidden));
      const float* z = z_t.data_ptr<float>();
      for (int64_t i = 0; i < n; ++i) {
        bool hit = false;
        cross_entropy[member] += static_cast<double>(
            softmax_cross_entropy(z + i, n, impl.classes, label[begin + i], 1.0f, nullptr, &hit));
        correct[member] += hit ? 1 : 0;
      }
    }
  }
  std::vector<EvalMetrics> metrics(members_.size());
  for (size_t r = 0; r < members_.size(); ++r) {
    if (!active.empty() && !active[r]) continue;
    EvalMetrics& m = metrics[r];
    m.data_loss = cross_entropy[r] / static_cast<double>(examples);
    m.accuracy = static_cast<double>(correct[r]) / static_cast<double>(examples);
    m.penalty = l2_penalty(first_linear(members_[r].model)->weight, members_[r].l2).item<double>();
    const auto first = fired.begin() + static_cast<std::ptrdiff_t>(r) * impl.hidden;
    m.dead_units = static_cast<double>(std::count(first, first + impl.hidden, uint8_t{0})) /
                   static_cast<double>(impl.hidden);
    m.loss = m.data_loss + m.penalty;
  }
  return metrics;
}

bool FusedCpuEngine::finite(size_t member) const {
  torch::NoGradGuard no_grad;
  const auto r = static_cast<int64_t>(member);
  const std::vector<torch::Tensor> views = impl_->member_views(r);
  for (const torch::Tensor& buffer : {impl_->exp_avg, impl_->exp_avg_sq}) {
    // The moments laid out like the parameters: the same offsets.
    for (const torch::Tensor& view : views) {
      const int64_t offset = (view.data_ptr<float>() - impl_->params.data_ptr<float>());
      const torch::Tensor moment = buffer.narrow(0, offset, view.numel());
      if (!torch::isfinite(moment).all().item<bool>()) return false;
    }
  }
  for (const torch::Tensor& view : views) {
    if (!torch::isfinite(view).all().item<bool>()) return false;
  }
  return true;
}

namespace {

/// The names of a member's four parameters in a checkpoint, in member_views order.
constexpr std::array<const char*, 4> kParameterNames{"w1", "b1", "w2", "b2"};

}  // namespace

void FusedCpuEngine::save_state(size_t member, torch::serialize::OutputArchive& archive) const {
  archive.write("fused.step", torch::tensor({impl_->step}, torch::kInt64));
  const std::vector<torch::Tensor> views = impl_->member_views(static_cast<int64_t>(member));
  for (size_t i = 0; i < views.size(); ++i) {
    const int64_t offset = views[i].data_ptr<float>() - impl_->params.data_ptr<float>();
    const int64_t size = views[i].numel();
    archive.write(std::string("fused.exp_avg.") + kParameterNames[i],
                  impl_->exp_avg.narrow(0, offset, size).clone());
    archive.write(std::string("fused.exp_avg_sq.") + kParameterNames[i],
                  impl_->exp_avg_sq.narrow(0, offset, size).clone());
  }
}

void FusedCpuEngine::load_state(size_t member, torch::serialize::InputArchive& archive) {
  torch::NoGradGuard no_grad;
  torch::Tensor step;
  archive.read("fused.step", step);
  impl_->step = step.item<int64_t>();  // every member of a group has taken as many steps
  const std::vector<torch::Tensor> views = impl_->member_views(static_cast<int64_t>(member));
  for (size_t i = 0; i < views.size(); ++i) {
    const int64_t offset = views[i].data_ptr<float>() - impl_->params.data_ptr<float>();
    const int64_t size = views[i].numel();
    for (auto [prefix, buffer] : {std::pair{"fused.exp_avg.", &impl_->exp_avg},
                                  std::pair{"fused.exp_avg_sq.", &impl_->exp_avg_sq}}) {
      torch::Tensor saved;
      archive.read(std::string(prefix) + kParameterNames[i], saved);
      TORCH_CHECK(saved.numel() == size && saved.scalar_type() == torch::kFloat32, "Adam state ",
                  prefix, kParameterNames[i], " has the wrong size");
      buffer->narrow(0, offset, size).copy_(saved.reshape({size}));
    }
  }
}

}  // namespace l2sweep
