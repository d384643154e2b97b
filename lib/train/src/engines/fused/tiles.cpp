#include "tiles.h"

#include <algorithm>
#include <cstdlib>
#include <string_view>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
// GCC 12 warns that some AVX-512 intrinsics (the conversions of transpose16's inputs) read an
// uninitialised pass-through operand that their unmasked forms never use: a false alarm in its
// own header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace l2sweep::fused {
namespace {

#if defined(__x86_64__) && defined(__GNUC__)

constexpr int kTileRows = 8;

/// One tile: rows [0, 8) of A against two 16-column vectors of B from column 0 (the first and
/// the second masked by `low` and `high`), or with kWide false against the first alone (`high`
/// unused: the last columns of a product whose width leaves 16 or fewer), accumulated over k in
/// order.
template <bool kWide>
__attribute__((target("avx512f"), always_inline)) inline void tile(int64_t k, const float* a,
                                                                   int64_t lda, const float* b,
                                                                   int64_t ldb, float* c,
                                                                   int64_t ldc, __mmask16 low,
                                                                   __mmask16 high) {
  __m512 sum[kTileRows][2];
  for (auto& row : sum) row[0] = row[1] = _mm512_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const __m512 b0 = _mm512_maskz_loadu_ps(low, b + p * ldb);
    __m512 b1 = b0;
    if constexpr (kWide) b1 = _mm512_maskz_loadu_ps(high, b + p * ldb + 16);
    for (int r = 0; r < kTileRows; ++r) {
      const __m512 x = _mm512_set1_ps(a[r * lda + p]);
      sum[r][0] = _mm512_fmadd_ps(x, b0, sum[r][0]);
      if constexpr (kWide) sum[r][1] = _mm512_fmadd_ps(x, b1, sum[r][1]);
    }
  }
  for (int r = 0; r < kTileRows; ++r) {
    _mm512_mask_storeu_ps(c + r * ldc, low, sum[r][0]);
    if constexpr (kWide) _mm512_mask_storeu_ps(c + r * ldc + 16, high, sum[r][1]);
  }
}

__attribute__((target("avx512f"))) void tile_product_avx512(int64_t m, int64_t n, int64_t k,
                                                            const float* a, int64_t lda,
                                                            const float* b, int64_t ldb, float* c,
                                                            int64_t ldc) {
  // Columns outer, rows inner: a block of B (k x 32) stays in cache while every row of A
  // passes it.
  for (int64_t j = 0; j < n; j += 32) {
    const int64_t left = n - j;
    const auto low = static_cast<__mmask16>(left >= 16 ? 0xFFFF : (1u << left) - 1);
    const auto high = static_cast<__mmask16>(left >= 32  ? 0xFFFF
                                             : left > 16 ? (1u << (left - 16)) - 1
                                                         : 0);
    for (int64_t i = 0; i < m; i += kTileRows) {
      if (high != 0) {
        tile<true>(k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, low, high);
      } else {
        tile<false>(k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, low, high);
      }
    }
  }
}

/// Transposes the 16 x 16 floats in v (v[i][j] becomes v[j][i]).
__attribute__((target("avx512f"), always_inline)) inline void transpose16(__m512 (&v)[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    for (int h = 0; h < 2; ++h) {
      const __m512d a = _mm512_castps_pd(t[i + h]), b = _mm512_castps_pd(t[i + h + 2]);
      v[i + 2 * h] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
      v[i + 2 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
    }
  }
  for (int i = 0; i < 16; i += 8) {
    for (int h = 0; h < 4; ++h) {
      t[i + h] = _mm512_shuffle_f32x4(v[i + h], v[i + h + 4], 0x88);
      t[i + h + 4] = _mm512_shuffle_f32x4(v[i + h], v[i + h + 4], 0xdd);
    }
  }
  for (int h = 0; h < 8; ++h) {
    v[h] = _mm512_shuffle_f32x4(t[h], t[h + 8], 0x88);
    v[h + 8] = _mm512_shuffle_f32x4(t[h], t[h + 8], 0xdd);
  }
}

__attribute__((target("avx512f"))) void gather_transposed_avx512(const uint8_t* pixels,
                                                                 const int64_t* rows, int64_t begin,
                                                                 int64_t end, int64_t features,
                                                                 float* x, float* x_t,
                                                                 int64_t stride) {
  // pixel / 255 as q = pixel * (1 / 255) corrected once by its residual, q + (pixel - 255 q) / 255:
  // the bits of IEEE division for each of the 256 byte values (the test checks all of them), in
  // three fused operations instead of a division.
  const __m512 scale = _mm512_set1_ps(255.0f), inverse = _mm512_set1_ps(1.0f / 255.0f);
  const int64_t wide = features - features % 16;
  int64_t e = begin;
  for (; e + 16 <= end; e += 16) {
    const uint8_t* from[16];
    for (int i = 0; i < 16; ++i) from[i] = pixels + rows[e + i] * features;
    // Rows are random: ask for every line of the block's rows at once (and of the next
    // block's), rather than meeting their misses a few at a time.
    for (int64_t i = 0; i < std::min<int64_t>(32, end - e); ++i) {
      const uint8_t* row = pixels + rows[e + i] * features;
      for (int64_t k = 0; k < features; k += 64) __builtin_prefetch(row + k);
    }
    for (int64_t k = 0; k < wide; k += 16) {
      __m512 v[16];
      for (int i = 0; i < 16; ++i) {
        const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(from[i] + k));
        const __m512 pixel = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes));
        const __m512 q = _mm512_mul_ps(pixel, inverse);
        v[i] = _mm512_fmadd_ps(_mm512_fnmadd_ps(q, scale, pixel), inverse, q);
        if (x != nullptr) _mm512_storeu_ps(x + (e + i) * features + k, v[i]);
      }
      transpose16(v);
      for (int j = 0; j < 16; ++j) _mm512_storeu_ps(x_t + (k + j) * stride + e, v[j]);
    }
    for (int i = 0; i < 16; ++i) {
      for (int64_t k = wide; k < features; ++k) {
        const float value = static_cast<float>(from[i][k]) / 255.0f;
        if (x != nullptr) x[(e + i) * features + k] = value;
        x_t[k * stride + e + i] = value;
      }
    }
  }
  for (; e < end; ++e) {
    const uint8_t* from = pixels + rows[e] * features;
    for (int64_t k = 0; k < features; ++k) {
      const float value = static_cast<float>(from[k]) / 255.0f;
      if (x != nullptr) x[e * features + k] = value;
      x_t[k * stride + e] = value;
    }
  }
}

#endif

}  // namespace

bool tile_products() {
  static const bool use = [] {
    const char* asked = std::getenv("L2SWEEP_PRODUCTS");
    if (asked != nullptr && std::string_view(asked) == "blas") return false;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
#else
    return false;
#endif
  }();
  return use;
}

void tile_product(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                  int64_t ldb, float* c, int64_t ldc) {
#if defined(__x86_64__) && defined(__GNUC__)
  tile_product_avx512(m, n, k, a, lda, b, ldb, c, ldc);
#else
  (void)m, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb, (void)c, (void)ldc;
  std::abort();  // never called: tile_products() is false
#endif
}

void transpose(const float* x, int64_t rows, int64_t columns, float* out, int64_t stride) {
  for (int64_t k = 0; k < columns; ++k) {
    for (int64_t e = 0; e < rows; ++e) out[k * stride + e] = x[e * columns + k];
  }
}

void gather_transposed(const uint8_t* pixels, const int64_t* rows, int64_t begin, int64_t end,
                       int64_t features, float* x, float* x_t, int64_t stride) {
#if defined(__x86_64__) && defined(__GNUC__)
  gather_transposed_avx512(pixels, rows, begin, end, features, x, x_t, stride);
#else
  (void)pixels, (void)rows, (void)begin, (void)end, (void)features, (void)x, (void)x_t,
      (void)stride;
  std::abort();  // never called: tile_products() is false
#endif
}

}  // namespace l2sweep::fused
