#pragma once

// The fused CPU step's own matrix products (lib/train/src/engines/fused/fused_cpu.cpp), and
// the gather of a batch for them: private to the train layer.

#include <cstdint>

namespace l2sweep::fused {

/// Whether this process makes the step's products with tile_product and sparse_product (a CPU
/// with AVX-512, unless L2SWEEP_PRODUCTS=blas asks for the BLAS): decided once per process, so a
/// member's bits never depend on anything but the machine and build.
bool tile_products();

/// Row-major C[m, n] = A[m, k] B[k, n] (row strides lda, ldb, ldc), any m: each element one
/// chain of fused multiply-adds over k in order, in registers (14 rows by 32 columns at a time,
/// then 8 rows and what is left, the last columns masked), so an element's bits depend only on
/// its row of A and column of B, never on the shapes around it. AVX-512 only: call it where
/// tile_products() holds.
void tile_product(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                  int64_t ldb, float* c, int64_t ldc);

/// tile_product for a left operand that is mostly zero (the gradient of a ReLU layer, zero
/// wherever a hidden unit was off): each row of A lists its nonzero terms once, and each element
/// is their chain of fused multiply-adds over k in order, from zero. Skipping a zero term adds
/// nothing to a chain that starts at +0, so for finite B the values are tile_product's, in about
/// the time of the nonzero terms; only a zero result can differ, in its sign (a chain that is
/// -0 after an underflowing product stays -0 here, where a skipped +0 term would make it +0).
/// Any m. AVX-512 only: call it where tile_products() holds.
void sparse_product(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                    int64_t ldb, float* c, int64_t ldc);

/// out[k * stride + e] = x[e * columns + k] for `rows` examples of `columns` values: (part of)
/// the batch transposed, for the forward product's B operand.
void transpose(const float* x, int64_t rows, int64_t columns, float* out, int64_t stride);

/// Rows `rows[begin, end)` of `pixels` (uint8, `features` per row) as float32 pixel / 255 (IEEE
/// division: the bits of gather_rows) into x[e * features + k] (unless x is null) and
/// x_t[k * stride + e] in one pass, 16 rows by 16 features at a time. AVX-512 only: call it
/// where tile_products() holds.
void gather_transposed(const uint8_t* pixels, const int64_t* rows, int64_t begin, int64_t end,
                       int64_t features, float* x, float* x_t, int64_t stride);

}  // namespace l2sweep::fused
