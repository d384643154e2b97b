#pragma once

// The fused CPU step's loops (lib/train/src/engines/fused/fused_cpu.cpp): private to the train
// layer.
//
// Every file that includes this one is compiled with -O3 -fno-math-errno -ffp-contract=off
// (lib/train/CMakeLists.txt): the inline loops below are inlined into the engine's own loops,
// so every copy of them must be compiled the same way (the same bits, vectorised). CMake
// defines L2SWEEP_FUSED_STEP_FLAGS for exactly those files; any other file is refused here, so
// that the linker can never keep a copy compiled otherwise (e.g. with fused multiply-adds).
#if !defined(L2SWEEP_FUSED_STEP_FLAGS) && (defined(__GNUC__) || defined(__clang__))
#error "fused/kernels.h: include it only from src/engines/fused/ (compiled with its own flags)"
#endif

#include <torch/types.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace l2sweep::fused {

/// Lanes of a row's sum (sum_rows): lane l adds elements l, l + 8, l + 16, ...; a fixed
/// arrangement that vectorises.
constexpr int kRowSumLanes = 8;

/// Lanes of the Adam kernels' sum of squares of a call's parameters: lane l adds in float the
/// squares of elements l, l + 16, l + 32, ... (the last ones too), and the lanes are added in
/// order in double. Every form of the kernel, one AVX-512 vector or two AVX2 ones a step, takes
/// the squares in the same pass as the update and gives these bits.
constexpr int kAdamSquareLanes = 16;

struct AdamCoefficients {
  float beta1, beta2, one_minus_beta1, one_minus_beta2, step_size, inverse_sqrt_bias2, eps, decay;
  /// Decoupled weight decay, torch::optim::AdamW's: p *= shrink (1 - lr * wd) before the update;
  /// 1 without weight decay, which changes no bit.
  float shrink = 1.0f;
  /// Keras' update (--adam keras): its step size alpha, and its decoupled decay
  /// p -= p * keras_decay * keras_lr.
  float keras_alpha = 0, keras_decay = 0, keras_lr = 0;
};

/// torch::optim::Adam's update (AdamW's with c.shrink != 1) of `size` parameters in one pass,
/// the gradient plus c.decay * param (W1's L2 penalty); with `squares`, also the sum of squares
/// of the parameters before the update. In this process's form (adam_form(), kernels.cpp): the
/// same bits for a parameter wherever a call starts or ends.
void adam_kernel(float* __restrict param, float* __restrict m, float* __restrict v,
                 const float* __restrict gradient, int64_t size, AdamCoefficients c,
                 double* squares);

/// Keras' Adam (KerasAdam) in one pass, otherwise as adam_kernel.
void keras_adam_kernel(float* __restrict param, float* __restrict m, float* __restrict v,
                       const float* __restrict gradient, int64_t size, AdamCoefficients c,
                       double* squares);

/// The exact form of either update (correctly rounded square root and division), whatever
/// this process uses: the reference the fast form is checked against.
void exact_adam_kernel(float* __restrict param, float* __restrict m, float* __restrict v,
                       const float* __restrict gradient, int64_t size, AdamCoefficients c,
                       double* squares, bool keras);

/// The form adam_kernel takes in this process, in words: "AVX-512 approximate reciprocals",
/// "AVX2 approximate reciprocals" or "exact".
const char* adam_form();

/// Rows `rows` of `images` (uint8 pixels, or float32 already scaled) as float32 pixel / 255
/// into `out` ([rows.size(), features]). The division is IEEE float division, exact and
/// vectorised, so the bits are those of the float tensors the other engines divide
/// (Keras semantics: scale by /255 and nothing else).
void gather_rows(const torch::Tensor& images, const int64_t* rows, int64_t begin, int64_t end,
                 int64_t features, float* out);

/// g = 0 where the ReLU's output h was not positive (its gradient), for `size` elements.
inline void mask_by_relu(float* __restrict g, const float* __restrict h, int64_t size) {
  for (int64_t i = 0; i < size; ++i) g[i] = h[i] > 0.0f ? g[i] : 0.0f;
}

/// Keras' Dropout on `units` rows of one member's hidden layer h^T ([units, n]): h = h * scale
/// where the batch's `noise` (row e for example e, `stride` apart; column k for unit k) is
/// >= rate, else 0.
inline void apply_dropout(float* __restrict h, const float* __restrict noise, int64_t units,
                          int64_t stride, int64_t n, float rate, float scale) {
  for (int64_t k = 0; k < units; ++k) {
    for (int64_t e = 0; e < n; ++e) {
      h[k * n + e] = noise[e * stride + k] >= rate ? h[k * n + e] * scale : 0.0f;
    }
  }
}

/// The gradient through Dropout and the ReLU: g = g * scale where the dropped-out output h was
/// positive (kept and active), else 0.
inline void mask_by_dropout_relu(float* __restrict g, const float* __restrict h, int64_t size,
                                 float scale) {
  for (int64_t i = 0; i < size; ++i) g[i] = h[i] > 0.0f ? g[i] * scale : 0.0f;
}

/// out[k] = the sum of row k of `rows` rows of `n` values: in kRowSumLanes lanes added in
/// order (a fixed arrangement that vectorises), then the rest in order.
inline void sum_rows(const float* __restrict values, int64_t rows, int64_t n,
                     float* __restrict out) {
  for (int64_t k = 0; k < rows; ++k) {
    const float* row = values + k * n;
    float lanes[kRowSumLanes] = {};
    int64_t e = 0;
    for (; e + kRowSumLanes <= n; e += kRowSumLanes) {
      for (int l = 0; l < kRowSumLanes; ++l) lanes[l] += row[e + l];
    }
    float total = 0;
    for (int l = 0; l < kRowSumLanes; ++l) total += lanes[l];
    for (; e < n; ++e) total += row[e];
    out[k] = total;
  }
}

/// Softmax cross-entropy of the `n` examples whose logits are logits[c * n + i] (class-major,
/// `classes` of them), example i's label label(i): adds each example's cross-entropy to `sum`
/// in example order (in double) and its hit (largest logit the label) to `correct`, and writes
/// (softmax - onehot) * `scale` into gradient[i * classes + c] when `gradient` is not null.
/// Where this process has AVX-512 and glibc's vector exp and log (libmvec), 16 examples at a
/// time; else one at a time (softmax_cross_entropy). Either way an example's numbers depend
/// only on its logits and label, never on `n` or its place in the batch.
template <typename Label>
void softmax_cross_entropy_batch(const float* logits, int64_t n, int64_t classes, Label label,
                                 float scale, float* gradient, double& sum, int64_t& correct);

/// 16 examples (the first `count` of them, logits[c * stride + i]) of
/// softmax_cross_entropy_batch: their losses and hits into `loss` and `hit`, their gradient
/// into gradient[i * classes + c] unless null. Returns false (writing nothing) where this
/// process cannot take them 16 at a time.
bool softmax_cross_entropy16(const float* logits, int64_t stride, int64_t classes,
                             const int64_t* labels, int count, float scale, float* gradient,
                             float* loss, bool* hit);

/// Softmax cross-entropy of one example from its logits (`classes` of them, `stride` apart)
/// with label `y`: writes (softmax - onehot) * `scale` into `gradient` (when not null), and
/// returns the cross-entropy; `correct` tells whether the largest logit is the label.
inline float softmax_cross_entropy(const float* logits, int64_t stride, int64_t classes, int64_t y,
                                   float scale, float* gradient, bool* correct) {
  int64_t best = 0;
  for (int64_t c = 1; c < classes; ++c) {
    if (logits[c * stride] > logits[best * stride]) best = c;
  }
  *correct = best == y;
  const float peak = logits[best * stride];
  float total = 0;
  for (int64_t c = 0; c < classes; ++c) total += std::exp(logits[c * stride] - peak);
  const float log_total = std::log(total);
  if (gradient != nullptr) {
    for (int64_t c = 0; c < classes; ++c) {
      gradient[c] =
          (std::exp(logits[c * stride] - peak - log_total) - (c == y ? 1.0f : 0.0f)) * scale;
    }
  }
  return log_total - (logits[y * stride] - peak);
}

template <typename Label>
void softmax_cross_entropy_batch(const float* logits, int64_t n, int64_t classes, Label label,
                                 float scale, float* gradient, double& sum, int64_t& correct) {
  for (int64_t first = 0; first < n; first += 16) {
    const auto count = static_cast<int>(std::min<int64_t>(16, n - first));
    int64_t labels[16];
    float loss[16];
    bool hit[16];
    for (int i = 0; i < count; ++i) labels[i] = label(first + i);
    float* block_gradient = gradient != nullptr ? gradient + first * classes : nullptr;
    if (!softmax_cross_entropy16(logits + first, n, classes, labels, count, scale, block_gradient,
                                 loss, hit)) {
      for (int i = 0; i < count; ++i) {
        loss[i] = softmax_cross_entropy(
            logits + first + i, n, classes, labels[i], scale,
            block_gradient != nullptr ? block_gradient + i * classes : nullptr, &hit[i]);
      }
    }
    for (int i = 0; i < count; ++i) {
      sum += static_cast<double>(loss[i]);
      correct += hit[i] ? 1 : 0;
    }
  }
}

}  // namespace l2sweep::fused
