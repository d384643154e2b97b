// The cohort guarantee under a BLAS that rounds by alignment (issue 22): ctest runs this and
// the cohort tests with tests/support/alignment_sensitive_blas.cpp preloaded
// (cohort.alignment_sensitive_blas). Run without it, these tests skip.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace l2sweep {
namespace {

using Counter = long (*)();

Counter counter(const char* name) { return reinterpret_cast<Counter>(::dlsym(RTLD_DEFAULT, name)); }

TEST(AlignmentSensitiveBlas, MovesAProductWithAMisalignedOperandAndNoOther) {
  const Counter calls = counter("l2sweep_blas_calls");
  const Counter perturbed = counter("l2sweep_blas_perturbed");
  if (calls == nullptr || perturbed == nullptr) {
    GTEST_SKIP() << "the alignment-sensitive BLAS is not preloaded";
  }
  torch::manual_seed(0);
  const torch::Tensor a = torch::randn({10, 32});
  const torch::Tensor b = torch::randn({32, 1});
  // The same matrix one float into a buffer: 4 bytes off a 64-byte boundary.
  const torch::Tensor shifted = torch::zeros({10 * 32 + 1}).narrow(0, 1, 10 * 32).view({10, 32});
  shifted.copy_(a);
  const long before = calls();
  const torch::Tensor aligned_product = torch::mm(a, b);
  if (calls() == before) {
    GTEST_SKIP() << "products do not reach the preloaded BLAS (this LibTorch links its BLAS "
                    "statically)";
  }
  const long moved = perturbed();
  EXPECT_TRUE(torch::equal(torch::mm(a, b), aligned_product));
  EXPECT_EQ(perturbed(), moved);
  EXPECT_FALSE(torch::equal(torch::mm(shifted, b), aligned_product));
  EXPECT_EQ(perturbed(), moved + 1);
}

}  // namespace
}  // namespace l2sweep
