// A BLAS that rounds by alignment, as real ones do on some CPUs (MKL's gemv paths on the AMD
// EPYC machines of issue 22, and under MKL_ENABLE_INSTRUCTIONS=SSE4_2 on Intel): preloaded
// (LD_PRELOAD) in front of the real BLAS, it forwards sgemm_ and sgemv_ and then moves the
// first result element by one ulp whenever an operand does not start on a 64-byte boundary.
// Under it, a member whose products see other alignments in another cohort gets other bits,
// so the cohort tests fail unless every engine hands the BLAS aligned operands in any cohort.
// The counters tell a test whether products reach this BLAS at all (LibTorch builds that
// link their BLAS statically bypass it, and the test then skips).
#include <dlfcn.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace {

using Sgemm = void (*)(const char*, const char*, const int*, const int*, const int*, const float*,
                       const float*, const int*, const float*, const int*, const float*, float*,
                       const int*);
using Sgemv = void (*)(const char*, const int*, const int*, const float*, const float*, const int*,
                       const float*, const int*, const float*, float*, const int*);

std::atomic<long> calls{0};
std::atomic<long> perturbed{0};

bool misaligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % 64 != 0; }

template <typename Function>
Function next_symbol(const char* name) {
  void* symbol = ::dlsym(RTLD_NEXT, name);
  if (symbol == nullptr) {
    std::fprintf(stderr, "alignment_sensitive_blas: no %s behind this library\n", name);
    std::abort();
  }
  return reinterpret_cast<Function>(symbol);
}

void count(bool bad, float* first) {
  ++calls;
  if (bad) {
    *first = std::nextafter(*first, std::numeric_limits<float>::infinity());
    ++perturbed;
  }
}

}  // namespace

extern "C" {

/// Products that reached this BLAS, and those it moved for a misaligned operand.
long l2sweep_blas_calls() { return calls.load(); }
long l2sweep_blas_perturbed() { return perturbed.load(); }

void sgemm_(const char* ta, const char* tb, const int* m, const int* n, const int* k,
            const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
            const float* beta, float* c, const int* ldc) {
  static const auto real = next_symbol<Sgemm>("sgemm_");
  real(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  if (*m > 0 && *n > 0) count(misaligned(a) || misaligned(b) || misaligned(c), c);
}

void sgemv_(const char* t, const int* m, const int* n, const float* alpha, const float* a,
            const int* lda, const float* x, const int* incx, const float* beta, float* y,
            const int* incy) {
  static const auto real = next_symbol<Sgemv>("sgemv_");
  real(t, m, n, alpha, a, lda, x, incx, beta, y, incy);
  if (*m > 0 && *n > 0) count(misaligned(a) || misaligned(x) || misaligned(y), y);
}

}  // extern "C"
