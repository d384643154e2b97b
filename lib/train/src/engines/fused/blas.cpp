#include "blas.h"

#include <ATen/ATen.h>
#include <dlfcn.h>
#include <torch/types.h>

#include <algorithm>
#include <array>
#include <cstdint>

namespace l2sweep::fused {
namespace {

/// Fortran BLAS's sgemm, as every BLAS exports it (OpenBLAS, MKL, the reference BLAS).
using Sgemm = void (*)(const char*, const char*, const int*, const int*, const int*, const float*,
                       const float*, const int*, const float*, const int*, const float*, float*,
                       const int*);

/// The BLAS LibTorch itself calls for its float products, found in the process: calling it
/// directly saves LibTorch's per-operation dispatch, a few microseconds on every one of the
/// step's small products. Null where no such symbol is visible (the products then go through
/// LibTorch).
Sgemm find_sgemm() {
  static const auto sgemm = reinterpret_cast<Sgemm>(::dlsym(RTLD_DEFAULT, "sgemm_"));
  return sgemm;
}

/// Alignment of every operand the BLAS sees. A BLAS may pick its code path, and so its
/// rounding, by the operands' alignment (MKL's gemv paths do on some CPUs: issue 22), and a
/// member's pieces of the stacked buffers (its logits, its rows of a tail batch) start at
/// offsets that depend on its place in the cohort. tests/support/alignment_sensitive_blas.c
/// is a BLAS that rounds by alignment, for the cohort tests.
constexpr uintptr_t kOperandAlignment = 64;

bool is_aligned(const float* p) { return reinterpret_cast<uintptr_t>(p) % kOperandAlignment == 0; }

/// Floats a row-major array of `rows` rows of `cols` with row stride `ld` spans.
int64_t span(int64_t rows, int64_t cols, int64_t ld) {
  return rows == 0 ? 0 : (rows - 1) * ld + cols;
}

/// This thread's buffer `which` of at least `size` floats, 64-byte aligned (c10's allocator).
float* scratch_buffer(int which, int64_t size) {
  thread_local std::array<torch::Tensor, 3> buffers;
  torch::Tensor& buffer = buffers[static_cast<size_t>(which)];
  if (!buffer.defined() || buffer.numel() < size) {
    buffer =
        torch::empty({std::max<int64_t>(size, 1)}, torch::TensorOptions().dtype(torch::kFloat32));
  }
  return buffer.data_ptr<float>();
}

void unaligned_gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k,
                    const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                    int64_t ldc);

}  // namespace

void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const float* a,
          int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc) {
  if (!is_aligned(a) || !is_aligned(b) || !is_aligned(c)) {
    unaligned_gemm(transpose_a, transpose_b, m, n, k, a, lda, b, ldb, c, ldc);
    return;
  }
  if (const Sgemm sgemm = find_sgemm()) {
    // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T.
    const int mm = static_cast<int>(n), nn = static_cast<int>(m), kk = static_cast<int>(k);
    const int la = static_cast<int>(ldb), lb = static_cast<int>(lda), lc = static_cast<int>(ldc);
    const float one = 1.0f, zero = 0.0f;
    sgemm(transpose_b ? "T" : "N", transpose_a ? "T" : "N", &mm, &nn, &kk, &one, b, &la, a, &lb,
          &zero, c, &lc);
    return;
  }
  const auto f = torch::TensorOptions().dtype(torch::kFloat32);
  const auto view = [&](const float* data, bool transpose, int64_t rows, int64_t cols,
                        int64_t stride) {
    const torch::Tensor t =
        transpose ? torch::from_blob(const_cast<float*>(data), {cols, rows}, {stride, 1}, f).t()
                  : torch::from_blob(const_cast<float*>(data), {rows, cols}, {stride, 1}, f);
    return t;
  };
  torch::Tensor out = torch::from_blob(c, {m, n}, {ldc, 1}, f);
  at::mm_out(out, view(a, transpose_a, m, k, lda), view(b, transpose_b, k, n, ldb));
}

namespace {

void unaligned_gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k,
                    const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                    int64_t ldc) {
  // Each misaligned operand moves to a buffer of its own, with its row stride kept, so that
  // the BLAS sees the same strides as for an aligned one.
  const auto place = [](int which, const float* data, int64_t size) -> const float* {
    if (is_aligned(data)) return data;
    float* copy = scratch_buffer(which, size);
    std::copy(data, data + size, copy);
    return copy;
  };
  const float* aa = place(0, a, transpose_a ? span(k, m, lda) : span(m, k, lda));
  const float* bb = place(1, b, transpose_b ? span(n, k, ldb) : span(k, n, ldb));
  const int64_t c_size = span(m, n, ldc);
  float* cc = is_aligned(c) ? c : scratch_buffer(2, c_size);
  gemm(transpose_a, transpose_b, m, n, k, aa, lda, bb, ldb, cc, ldc);
  if (cc != c) {
    for (int64_t row = 0; row < m; ++row)
      std::copy(cc + row * ldc, cc + row * ldc + n, c + row * ldc);
  }
}

}  // namespace
}  // namespace l2sweep::fused
