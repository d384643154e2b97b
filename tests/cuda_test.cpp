#include <gtest/gtest.h>
#include <torch/cuda.h>

#include "l2sweep/data.h"
#include "l2sweep/sweep.h"
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
  const Datasets host = load_datasets({testing::fixture_dir(), 200, int64_t{500}});
  const torch::Device cuda(torch::kCUDA, 0);
  Datasets device_data = host;
  device_data.train = host.train.to(cuda);
  device_data.val = host.val.to(cuda);
  device_data.test = host.test.to(cuda);
  SweepConfig config;
  config.l2_strengths = {1e-3};
  config.epochs = 2;
  SweepObserver quiet;
  const auto cpu = run_sweep(config, host, torch::kCPU, quiet);
  const auto gpu = run_sweep(config, device_data, cuda, quiet);
  // Same initial weights and batch order; only the kernels' rounding differs.
  const EpochMetrics& a = cpu[0].history.back();
  const EpochMetrics& b = gpu[0].history.back();
  EXPECT_NEAR(a.loss, b.loss, 2e-3);
  EXPECT_NEAR(a.val_loss, b.val_loss, 2e-3);
  EXPECT_NEAR(a.val_accuracy, b.val_accuracy, 0.02);
  EXPECT_NEAR(a.w1_norm, b.w1_norm, 1e-2);
}

}  // namespace
}  // namespace l2sweep
