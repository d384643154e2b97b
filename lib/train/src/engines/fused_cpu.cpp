#include "l2sweep/train/engines/fused_cpu.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "l2sweep/train/adam.h"
#include "l2sweep/train/model.h"

namespace l2sweep {
namespace {

struct AdamCoefficients {
  float beta1, beta2, one_minus_beta1, one_minus_beta2, step_size, sqrt_bias2, eps, decay;
};

// torch::optim::Adam's update, operation for operation, in one pass:
//   grad = gradient + 2 * l2 * param                      (W1 only: the penalty's gradient)
//   exp_avg = exp_avg * beta1 + grad * (1 - beta1)
//   exp_avg_sq = exp_avg_sq * beta2 + grad * grad * (1 - beta2)
//   param -= lr / (1 - beta1^t) * exp_avg / (sqrt(exp_avg_sq) / sqrt(1 - beta2^t) + eps)
// The loop has no reduction and restrict pointers so the compiler vectorises it; on x86-64
// an AVX2/FMA clone is picked at load time where the CPU has it (this file is built with
// -O3 -fno-math-errno, see lib/train/CMakeLists.txt).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
void adam_kernel(float* __restrict param, float* __restrict m, float* __restrict v,
                 const float* __restrict gradient, int64_t size, AdamCoefficients c) {
  for (int64_t i = 0; i < size; ++i) {
    const float g = gradient[i] + c.decay * param[i];
    m[i] = m[i] * c.beta1 + g * c.one_minus_beta1;
    v[i] = v[i] * c.beta2 + g * g * c.one_minus_beta2;
    param[i] = param[i] - c.step_size * (m[i] / (std::sqrt(v[i]) / c.sqrt_bias2 + c.eps));
  }
}

}  // namespace

FusedCpuStep::FusedCpuStep(const torch::nn::Sequential& model, double l2, double learning_rate,
                           int64_t batch_size)
    : l2_(l2), learning_rate_(learning_rate) {
  const auto first = first_linear(model);
  const auto second = second_linear(model);
  auto slot = [](const torch::Tensor& parameter) {
    TORCH_CHECK(parameter.is_cpu() && parameter.scalar_type() == torch::kFloat32 &&
                    parameter.is_contiguous(),
                "the fused step needs contiguous float32 CPU parameters");
    const auto size = static_cast<size_t>(parameter.numel());
    return AdamSlot{parameter.detach(), std::vector<float>(size), std::vector<float>(size)};
  };
  w1_ = slot(first->weight);
  b1_ = slot(first->bias);
  w2_ = slot(second->weight);
  b2_ = slot(second->bias);
  const int64_t inputs = w1_.value.size(1);
  const int64_t hidden = w1_.value.size(0);
  const int64_t classes = w2_.value.size(0);
  const auto options = torch::TensorOptions().dtype(torch::kFloat32);
  x_ = torch::empty({batch_size, inputs}, options);
  hidden_ = torch::empty({batch_size, hidden}, options);
  logits_ = torch::empty({batch_size, classes}, options);
  d_logits_ = torch::empty({batch_size, classes}, options);
  d_hidden_ = torch::empty({batch_size, hidden}, options);
  d_w1_ = torch::empty({hidden, inputs}, options);
  d_w2_ = torch::empty({classes, hidden}, options);
  d_b1_.resize(static_cast<size_t>(hidden));
  d_b2_.resize(static_cast<size_t>(classes));
}

void FusedCpuStep::adam_update(AdamSlot& slot, const float* gradient, double weight_decay_l2,
                               double* sum_of_squares) {
  if (sum_of_squares != nullptr) {
    // Before the update: this is the penalty of the weights the batch was measured with.
    *sum_of_squares = at::dot(slot.value.view(-1), slot.value.view(-1)).item<double>();
  }
  const auto t = static_cast<double>(step_);
  AdamCoefficients c;
  c.beta1 = static_cast<float>(kAdamBeta1);
  c.beta2 = static_cast<float>(kAdamBeta2);
  c.one_minus_beta1 = static_cast<float>(1 - kAdamBeta1);
  c.one_minus_beta2 = static_cast<float>(1 - kAdamBeta2);
  c.step_size = static_cast<float>(learning_rate_ / (1 - std::pow(kAdamBeta1, t)));
  c.sqrt_bias2 = static_cast<float>(std::sqrt(1 - std::pow(kAdamBeta2, t)));
  c.eps = static_cast<float>(kAdamEpsilon);
  c.decay = static_cast<float>(2 * weight_decay_l2);
  adam_kernel(slot.value.data_ptr<float>(), slot.exp_avg.data(), slot.exp_avg_sq.data(), gradient,
              static_cast<int64_t>(slot.exp_avg.size()), c);
}

void FusedCpuStep::save_state(torch::serialize::OutputArchive& archive) const {
  archive.write("fused.step", torch::tensor({step_}, torch::kInt64));
  const std::pair<const char*, const AdamSlot*> slots[] = {
      {"w1", &w1_}, {"b1", &b1_}, {"w2", &w2_}, {"b2", &b2_}};
  for (const auto& [name, slot] : slots) {
    const auto size = static_cast<int64_t>(slot->exp_avg.size());
    archive.write(std::string("fused.exp_avg.") + name,
                  torch::from_blob(const_cast<float*>(slot->exp_avg.data()), {size}).clone());
    archive.write(std::string("fused.exp_avg_sq.") + name,
                  torch::from_blob(const_cast<float*>(slot->exp_avg_sq.data()), {size}).clone());
  }
}

void FusedCpuStep::load_state(torch::serialize::InputArchive& archive) {
  torch::Tensor step;
  archive.read("fused.step", step);
  step_ = step.item<int64_t>();
  const std::pair<const char*, AdamSlot*> slots[] = {
      {"w1", &w1_}, {"b1", &b1_}, {"w2", &w2_}, {"b2", &b2_}};
  for (const auto& [name, slot] : slots) {
    for (auto [prefix, buffer] : {std::pair{"fused.exp_avg.", &slot->exp_avg},
                                  std::pair{"fused.exp_avg_sq.", &slot->exp_avg_sq}}) {
      torch::Tensor saved;
      archive.read(std::string(prefix) + name, saved);
      TORCH_CHECK(saved.numel() == static_cast<int64_t>(buffer->size()) &&
                      saved.scalar_type() == torch::kFloat32,
                  "Adam state ", prefix, name, " has the wrong size");
      std::memcpy(buffer->data(), saved.contiguous().data_ptr<float>(),
                  buffer->size() * sizeof(float));
    }
  }
}

void FusedCpuStep::gather(const torch::Tensor& images, const int64_t* index, int64_t n) {
  const int64_t inputs = x_.size(1);
  const float* pixels = images.data_ptr<float>();
  float* x_rows = x_.data_ptr<float>();
  for (int64_t r = 0; r < n; ++r) {
    std::memcpy(x_rows + r * inputs, pixels + index[r] * inputs,
                static_cast<size_t>(inputs) * sizeof(float));
  }
}

void FusedCpuStep::forward(int64_t n) {
  // hidden = relu(x W1^T + b1), logits = hidden W2^T + b2.
  torch::Tensor h = hidden_.narrow(0, 0, n);
  at::addmm_out(h, b1_.value, x_.narrow(0, 0, n), w1_.value.t());
  float* h_data = h.data_ptr<float>();
  const int64_t size = n * hidden_.size(1);
  for (int64_t i = 0; i < size; ++i) h_data[i] = std::max(h_data[i], 0.0f);
  torch::Tensor z = logits_.narrow(0, 0, n);
  at::addmm_out(z, b2_.value, h, w2_.value.t());
}

double FusedCpuStep::softmax_cross_entropy(const int64_t* label, const int64_t* index, int64_t n,
                                           int64_t* correct) {
  // Softmax cross-entropy from the logits, its gradient (softmax - onehot) / n, and accuracy.
  const int64_t classes = logits_.size(1);
  const float* z_data = logits_.data_ptr<float>();
  float* dz_data = d_logits_.data_ptr<float>();
  double cross_entropy = 0;
  for (int64_t r = 0; r < n; ++r) {
    const float* row = z_data + r * classes;
    const int64_t y = label[index[r]];
    int64_t best = 0;
    for (int64_t c = 1; c < classes; ++c) {
      if (row[c] > row[best]) best = c;
    }
    *correct += best == y ? 1 : 0;
    const float peak = row[best];
    float total = 0;
    for (int64_t c = 0; c < classes; ++c) total += std::exp(row[c] - peak);
    const float log_total = std::log(total);
    cross_entropy += static_cast<double>(log_total - (row[y] - peak));
    for (int64_t c = 0; c < classes; ++c) {
      dz_data[r * classes + c] =
          (std::exp(row[c] - peak - log_total) - (c == y ? 1.0f : 0.0f)) / static_cast<float>(n);
    }
  }
  return cross_entropy;
}

void FusedCpuStep::backward(int64_t n) {
  // dW2 = dz^T hidden, db2 = sum dz, dhidden = (dz W2) * (hidden > 0), dW1 = dhidden^T x,
  // db1 = sum dhidden.
  const int64_t hidden = hidden_.size(1);
  const int64_t classes = logits_.size(1);
  const torch::Tensor h = hidden_.narrow(0, 0, n);
  const torch::Tensor dz = d_logits_.narrow(0, 0, n);
  at::mm_out(d_w2_, dz.t(), h);
  const float* dz_data = dz.data_ptr<float>();
  std::fill(d_b2_.begin(), d_b2_.end(), 0.0f);
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t c = 0; c < classes; ++c) d_b2_[static_cast<size_t>(c)] += dz_data[r * classes + c];
  }
  torch::Tensor dh = d_hidden_.narrow(0, 0, n);
  at::mm_out(dh, dz, w2_.value);
  float* dh_data = dh.data_ptr<float>();
  const float* h_data = h.data_ptr<float>();
  std::fill(d_b1_.begin(), d_b1_.end(), 0.0f);
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t k = 0; k < hidden; ++k) {
      float& g = dh_data[r * hidden + k];
      if (h_data[r * hidden + k] <= 0.0f) g = 0.0f;
      d_b1_[static_cast<size_t>(k)] += g;
    }
  }
  at::mm_out(d_w1_, dh.t(), x_.narrow(0, 0, n));
}

void FusedCpuStep::step(const torch::Tensor& images, const torch::Tensor& labels,
                        const torch::Tensor& indices, EpochMeters& meters) {
  torch::NoGradGuard no_grad;
  const int64_t n = indices.size(0);
  const int64_t* index = indices.data_ptr<int64_t>();
  gather(images, index, n);
  forward(n);
  int64_t correct = 0;
  const double data_loss = softmax_cross_entropy(labels.data_ptr<int64_t>(), index, n, &correct) /
                           static_cast<double>(n);
  backward(n);

  // Adam, with the penalty's value and gradient folded into W1's pass (read before update).
  ++step_;
  double w1_squares = 0;
  adam_update(w1_, d_w1_.data_ptr<float>(), l2_, &w1_squares);
  adam_update(b1_, d_b1_.data(), 0.0, nullptr);
  adam_update(w2_, d_w2_.data_ptr<float>(), 0.0, nullptr);
  adam_update(b2_, d_b2_.data(), 0.0, nullptr);
  const double loss = data_loss + l2_ * w1_squares;
  const auto count = static_cast<double>(n);
  meters.loss.add_sum(loss * count, n);
  meters.data_loss.add_sum(data_loss * count, n);
  meters.accuracy.add_sum(static_cast<double>(correct), n);
}

FusedCpuEngine::FusedCpuEngine(std::vector<Member> members, const TrainOptions& options,
                               const torch::Device& device)
    : Engine(std::move(members), options, device) {
  TORCH_CHECK(device.is_cpu(), "the fused step runs on the CPU only");
  steps_.reserve(members_.size());
  for (const Member& member : members_) {
    steps_.emplace_back(member.model, member.l2, options.learning_rate, options.batch_size);
  }
}

std::vector<TrainMetrics> FusedCpuEngine::train_epoch(const Split& train,
                                                      const torch::Tensor& order,
                                                      const EpochControl& control) {
  return train_members_in_turn(
      order, control,
      [&](size_t i, const torch::Tensor& indices, int64_t /*count*/, EpochMeters& meters) {
        steps_[i].step(train.images, train.labels, indices, meters);
      });
}

bool FusedCpuStep::moments_finite() const {
  for (const AdamSlot* slot : {&w1_, &b1_, &w2_, &b2_}) {
    for (const std::vector<float>* moment : {&slot->exp_avg, &slot->exp_avg_sq}) {
      for (const float value : *moment) {
        if (!std::isfinite(value)) return false;
      }
    }
  }
  return true;
}

bool FusedCpuEngine::finite(size_t member) const {
  return Engine::finite(member) && steps_.at(member).moments_finite();
}

void FusedCpuEngine::save_state(size_t member, torch::serialize::OutputArchive& archive) const {
  steps_.at(member).save_state(archive);
}

void FusedCpuEngine::load_state(size_t member, torch::serialize::InputArchive& archive) {
  steps_.at(member).load_state(archive);
}

std::string FusedCpuEngine::description() const {
  return describe_engine(EngineKind::kFused, /*cuda_graphs=*/false);
}

}  // namespace l2sweep
