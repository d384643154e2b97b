// The test binary's main: every test runs with the CPU settings a sweep trains with
// (prepare_cpu_training: one intra-op and one BLAS thread, denormals flushed to zero), as
// run_sweep sets them for each unit. Without them, each test process keeps a pool of one
// OpenMP thread per core whose threads spin while they wait, and `ctest --parallel 2` runs two
// such processes on two cores: in PyTorch's wheel (its own libgomp), 3,000 Adam-sized
// element-wise operations take 0.15 s in one process and 6.7 s each in two side by side, and
// 0.27 s with one thread each (Intel Xeon, 2 cores): the likely reason tracking tests that take
// seconds alone took minutes in the wheel build on a busy machine (issue 22).
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
