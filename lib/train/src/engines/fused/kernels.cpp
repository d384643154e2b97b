#include "kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace l2sweep::fused {
namespace {

/// The loop of both Adam kernels: `update(i)` updates element i of the buffers. With
/// `squares`, also the sum of squares of the parameters before the update (the penalty of the
/// weights the batch was measured with), in kSquareLanes float lanes added in order.
template <typename Update>
__attribute__((always_inline)) inline void adam_loop(const float* __restrict param, int64_t size,
                                                     double* squares, Update update) {
  int64_t i = 0;
  if (squares != nullptr) {  // one pass: each parameter is read once
    float lanes[kSquareLanes] = {};
    for (; i + kSquareLanes <= size; i += kSquareLanes) {
      for (int l = 0; l < kSquareLanes; ++l) lanes[l] += param[i + l] * param[i + l];
      for (int l = 0; l < kSquareLanes; ++l) update(i + l);
    }
    double sum = 0;
    for (int l = 0; l < kSquareLanes; ++l) sum += lanes[l];
    for (int64_t k = i; k < size; ++k) sum += static_cast<double>(param[k] * param[k]);
    *squares = sum;
  }
  for (; i < size; ++i) update(i);
}

}  // namespace

// torch::optim::Adam's update in one pass (AdamW's with shrink != 1):
//   grad = gradient + 2 * l2 * param                      (W1 only: the penalty's gradient)
//   exp_avg = exp_avg * beta1 + grad * (1 - beta1)
//   exp_avg_sq = exp_avg_sq * beta2 + grad * grad * (1 - beta2)
//   param = param * shrink
//           - lr / (1 - beta1^t) * exp_avg / (sqrt(exp_avg_sq) * (1 / sqrt(1 - beta2^t)) + eps)
// torch::optim::Adam divides by sqrt(1 - beta2^t) where this multiplies by its reciprocal:
// within an ulp of it, and one division fewer per element (a square root and two divisions
// are most of this loop's time).
// The loop has no other reduction and restrict pointers so the compiler vectorises it; on x86-64
// an AVX2 clone is picked at load time where the CPU has it (an AVX-512 clone was slower). This
// file is built with -O3 -fno-math-errno -ffp-contract=off (lib/train/CMakeLists.txt): no fused
// multiply-adds, and square roots and divisions are correctly rounded in every instruction set, so
// every clone gives the same bits.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
void adam_kernel(float* __restrict param, float* __restrict m, float* __restrict v,
                 const float* __restrict gradient, int64_t size, AdamCoefficients c,
                 double* squares) {
  adam_loop(param, size, squares, [&](int64_t i) {
    const float p = param[i];
    const float g = gradient[i] + c.decay * p;
    m[i] = m[i] * c.beta1 + g * c.one_minus_beta1;
    v[i] = v[i] * c.beta2 + g * g * c.one_minus_beta2;
    param[i] =
        p * c.shrink - c.step_size * (m[i] / (std::sqrt(v[i]) * c.inverse_sqrt_bias2 + c.eps));
  });
}

// Keras' Adam (keras/src/optimizers/adam.py, KerasAdam), in one pass:
//   param = param - param * weight_decay * lr             (AdamW's decoupled decay)
//   m += (grad - m) * (1 - beta_1);  v += (grad^2 - v) * (1 - beta_2)
//   param -= m * alpha / (sqrt(v) + eps)
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
void keras_adam_kernel(float* __restrict param, float* __restrict m, float* __restrict v,
                       const float* __restrict gradient, int64_t size, AdamCoefficients c,
                       double* squares) {
  adam_loop(param, size, squares, [&](int64_t i) {
    const float p = param[i];
    const float g = gradient[i] + c.decay * p;
    m[i] = m[i] + (g - m[i]) * c.one_minus_beta1;
    v[i] = v[i] + (g * g - v[i]) * c.one_minus_beta2;
    const float decayed = c.keras_decay != 0.0f ? p - p * c.keras_decay * c.keras_lr : p;
    param[i] = decayed - m[i] * c.keras_alpha / (std::sqrt(v[i]) + c.eps);
  });
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
void gather_rows(const torch::Tensor& images, const int64_t* rows, int64_t begin, int64_t end,
                 int64_t features, float* out) {
  if (images.scalar_type() == torch::kUInt8) {
    const uint8_t* pixels = images.data_ptr<uint8_t>();
    constexpr int64_t kAhead = 4;  // rows are random: fetch a few ahead, a line at a time
    for (int64_t r = begin; r < std::min(begin + kAhead, end); ++r) {
      for (int64_t k = 0; k < features; k += 64)
        __builtin_prefetch(pixels + rows[r] * features + k);
    }
    for (int64_t r = begin; r < end; ++r) {
      if (r + kAhead < end) {
        const uint8_t* next = pixels + rows[r + kAhead] * features;
        for (int64_t k = 0; k < features; k += 64) __builtin_prefetch(next + k);
      }
      const uint8_t* __restrict from = pixels + rows[r] * features;
      float* __restrict to = out + r * features;
      for (int64_t k = 0; k < features; ++k) to[k] = static_cast<float>(from[k]) / 255.0f;
    }
    return;
  }
  const float* pixels = images.data_ptr<float>();
  for (int64_t r = begin; r < end; ++r) {
    std::memcpy(out + r * features, pixels + rows[r] * features,
                static_cast<size_t>(features) * sizeof(float));
  }
}

}  // namespace l2sweep::fused
