#include "tiles.h"

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <string_view>
#include <vector>

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

/// Rows of A a tile takes: 14 rows by two vectors is 28 accumulators, as many as the registers
/// leave room for, and the fewest loads of B per multiply-add. On the development VM the
/// forward product (64 x 32 x 784, one thread) went from 185 to 225 GFLOP/s with these tiles
/// and unmasked loads, against 8-row tiles with masked loads throughout.
constexpr int kTileRows = 14;

/// One tile: rows [0, kRows) of A against two 16-column vectors of B from column 0 (the first
/// and the second masked by `low` and `high`, unless kMasked is false: all 32 columns), or with
/// kWide false against the first alone (`high` unused: the last columns of a product whose width
/// leaves 16 or fewer), accumulated over k in order.
template <int kRows, bool kWide, bool kMasked>
__attribute__((target("avx512f"), always_inline)) inline void tile(int64_t k, const float* a,
                                                                   int64_t lda, const float* b,
                                                                   int64_t ldb, float* c,
                                                                   int64_t ldc, __mmask16 low,
                                                                   __mmask16 high) {
  __m512 sum[kRows][2];
  for (auto& row : sum) row[0] = row[1] = _mm512_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const float* from = b + p * ldb;
    const __m512 b0 = kMasked ? _mm512_maskz_loadu_ps(low, from) : _mm512_loadu_ps(from);
    __m512 b1 = b0;
    if constexpr (kWide) {
      b1 = kMasked ? _mm512_maskz_loadu_ps(high, from + 16) : _mm512_loadu_ps(from + 16);
    }
    for (int r = 0; r < kRows; ++r) {
      const __m512 x = _mm512_set1_ps(a[r * lda + p]);
      sum[r][0] = _mm512_fmadd_ps(x, b0, sum[r][0]);
      if constexpr (kWide) sum[r][1] = _mm512_fmadd_ps(x, b1, sum[r][1]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    _mm512_mask_storeu_ps(c + r * ldc, low, sum[r][0]);
    if constexpr (kWide) _mm512_mask_storeu_ps(c + r * ldc + 16, high, sum[r][1]);
  }
}

/// Rows [0, kRows) of A against columns [0, 32) of B, or fewer (`low`, `high`).
template <int kRows>
__attribute__((target("avx512f"))) void tile_rows(int64_t k, const float* a, int64_t lda,
                                                  const float* b, int64_t ldb, float* c,
                                                  int64_t ldc, __mmask16 low, __mmask16 high) {
  if (high == 0xFFFF) {
    tile<kRows, true, false>(k, a, lda, b, ldb, c, ldc, low, high);
  } else if (high != 0) {
    tile<kRows, true, true>(k, a, lda, b, ldb, c, ldc, low, high);
  } else {
    tile<kRows, false, true>(k, a, lda, b, ldb, c, ldc, low, high);
  }
}

__attribute__((target("avx512f"))) void tile_product_avx512(int64_t m, int64_t n, int64_t k,
                                                            const float* a, int64_t lda,
                                                            const float* b, int64_t ldb, float* c,
                                                            int64_t ldc) {
  // Rows in tiles of kTileRows, then of 8 (as many of the first as leave a multiple of 8:
  // 64 = 4 x 14 + 8, 128 = 8 x 14 + 2 x 8), then what is left. Which rows share a tile changes
  // no bit: each element is its own chain.
  int64_t wide = m / kTileRows;
  while (wide > 0 && (m - wide * kTileRows) % 8 != 0) --wide;
  const int64_t eights = (m - wide * kTileRows) / 8;
  using Tile = void (*)(int64_t, const float*, int64_t, const float*, int64_t, float*, int64_t,
                        __mmask16, __mmask16);
  static constexpr Tile kLast[] = {nullptr,      tile_rows<1>, tile_rows<2>, tile_rows<3>,
                                   tile_rows<4>, tile_rows<5>, tile_rows<6>, tile_rows<7>};
  // Columns outer, rows inner: a block of B (k x 32) stays in cache while every row of A
  // passes it.
  for (int64_t j = 0; j < n; j += 32) {
    const int64_t left = n - j;
    const auto low = static_cast<__mmask16>(left >= 16 ? 0xFFFF : (1u << left) - 1);
    const auto high = static_cast<__mmask16>(left >= 32  ? 0xFFFF
                                             : left > 16 ? (1u << (left - 16)) - 1
                                                         : 0);
    int64_t i = 0;
    for (int64_t t = 0; t < wide; ++t, i += kTileRows) {
      tile_rows<kTileRows>(k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, low, high);
    }
    for (int64_t t = 0; t < eights; ++t, i += 8) {
      tile_rows<8>(k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, low, high);
    }
    if (i < m) kLast[m - i](k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, low, high);
  }
}

/// 16-column vectors of B a sparse product's row accumulates at a time.
constexpr int kSparseVectors = 8;
/// The most vectors the last block of a sparse product's columns takes.
constexpr int kLastVectors = 12;

/// Row `a` (k values) of a sparse product's left operand as its nonzero terms in order: their
/// values and their positions p, each block of 16 compressed in registers and stored whole
/// (`values` and `positions` hold k + 16). Returns how many there are. A NaN counts as nonzero,
/// so it still reaches the result.
__attribute__((target("avx512f"))) int64_t nonzero_terms(int64_t k, const float* a, float* values,
                                                         int32_t* positions) {
  int64_t count = 0;
  const __m512i step = _mm512_set1_epi32(16);
  __m512i index = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int64_t p = 0; p < k; p += 16, index = _mm512_add_epi32(index, step)) {
    const auto valid = static_cast<__mmask16>(k - p >= 16 ? 0xFFFF : (1u << (k - p)) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(valid, a + p);
    const __mmask16 nonzero = _mm512_mask_cmp_ps_mask(valid, v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    _mm512_storeu_ps(values + count, _mm512_maskz_compress_ps(nonzero, v));
    _mm512_storeu_si512(positions + count, _mm512_maskz_compress_epi32(nonzero, index));
    count += __builtin_popcount(nonzero);
  }
  return count;
}

/// One row of a sparse product over kVectors 16-column vectors of B from column 0 (the last
/// masked by `last`): the terms' chain of fused multiply-adds, in order, from zero.
template <int kVectors>
__attribute__((target("avx512f"), always_inline)) inline void sparse_row(
    int64_t terms, const float* values, const int32_t* positions, const float* b, int64_t ldb,
    float* c, __mmask16 last) {
  __m512 sum[kVectors];
  for (auto& s : sum) s = _mm512_setzero_ps();
  for (int64_t t = 0; t < terms; ++t) {
    const __m512 x = _mm512_set1_ps(values[t]);
    const float* row = b + positions[t] * ldb;
    for (int q = 0; q + 1 < kVectors; ++q) {
      sum[q] = _mm512_fmadd_ps(x, _mm512_loadu_ps(row + 16 * q), sum[q]);
    }
    sum[kVectors - 1] = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(last, row + 16 * (kVectors - 1)),
                                        sum[kVectors - 1]);
  }
  for (int q = 0; q + 1 < kVectors; ++q) _mm512_storeu_ps(c + 16 * q, sum[q]);
  _mm512_mask_storeu_ps(c + 16 * (kVectors - 1), last, sum[kVectors - 1]);
}

template <int kVectors>
__attribute__((target("avx512f"))) void sparse_columns(int64_t m, const int64_t* terms,
                                                       const float* values,
                                                       const int32_t* positions, int64_t room,
                                                       const float* b, int64_t ldb, float* c,
                                                       int64_t ldc, __mmask16 last) {
  for (int64_t i = 0; i < m; ++i) {
    sparse_row<kVectors>(terms[i], values + i * room, positions + i * room, b, ldb, c + i * ldc,
                         last);
  }
}

__attribute__((target("avx512f"))) void sparse_product_avx512(int64_t m, int64_t n, int64_t k,
                                                              const float* a, int64_t lda,
                                                              const float* b, int64_t ldb, float* c,
                                                              int64_t ldc) {
  thread_local std::vector<float> values;
  thread_local std::vector<int32_t> positions;
  thread_local std::vector<int64_t> terms;
  const int64_t room = k + 16;  // each row's terms, and the whole block stored past the last
  values.resize(static_cast<size_t>(m * room));
  positions.resize(static_cast<size_t>(m * room));
  terms.resize(static_cast<size_t>(m));
  for (int64_t i = 0; i < m; ++i) {
    terms[static_cast<size_t>(i)] =
        nonzero_terms(k, a + i * lda, values.data() + i * room, positions.data() + i * room);
  }
  // Columns outer, rows inner: a block of B (k x 128) stays in the first-level cache while every
  // row of A passes it, each row reading only its nonzero terms' rows of the block. The last
  // columns join the block before them (at most kLastVectors vectors, the last masked), so no
  // narrow block pays a row's loop for a few columns.
  using Columns = void (*)(int64_t, const int64_t*, const float*, const int32_t*, int64_t,
                           const float*, int64_t, float*, int64_t, __mmask16);
  static constexpr Columns kColumns[] = {
      sparse_columns<1>, sparse_columns<2>,  sparse_columns<3>,  sparse_columns<4>,
      sparse_columns<5>, sparse_columns<6>,  sparse_columns<7>,  sparse_columns<8>,
      sparse_columns<9>, sparse_columns<10>, sparse_columns<11>, sparse_columns<12>};
  static_assert(std::size(kColumns) == kLastVectors);
  for (int64_t j = 0; j < n;) {
    const int64_t vectors = (n - j + 15) / 16;
    const int64_t block = vectors > kLastVectors ? kSparseVectors : vectors;
    const int64_t left = std::min<int64_t>(16 * block, n - j) - 16 * (block - 1);
    const auto last = static_cast<__mmask16>(left >= 16 ? 0xFFFF : (1u << left) - 1);
    kColumns[block - 1](m, terms.data(), values.data(), positions.data(), room, b + j, ldb, c + j,
                        ldc, last);
    j += 16 * block;
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

#else

// Without AVX-512 code in the build, tile_products() is false and nothing calls these.
constexpr auto tile_product_avx512 = [](auto&&...) { std::abort(); };
constexpr auto sparse_product_avx512 = [](auto&&...) { std::abort(); };
constexpr auto gather_transposed_avx512 = [](auto&&...) { std::abort(); };

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
  tile_product_avx512(m, n, k, a, lda, b, ldb, c, ldc);
}

void sparse_product(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                    int64_t ldb, float* c, int64_t ldc) {
  sparse_product_avx512(m, n, k, a, lda, b, ldb, c, ldc);
}

void transpose(const float* x, int64_t rows, int64_t columns, float* out, int64_t stride) {
  for (int64_t k = 0; k < columns; ++k) {
    for (int64_t e = 0; e < rows; ++e) out[k * stride + e] = x[e * columns + k];
  }
}

void gather_transposed(const uint8_t* pixels, const int64_t* rows, int64_t begin, int64_t end,
                       int64_t features, float* x, float* x_t, int64_t stride) {
  gather_transposed_avx512(pixels, rows, begin, end, features, x, x_t, stride);
}

}  // namespace l2sweep::fused
