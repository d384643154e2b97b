#pragma once

// The fused CPU step's matrix products (lib/train/src/engines/fused/fused_cpu.cpp): private to the
// train layer.

#include <cstdint>

namespace l2sweep::fused {

/// Row-major C[m, n] = op(A)[m, k] op(B)[k, n], op transposing when asked; `lda`, `ldb` and
/// `ldc` are the row strides of the arrays as stored. One BLAS call, the same one for the same
/// shapes and strides, on operands that start on 64-byte boundaries, whatever else the step
/// computes: an operand that does not is computed from (or into) an aligned copy. The BLAS is
/// the one LibTorch itself calls, called directly where its sgemm_ is visible in the process,
/// else through LibTorch (at::mm_out).
void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const float* a,
          int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc);

}  // namespace l2sweep::fused
