#include "tiles.h"

#include <cstdlib>
#include <string_view>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

namespace l2sweep::fused {
namespace {

#if defined(__x86_64__) && defined(__GNUC__)

constexpr int kTileRows = 8;

/// One tile: rows [0, 8) of A against two 16-column vectors of B from column 0 (the second
/// and the first masked by `high`, `low`), accumulated over k in order.
__attribute__((target("avx512f"), always_inline)) inline void tile(int64_t k, const float* a,
                                                                   int64_t lda, const float* b,
                                                                   int64_t ldb, float* c,
                                                                   int64_t ldc, __mmask16 low,
                                                                   __mmask16 high) {
  __m512 sum[kTileRows][2];
  for (auto& row : sum) row[0] = row[1] = _mm512_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const __m512 b0 = _mm512_maskz_loadu_ps(low, b + p * ldb);
    // With no second vector, its (masked, unread) address stays within the row.
    const __m512 b1 = _mm512_maskz_loadu_ps(high, b + p * ldb + (high != 0 ? 16 : 0));
    for (int r = 0; r < kTileRows; ++r) {
      const __m512 x = _mm512_set1_ps(a[r * lda + p]);
      sum[r][0] = _mm512_fmadd_ps(x, b0, sum[r][0]);
      sum[r][1] = _mm512_fmadd_ps(x, b1, sum[r][1]);
    }
  }
  for (int r = 0; r < kTileRows; ++r) {
    _mm512_mask_storeu_ps(c + r * ldc, low, sum[r][0]);
    _mm512_mask_storeu_ps(c + r * ldc + 16, high, sum[r][1]);
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
      tile(k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, low, high);
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

}  // namespace l2sweep::fused
