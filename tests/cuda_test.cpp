#include <gtest/gtest.h>
#include <torch/cuda.h>

#include "l2sweep/data/data.h"
#include "l2sweep/sweep/runner.h"
#include "test_support.h"

namespace l2sweep {
namespace {

TEST(Cuda, AutoPicksTheGpuWhenThereIsOne) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  EXPECT_TRUE(resolve_device("auto").is_cuda());
  EXPECT_EQ(resolve_device("cuda").index(), 0);
}

TEST(Cuda, TrainsTheSameExperimentAsTheCpuUpToFloatRounding) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const Datasets& host = testing::small_fixture();
  const torch::Device cuda(torch::kCUDA, 0);
  const Datasets device_data = host.to(cuda);
  SweepConfig config;
  config.l2_strengths = {1e-3};
  config.epochs = 2;
  SweepObserver quiet;
  const auto cpu = testing::sweep(config, host, torch::kCPU, quiet);
  const auto gpu = testing::sweep(config, device_data, cuda, quiet);
  // Same initial weights and batch order; only the kernels' rounding differs.
  testing::expect_same_run_up_to_rounding(gpu[0].history.back(), cpu[0].history.back());
}

}  // namespace
}  // namespace l2sweep
