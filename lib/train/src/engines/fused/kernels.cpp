#include "kernels.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
// GCC 12 warns that the approximate-reciprocal intrinsics read an uninitialised pass-through
// operand (their unmasked forms pass one they never use): a false alarm in its own header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace l2sweep::fused {
namespace {

/// The loop of both Adam kernels: `update(i)` updates element i of the buffers (`param` among
/// them: not restrict, the update writes it through another pointer). With
/// `squares`, also the sum of squares of the parameters before the update (the penalty of the
/// weights the batch was measured with), in kAdamSquareLanes float lanes.
template <typename Update>
__attribute__((always_inline)) inline void adam_loop(const float* param, int64_t size,
                                                     double* squares, Update update) {
  if (squares != nullptr) {  // one pass: each parameter is read once
    float lanes[kAdamSquareLanes] = {};
    for (int64_t i = 0; i < size; ++i) {
      lanes[i % kAdamSquareLanes] += param[i] * param[i];
      update(i);
    }
    double sum = 0;
    for (const float lane : lanes) sum += lane;
    *squares = sum;
    return;
  }
  for (int64_t i = 0; i < size; ++i) update(i);
}

}  // namespace

// torch::optim::Adam's update in one pass (AdamW's with shrink != 1):
//   grad = gradient + 2 * l2 * param                      (W1 only: the penalty's gradient)
//   exp_avg = fma(grad, 1 - beta1, exp_avg * beta1)       (torch's add_ with alpha, vectorised)
//   exp_avg_sq = fma((1 - beta2) * grad, grad, exp_avg_sq * beta2)    (and its addcmul_)
//   param = param * shrink
//           - lr / (1 - beta1^t) * exp_avg / (sqrt(exp_avg_sq) * (1 / sqrt(1 - beta2^t)) + eps)
// torch::optim::Adam divides by sqrt(1 - beta2^t) where this multiplies by its reciprocal:
// within an ulp of it, and one division fewer per element.
//
// Keras' Adam (keras/src/optimizers/adam.py, KerasAdam), in one pass:
//   param = param - param * weight_decay * lr             (AdamW's decoupled decay)
//   m += (grad - m) * (1 - beta_1);  v += (grad^2 - v) * (1 - beta_2)
//   param -= m * alpha / (sqrt(v) + eps)
//
// Two forms of each. The exact one (the baseline, and any CPU without AVX2) takes a correctly
// rounded square root and division per parameter: most of the loop's time (about 1.2 ns per
// parameter on a Xeon, three times its memory traffic). The fast one, picked once per process
// where the CPU has AVX-512 (or AVX2 and FMA), computes sqrt(v) and 1 / denominator from the
// CPU's approximate reciprocals refined by one Newton step each, and the denominator and the
// step with fused multiply-adds: within a few ulps of the exact update
// (tests/adam_kernel_test.cpp), the moments bit for bit the same. (A form from integer seeds
// and Newton steps alone, the same bits on every x86-64 CPU, took 1.5 times as long: 88 against
// 54 us per member's W1 on the development VM.) Every element
// of every call goes through the same vector code (the last partial vector through masked
// loads and stores), so a parameter's bits never depend on where a call starts or ends: the
// same on one machine in any cohort, pieces, jobs or resume; across CPUs they differ in the
// last bits, as the BLAS's do. This file is built with -O3 -fno-math-errno -ffp-contract=off
// (lib/train/CMakeLists.txt): no fused multiply-adds but the ones written out below.
namespace {

enum class Update { kTorch, kKeras };

/// One element of the update, exactly (correctly rounded square root and division). The
/// moments as torch rounds them: on a CPU with FMA its vectorised kernels make
/// exp_avg.mul_(beta1).add_(grad, 1 - beta1) one fused multiply-add after the product, and
/// addcmul_'s for exp_avg_sq too (kFused); without FMA they multiply, then add.
template <Update kind, bool kFused>
__attribute__((always_inline)) inline void exact_update(float* __restrict param,
                                                        float* __restrict m, float* __restrict v,
                                                        const float* __restrict gradient, int64_t i,
                                                        const AdamCoefficients& c) {
  const float p = param[i];
  const float g = gradient[i] + c.decay * p;
  if constexpr (kind == Update::kTorch) {
    if constexpr (kFused) {
      m[i] = std::fma(g, c.one_minus_beta1, m[i] * c.beta1);
      v[i] = std::fma(c.one_minus_beta2 * g, g, v[i] * c.beta2);
    } else {
      m[i] = m[i] * c.beta1 + c.one_minus_beta1 * g;
      v[i] = v[i] * c.beta2 + c.one_minus_beta2 * g * g;
    }
    param[i] =
        p * c.shrink - c.step_size * (m[i] / (std::sqrt(v[i]) * c.inverse_sqrt_bias2 + c.eps));
  } else {
    m[i] = m[i] + (g - m[i]) * c.one_minus_beta1;
    v[i] = v[i] + (g * g - v[i]) * c.one_minus_beta2;
    const float decayed = c.keras_decay != 0.0f ? p - p * c.keras_decay * c.keras_lr : p;
    param[i] = decayed - m[i] * c.keras_alpha / (std::sqrt(v[i]) + c.eps);
  }
}

template <Update kind, bool kFused>
__attribute__((always_inline)) inline void exact_loop(float* __restrict param, float* __restrict m,
                                                      float* __restrict v,
                                                      const float* __restrict gradient,
                                                      int64_t size, const AdamCoefficients& c,
                                                      double* squares) {
  adam_loop(param, size, squares,
            [&](int64_t i) { exact_update<kind, kFused>(param, m, v, gradient, i, c); });
}

/// The exact form without FMA: as torch's kernels round the moments on such a CPU.
template <Update kind>
void exact_unfused(float* __restrict param, float* __restrict m, float* __restrict v,
                   const float* __restrict gradient, int64_t size, AdamCoefficients c,
                   double* squares) {
  exact_loop<kind, false>(param, m, v, gradient, size, c, squares);
}

#if defined(__x86_64__) && defined(__GNUC__)
/// The exact form with FMA, compiled for it (std::fma one instruction, the loop vectorised).
template <Update kind>
__attribute__((target("avx2,fma"))) void exact_fused(float* __restrict param, float* __restrict m,
                                                     float* __restrict v,
                                                     const float* __restrict gradient, int64_t size,
                                                     AdamCoefficients c, double* squares) {
  exact_loop<kind, true>(param, m, v, gradient, size, c, squares);
}
#else
template <Update kind>
void exact_fused(float* __restrict param, float* __restrict m, float* __restrict v,
                 const float* __restrict gradient, int64_t size, AdamCoefficients c,
                 double* squares) {
  exact_loop<kind, true>(param, m, v, gradient, size, c, squares);
}
#endif

/// Whether this CPU has FMA, so that torch's vectorised kernels (and the fast forms) fuse.
bool cpu_fuses() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return true;
#endif
}

/// The exact form for this CPU.
template <Update kind>
void exact_kernel(float* __restrict param, float* __restrict m, float* __restrict v,
                  const float* __restrict gradient, int64_t size, AdamCoefficients c,
                  double* squares) {
  static const bool fused = cpu_fuses();
  (fused ? exact_fused<kind> : exact_unfused<kind>)(param, m, v, gradient, size, c, squares);
}

using Kernel = void (*)(float*, float*, float*, const float*, int64_t, AdamCoefficients, double*);
/// A fast form's loop, with or without the sum of squares.
using Loop = void (*)(float*, float*, float*, const float*, int64_t, const AdamCoefficients&,
                      double*);

#if defined(__x86_64__) && defined(__GNUC__)

/// The lanes of a sum of squares (kAdamSquareLanes of them) added in order in double.
double add_lanes(const float (&lanes)[kAdamSquareLanes]) {
  double sum = 0;
  for (const float lane : lanes) sum += lane;
  return sum;
}

/// The fast update of 16 parameters (those `mask` selects) with AVX-512.
template <Update kind, bool kSquares>
__attribute__((target("avx512f,fma"), always_inline)) inline void fast_update16(
    float* param, float* m, float* v, const float* gradient, __mmask16 mask,
    const AdamCoefficients& c, __m512& squares) {
  const __m512 p = _mm512_maskz_loadu_ps(mask, param);
  // Lanes masked off add 0 * 0: no bit changes.
  if constexpr (kSquares) squares = _mm512_add_ps(squares, _mm512_mul_ps(p, p));
  const __m512 g = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, gradient),
                                 _mm512_mul_ps(_mm512_set1_ps(c.decay), p));
  const __m512 m0 = _mm512_maskz_loadu_ps(mask, m);
  const __m512 v0 = _mm512_maskz_loadu_ps(mask, v);
  __m512 m1, v1;
  if constexpr (kind == Update::kTorch) {
    m1 = _mm512_fmadd_ps(g, _mm512_set1_ps(c.one_minus_beta1),
                         _mm512_mul_ps(m0, _mm512_set1_ps(c.beta1)));
    v1 = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(c.one_minus_beta2), g), g,
                         _mm512_mul_ps(v0, _mm512_set1_ps(c.beta2)));
  } else {
    m1 = _mm512_add_ps(m0, _mm512_mul_ps(_mm512_sub_ps(g, m0), _mm512_set1_ps(c.one_minus_beta1)));
    v1 = _mm512_add_ps(v0, _mm512_mul_ps(_mm512_sub_ps(_mm512_mul_ps(g, g), v0),
                                         _mm512_set1_ps(c.one_minus_beta2)));
  }
  _mm512_mask_storeu_ps(m, mask, m1);
  _mm512_mask_storeu_ps(v, mask, v1);
  // sqrt(v) from s = v r, r = 1 / sqrt(v) approximated, refined once: s (1.5 - 0.5 r s). Where v
  // is below the smallest normal float (0, or a denormal when they are not flushed) r is taken
  // at that float instead, so s stays finite and the root is 0 or far below half an ulp of eps
  // times the bias correction: the exact form's denominator is eps there too.
  const __m512 r = _mm512_rsqrt14_ps(_mm512_max_ps(v1, _mm512_set1_ps(FLT_MIN)));
  const __m512 s = _mm512_mul_ps(v1, r);
  const __m512 root = _mm512_mul_ps(
      s, _mm512_fnmadd_ps(_mm512_mul_ps(r, _mm512_set1_ps(0.5f)), s, _mm512_set1_ps(1.5f)));
  const __m512 denominator =
      kind == Update::kTorch
          ? _mm512_fmadd_ps(root, _mm512_set1_ps(c.inverse_sqrt_bias2), _mm512_set1_ps(c.eps))
          : _mm512_add_ps(root, _mm512_set1_ps(c.eps));
  // 1 / denominator, refined once: q = q (2 - d q).
  __m512 q = _mm512_rcp14_ps(denominator);
  q = _mm512_mul_ps(q, _mm512_fnmadd_ps(denominator, q, _mm512_set1_ps(2.0f)));
  __m512 result;
  if constexpr (kind == Update::kTorch) {
    const __m512 base = c.shrink != 1.0f ? _mm512_mul_ps(p, _mm512_set1_ps(c.shrink)) : p;
    result = _mm512_fnmadd_ps(_mm512_set1_ps(c.step_size), _mm512_mul_ps(m1, q), base);
  } else {
    const __m512 decayed =
        c.keras_decay != 0.0f
            ? _mm512_sub_ps(p, _mm512_mul_ps(_mm512_mul_ps(p, _mm512_set1_ps(c.keras_decay)),
                                             _mm512_set1_ps(c.keras_lr)))
            : p;
    result = _mm512_fnmadd_ps(_mm512_mul_ps(m1, _mm512_set1_ps(c.keras_alpha)), q, decayed);
  }
  _mm512_mask_storeu_ps(param, mask, result);
}

template <Update kind, bool kSquares>
__attribute__((target("avx512f,fma"))) void fast_loop_avx512(
    float* __restrict param, float* __restrict m, float* __restrict v,
    const float* __restrict gradient, int64_t size, const AdamCoefficients& c, double* squares) {
  __m512 lanes = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= size; i += 16) {
    fast_update16<kind, kSquares>(param + i, m + i, v + i, gradient + i, 0xFFFF, c, lanes);
  }
  if (i < size) {
    const auto mask = static_cast<__mmask16>((1u << (size - i)) - 1);
    fast_update16<kind, kSquares>(param + i, m + i, v + i, gradient + i, mask, c, lanes);
  }
  if constexpr (kSquares) {
    float lane[kAdamSquareLanes];
    _mm512_storeu_ps(lane, lanes);
    *squares = add_lanes(lane);
  }
}

/// The fast update of 8 parameters (those `mask` selects) with AVX2 and FMA.
template <Update kind, bool kSquares>
__attribute__((target("avx2,fma"), always_inline)) inline void fast_update8(
    float* param, float* m, float* v, const float* gradient, __m256i mask,
    const AdamCoefficients& c, __m256& squares) {
  const __m256 p = _mm256_maskload_ps(param, mask);
  if constexpr (kSquares) squares = _mm256_add_ps(squares, _mm256_mul_ps(p, p));
  const __m256 g =
      _mm256_add_ps(_mm256_maskload_ps(gradient, mask), _mm256_mul_ps(_mm256_set1_ps(c.decay), p));
  const __m256 m0 = _mm256_maskload_ps(m, mask);
  const __m256 v0 = _mm256_maskload_ps(v, mask);
  __m256 m1, v1;
  if constexpr (kind == Update::kTorch) {
    m1 = _mm256_fmadd_ps(g, _mm256_set1_ps(c.one_minus_beta1),
                         _mm256_mul_ps(m0, _mm256_set1_ps(c.beta1)));
    v1 = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(c.one_minus_beta2), g), g,
                         _mm256_mul_ps(v0, _mm256_set1_ps(c.beta2)));
  } else {
    m1 = _mm256_add_ps(m0, _mm256_mul_ps(_mm256_sub_ps(g, m0), _mm256_set1_ps(c.one_minus_beta1)));
    v1 = _mm256_add_ps(v0, _mm256_mul_ps(_mm256_sub_ps(_mm256_mul_ps(g, g), v0),
                                         _mm256_set1_ps(c.one_minus_beta2)));
  }
  _mm256_maskstore_ps(m, mask, m1);
  _mm256_maskstore_ps(v, mask, v1);
  const __m256 r = _mm256_rsqrt_ps(_mm256_max_ps(v1, _mm256_set1_ps(FLT_MIN)));  // as above
  const __m256 s = _mm256_mul_ps(v1, r);
  const __m256 root = _mm256_mul_ps(
      s, _mm256_fnmadd_ps(_mm256_mul_ps(r, _mm256_set1_ps(0.5f)), s, _mm256_set1_ps(1.5f)));
  const __m256 denominator =
      kind == Update::kTorch
          ? _mm256_fmadd_ps(root, _mm256_set1_ps(c.inverse_sqrt_bias2), _mm256_set1_ps(c.eps))
          : _mm256_add_ps(root, _mm256_set1_ps(c.eps));
  __m256 q = _mm256_rcp_ps(denominator);
  q = _mm256_mul_ps(q, _mm256_fnmadd_ps(denominator, q, _mm256_set1_ps(2.0f)));
  __m256 result;
  if constexpr (kind == Update::kTorch) {
    const __m256 base = c.shrink != 1.0f ? _mm256_mul_ps(p, _mm256_set1_ps(c.shrink)) : p;
    result = _mm256_fnmadd_ps(_mm256_set1_ps(c.step_size), _mm256_mul_ps(m1, q), base);
  } else {
    const __m256 decayed =
        c.keras_decay != 0.0f
            ? _mm256_sub_ps(p, _mm256_mul_ps(_mm256_mul_ps(p, _mm256_set1_ps(c.keras_decay)),
                                             _mm256_set1_ps(c.keras_lr)))
            : p;
    result = _mm256_fnmadd_ps(_mm256_mul_ps(m1, _mm256_set1_ps(c.keras_alpha)), q, decayed);
  }
  _mm256_maskstore_ps(param, mask, result);
}

template <Update kind, bool kSquares>
__attribute__((target("avx2,fma"))) void fast_loop_avx2(float* __restrict param,
                                                        float* __restrict m, float* __restrict v,
                                                        const float* __restrict gradient,
                                                        int64_t size, const AdamCoefficients& c,
                                                        double* squares) {
  // Lanes 0-7 and 8-15 of the sum of squares: vector k of the call goes to lanes[k % 2].
  __m256 lanes[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  const __m256i all = _mm256_set1_epi32(-1);
  int64_t i = 0;
  for (; i + 8 <= size; i += 8) {
    fast_update8<kind, kSquares>(param + i, m + i, v + i, gradient + i, all, c, lanes[(i / 8) % 2]);
  }
  if (i < size) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(size - i)), lane);
    fast_update8<kind, kSquares>(param + i, m + i, v + i, gradient + i, mask, c,
                                 lanes[(i / 8) % 2]);
  }
  if constexpr (kSquares) {
    float lane[kAdamSquareLanes];
    _mm256_storeu_ps(lane, lanes[0]);
    _mm256_storeu_ps(lane + 8, lanes[1]);
    *squares = add_lanes(lane);
  }
}

/// A fast form: its loop compiled with the sum of squares where a call asks for it, and
/// without where it does not.
template <Loop kWithSquares, Loop kWithout>
void fast_kernel(float* __restrict param, float* __restrict m, float* __restrict v,
                 const float* __restrict gradient, int64_t size, AdamCoefficients c,
                 double* squares) {
  (squares != nullptr ? kWithSquares : kWithout)(param, m, v, gradient, size, c, squares);
}

template <Update kind>
constexpr Kernel kFastAvx512 =
    fast_kernel<fast_loop_avx512<kind, true>, fast_loop_avx512<kind, false>>;
template <Update kind>
constexpr Kernel kFastAvx2 = fast_kernel<fast_loop_avx2<kind, true>, fast_loop_avx2<kind, false>>;

#endif

/// The form this process uses for `kind`: the fast one where the CPU allows, unless
/// L2SWEEP_ADAM_FORM asks for `exact` (how far the two drift apart), or for `avx2` on a CPU
/// with AVX-512 (its tests).
template <Update kind>
Kernel pick_kernel() {
  const char* asked = std::getenv("L2SWEEP_ADAM_FORM");
  const std::string_view form = asked != nullptr ? asked : "auto";
  if (form == "exact") return exact_kernel<kind>;
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (__builtin_cpu_supports("avx512f") && form != "avx2") return kFastAvx512<kind>;
  if (avx2) return kFastAvx2<kind>;
#endif
  return exact_kernel<kind>;
}

}  // namespace

const char* adam_form() {
  const Kernel kernel = pick_kernel<Update::kTorch>();
#if defined(__x86_64__) && defined(__GNUC__)
  if (kernel == kFastAvx512<Update::kTorch>) return "AVX-512 approximate reciprocals";
  if (kernel == kFastAvx2<Update::kTorch>) return "AVX2 approximate reciprocals";
#endif
  return kernel == nullptr ? "none" : "exact";
}

void adam_kernel(float* __restrict param, float* __restrict m, float* __restrict v,
                 const float* __restrict gradient, int64_t size, AdamCoefficients c,
                 double* squares) {
  static const Kernel kernel = pick_kernel<Update::kTorch>();
  kernel(param, m, v, gradient, size, c, squares);
}

void keras_adam_kernel(float* __restrict param, float* __restrict m, float* __restrict v,
                       const float* __restrict gradient, int64_t size, AdamCoefficients c,
                       double* squares) {
  static const Kernel kernel = pick_kernel<Update::kKeras>();
  kernel(param, m, v, gradient, size, c, squares);
}

void exact_adam_kernel(float* __restrict param, float* __restrict m, float* __restrict v,
                       const float* __restrict gradient, int64_t size, AdamCoefficients c,
                       double* squares, bool keras) {
  if (keras) {
    exact_kernel<Update::kKeras>(param, m, v, gradient, size, c, squares);
  } else {
    exact_kernel<Update::kTorch>(param, m, v, gradient, size, c, squares);
  }
}

#if L2SWEEP_HAVE_LIBMVEC && defined(__x86_64__) && defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx512f")
// glibc's vector forms of expf and logf for 16 floats (libmvec, AVX-512; within 4 ulps).
extern "C" __m512 _ZGVeN16v_expf(__m512);
extern "C" __m512 _ZGVeN16v_logf(__m512);

namespace {

/// Logits of class c of the 16 examples (zeros in the lanes `valid` leaves out).
inline __m512 class_row(const float* logits, int64_t stride, int64_t c, __mmask16 valid) {
  return _mm512_maskz_loadu_ps(valid, logits + c * stride);
}

bool softmax16_avx512(const float* logits, int64_t stride, int64_t classes, const int64_t* labels,
                      int count, float scale, float* gradient, float* loss, bool* hit) {
  const auto valid = static_cast<__mmask16>(count >= 16 ? 0xFFFF : (1u << count) - 1);
  // Lanes past `count` hold zeros: finite, and never written back.
  const auto row = [&](int64_t c) { return class_row(logits, stride, c, valid); };
  // The largest logit, the first of equals (as the scalar form's strict comparison).
  __m512 peak = row(0);
  __m512i best = _mm512_setzero_si512();
  for (int64_t c = 1; c < classes; ++c) {
    const __m512 value = row(c);
    const __mmask16 greater = _mm512_cmp_ps_mask(value, peak, _CMP_GT_OQ);
    peak = _mm512_mask_mov_ps(peak, greater, value);
    best = _mm512_mask_mov_epi32(best, greater, _mm512_set1_epi32(static_cast<int>(c)));
  }
  __m512 total = _mm512_setzero_ps();
  for (int64_t c = 0; c < classes; ++c) {
    total = _mm512_add_ps(total, _ZGVeN16v_expf(_mm512_sub_ps(row(c), peak)));
  }
  const __m512 log_total = _ZGVeN16v_logf(total);
  float peaks[16], logs[16];
  int32_t bests[16];
  _mm512_storeu_ps(peaks, peak);
  _mm512_storeu_ps(logs, log_total);
  _mm512_storeu_si512(bests, best);
  for (int i = 0; i < count; ++i) {
    const float own = logits[labels[i] * stride + i];
    loss[i] = logs[i] - (own - peaks[i]);
    hit[i] = bests[i] == labels[i];
  }
  if (gradient == nullptr) return true;
  float probability[16];
  for (int64_t c = 0; c < classes; ++c) {
    const __m512 p = _ZGVeN16v_expf(_mm512_sub_ps(_mm512_sub_ps(row(c), peak), log_total));
    _mm512_storeu_ps(probability, p);
    for (int i = 0; i < count; ++i) {
      gradient[i * classes + c] = (probability[i] - (labels[i] == c ? 1.0f : 0.0f)) * scale;
    }
  }
  return true;
}

}  // namespace
#pragma GCC pop_options
#endif

bool softmax_cross_entropy16(const float* logits, int64_t stride, int64_t classes,
                             const int64_t* labels, int count, float scale, float* gradient,
                             float* loss, bool* hit) {
#if L2SWEEP_HAVE_LIBMVEC && defined(__x86_64__) && defined(__GNUC__)
  static const bool avx512 = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  if (avx512) {
    return softmax16_avx512(logits, stride, classes, labels, count, scale, gradient, loss, hit);
  }
#else
  (void)logits, (void)stride, (void)classes, (void)labels, (void)count, (void)scale, (void)gradient,
      (void)loss, (void)hit;
#endif
  return false;
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
