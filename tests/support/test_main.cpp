// The test binary's main: every test runs with the CPU settings a sweep trains with
// (prepare_cpu_training: one intra-op and one BLAS thread, denormals flushed to zero), as
// run_sweep sets them for each unit. Without them, LibTorch's and the BLAS's thread pools
// spin beside those of the other test process that `ctest --parallel 2` runs on the same two
// cores, and unflushed denormals take the slow path of some CPUs. These are the two suspects
// for tracking tests that took minutes instead of seconds on a busy AMD machine in PyTorch's
// wheel build (issue 22); neither slowdown reproduces on an idle Intel machine.
#include <gtest/gtest.h>

#include "l2sweep/sweep/runner.h"

namespace {

class SweepCpuSettings : public ::testing::Environment {
 public:
  void SetUp() override { l2sweep::prepare_cpu_training(); }
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new SweepCpuSettings);  // gtest owns it
  return RUN_ALL_TESTS();
}
