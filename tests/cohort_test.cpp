// A cohort's members train together, and each member's numbers must not depend on that:
// not on which other members share its cohort, nor on jobs, nor on resuming members that had
// reached different epochs.
#include <gtest/gtest.h>

#include "l2sweep/base/stop_token.h"
#include "l2sweep/config/plan.h"
#include "l2sweep/sweep/runner.h"
#include "l2sweep/train/checkpoint.h"
#include "test_support.h"

namespace l2sweep {
namespace {

SweepConfig small_config(EngineKind engine) {
  SweepConfig config;
  config.l2_strengths = {0.0, 1e-3, 1e-2};
  config.epochs = 3;
  config.val_size = 200;
  config.train_size = 500;
  config.device = "cpu";
  config.engine = engine;
  config.jobs = 1;
  return config;
}

/// Every number of two runs' results, bit for bit (timings aside).
void expect_identical(const RunResult& a, const RunResult& b) {
  EXPECT_EQ(a.spec.l2, b.spec.l2);
  EXPECT_EQ(a.status, b.status);
  ASSERT_EQ(a.history.size(), b.history.size()) << "l2 " << a.spec.l2;
  for (size_t e = 0; e < a.history.size(); ++e) {
    EXPECT_EQ(a.history[e].epoch, b.history[e].epoch);
    for (const EpochMetricField& field : kEpochMetricFields) {
      if (std::string(field.name) == "epoch_seconds") continue;
      EXPECT_EQ(a.history[e].*field.member, b.history[e].*field.member)
          << field.name << " of l2 " << a.spec.l2 << " at epoch " << e + 1;
    }
  }
  ASSERT_EQ(a.test.has_value(), b.test.has_value());
  if (a.test) {
    EXPECT_EQ(a.test->loss, b.test->loss);
    EXPECT_EQ(a.test->accuracy, b.test->accuracy);
  }
}

const RunResult& find(const std::vector<RunResult>& runs, double l2) {
  for (const RunResult& run : runs) {
    if (run.spec.l2 == l2) return run;
  }
  throw std::logic_error("no such run");
}

/// Asks the sweep to stop once `run_l2` has completed `epochs` epochs.
class StopAfter : public SweepObserver {
 public:
  StopAfter(double run_l2, int64_t epochs) : l2_(run_l2), epochs_(epochs) {}
  void on_epoch_end(const RunSpec& run, const EpochMetrics& m) override {
    if (run.l2 == l2_ && m.epoch == epochs_) source.request_stop();
  }
  StopSource source;

 private:
  double l2_;
  int64_t epochs_;
};

class CohortMembers : public ::testing::TestWithParam<EngineKind> {};

TEST_P(CohortMembers, AMembersNumbersDoNotDependOnTheOtherMembers) {
  SweepObserver quiet;
  const SweepConfig config = small_config(GetParam());
  const auto together = testing::sweep(config, testing::small_fixture(), torch::kCPU, quiet);
  ASSERT_EQ(together.size(), 3u);
  for (const double l2 : config.l2_strengths) {
    SweepConfig alone = config;
    alone.l2_strengths = {l2};
    const auto single = testing::sweep(alone, testing::small_fixture(), torch::kCPU, quiet);
    expect_identical(single.at(0), find(together, l2));
  }
  SweepConfig sliced = config;  // three units of one run each, side by side
  sliced.jobs = 3;
  const auto side_by_side = testing::sweep(sliced, testing::small_fixture(), torch::kCPU, quiet);
  for (size_t r = 0; r < together.size(); ++r) expect_identical(side_by_side[r], together[r]);
}

TEST_P(CohortMembers, ResumesMembersThatReachedDifferentEpochsBitForBit) {
  SweepObserver quiet;
  const SweepConfig config = small_config(GetParam());
  const auto reference = testing::sweep(config, testing::small_fixture(), torch::kCPU, quiet);

  testing::TempDir dir;
  const CheckpointStore store(dir / "checkpoints");
  const auto run_part = [&](std::vector<double> strengths, SweepObserver& observer,
                            StopToken stop) {
    SweepConfig part = config;
    part.l2_strengths = std::move(strengths);
    RunnerOptions options;
    options.checkpoints = &store;
    options.stop = stop;
    return run_sweep(make_plan(part, torch::kCPU), testing::small_fixture(), observer, options);
  };
  // l2 = 0 finishes; l2 = 1e-3 stops after its first epoch; l2 = 1e-2 never starts.
  EXPECT_FALSE(run_part({0.0}, quiet, {}).interrupted);
  StopAfter stop(1e-3, 1);
  const SweepOutcome stopped = run_part({1e-3}, stop, stop.source.token());
  ASSERT_TRUE(stopped.interrupted);
  ASSERT_EQ(stopped.runs.at(0).history.size(), 1u);

  const SweepOutcome resumed = run_part(config.l2_strengths, quiet, {});
  EXPECT_FALSE(resumed.interrupted);
  ASSERT_EQ(resumed.runs.size(), 3u);
  for (size_t r = 0; r < reference.size(); ++r) expect_identical(resumed.runs[r], reference[r]);
}

INSTANTIATE_TEST_SUITE_P(EveryEngine, CohortMembers,
                         ::testing::Values(EngineKind::kAutograd, EngineKind::kFused,
                                           EngineKind::kDevice),
                         [](const auto& test) { return std::string(to_string(test.param)); });

}  // namespace
}  // namespace l2sweep
