// A cohort's members train together, and each member's numbers must not depend on that:
// not on which other members share its cohort, nor on jobs, nor on resuming members that had
// reached different epochs.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include "l2sweep/base/stop_token.h"
#include "l2sweep/sweep/plan.h"
#include "l2sweep/sweep/runner.h"
#include "l2sweep/train/checkpoint.h"
#include "l2sweep/train/engine_registry.h"
#include "test_support.h"

namespace l2sweep {
namespace {

/// An engine on a device: every engine on each device it runs on (the tensor engine on a GPU
/// with its CUDA graphs, where cuBLAS could pick kernels by batch count: issue 22).
struct EngineOnDevice {
  std::string engine;
  bool cuda;
};

void PrintTo(const EngineOnDevice& param, std::ostream* out) {
  *out << param.engine << (param.cuda ? " on CUDA" : " on the CPU");
}

std::vector<EngineOnDevice> every_engine_on_every_device() {
  std::vector<EngineOnDevice> all;
  for (const EngineEntry& engine : engine_registry()) {
    if (engine.runs_on_cpu) all.push_back({engine.name, false});
    if (engine.runs_on_cuda) all.push_back({engine.name, true});
  }
  return all;
}

torch::Device device_of(const EngineOnDevice& param) {
  return param.cuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
}

/// The small fixture on the case's device.
const Datasets& data_for(const EngineOnDevice& param) {
  if (!param.cuda) return testing::small_fixture();
  static const Datasets on_gpu = testing::small_fixture().to(torch::Device(torch::kCUDA, 0));
  return on_gpu;
}

SweepConfig small_config(const EngineOnDevice& param) {
  const std::string engine = param.engine;
  SweepConfig config;
  config.l2_strengths = {0.0, 1e-3, 1e-2};
  config.epochs = 3;
  config.val_size = 200;
  config.train_size = 500;
  config.device = param.cuda ? "cuda" : "cpu";
  config.engine = engine;
  config.jobs = 1;
  return config;
}

/// Every number of two runs' results, bit for bit (timings aside).
void expect_identical(const RunResult& a, const RunResult& b) {
  EXPECT_EQ(a.spec.l2, b.spec.l2);
  EXPECT_EQ(a.spec.dropout, b.spec.dropout);
  EXPECT_EQ(a.spec.weight_decay, b.spec.weight_decay);
  EXPECT_EQ(a.status, b.status);
  ASSERT_EQ(a.history.size(), b.history.size()) << "l2 " << a.spec.l2;
  for (size_t e = 0; e < a.history.size(); ++e) {
    EXPECT_EQ(a.history[e].epoch, b.history[e].epoch);
    for (const EpochMetricField& field : kEpochMetricFields) {
      if (std::string(field.name) == "epoch_seconds") continue;
      EXPECT_EQ(a.history[e].*field.member, b.history[e].*field.member)
          << field.name << " of " << run_name(a.spec) << " at epoch " << e + 1;
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

/// Asks the sweep to stop once the run with plan index `index` has completed `epochs` epochs.
class StopAfterRun : public SweepObserver {
 public:
  StopAfterRun(int64_t index, int64_t epochs) : index_(index), epochs_(epochs) {}
  void on_epoch_end(const RunSpec& run, const EpochMetrics& m) override {
    if (run.index == index_ && m.epoch == epochs_) source.request_stop();
  }
  StopSource source;

 private:
  int64_t index_;
  int64_t epochs_;
};

class CohortMembers : public ::testing::TestWithParam<EngineOnDevice> {
 protected:
  // train_cohort on this thread with run_sweep's CPU settings (one BLAS thread).
  void SetUp() override {
    if (GetParam().cuda && !torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
    prepare_cpu_training();
  }
  const Datasets& data() const { return data_for(GetParam()); }
  torch::Device device() const { return device_of(GetParam()); }
};

/// Trains `strengths` (seed 0) as one cohort, through train_cohort, with `options`, on the
/// device `config` names.
std::vector<RunResult> train_together(const SweepConfig& config, std::vector<double> strengths,
                                      SweepObserver& observer, const RunnerOptions& options = {}) {
  SweepConfig part = config;
  part.l2_strengths = std::move(strengths);
  const EngineOnDevice where{config.engine, config.device == "cuda"};
  const Plan plan = make_plan(part, device_of(where));
  return train_cohort(cohorts_of(plan.runs).at(0), plan, data_for(where), observer, options);
}

TEST_P(CohortMembers, AMembersNumbersDoNotDependOnTheOtherMembers) {
  SweepObserver quiet;
  const SweepConfig config = small_config(GetParam());
  const auto together = train_together(config, config.l2_strengths, quiet);
  ASSERT_EQ(together.size(), 3u);
  for (const double l2 : config.l2_strengths) {
    const auto alone = train_together(config, {l2}, quiet);
    expect_identical(alone.at(0), find(together, l2));
  }
  const auto pair = train_together(config, {1e-2, 0.0}, quiet);  // another order, another mate
  expect_identical(find(pair, 0.0), find(together, 0.0));
  expect_identical(find(pair, 1e-2), find(together, 1e-2));
}

TEST_P(CohortMembers, AMemberOfATwelveStrengthGridHasItsNumbersAlone) {
  SweepObserver quiet;
  SweepConfig config = small_config(GetParam());
  config.epochs = 2;
  const std::vector<double> grid = {0,    1e-6, 3e-6, 1e-5, 3e-5, 1e-4,
                                    3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1};
  const auto together = train_together(config, grid, quiet);
  ASSERT_EQ(together.size(), 12u);
  for (const double l2 : {0.0, 1e-3, 1e-1}) {
    expect_identical(train_together(config, {l2}, quiet).at(0), find(together, l2));
  }
}

TEST_P(CohortMembers, ResumesMembersThatReachedDifferentEpochsBitForBit) {
  SweepObserver quiet;
  const SweepConfig config = small_config(GetParam());
  const auto reference = train_together(config, config.l2_strengths, quiet);

  testing::TempDir dir;
  const CheckpointStore store(dir / "checkpoints", config);
  RunnerOptions options;
  options.checkpoints = &store;
  // l2 = 0 finishes; l2 = 1e-3 stops after its first epoch; l2 = 1e-2 never starts.
  const auto finished = train_together(config, {0.0}, quiet, options);
  ASSERT_EQ(finished.at(0).status, RunStatus::kCompleted);
  StopAfterRun stop(/*index=*/0, 1);  // the strength trained alone is its plan's first run
  RunnerOptions stopping = options;
  stopping.stop = stop.source.token();
  const auto stopped = train_together(config, {1e-3}, stop, stopping);
  ASSERT_EQ(stopped.at(0).status, RunStatus::kInterrupted);
  ASSERT_EQ(stopped.at(0).history.size(), 1u);

  // One cohort again: a finished member is replayed, the others continue as two groups.
  const auto resumed = train_together(config, config.l2_strengths, quiet, options);
  ASSERT_EQ(resumed.size(), 3u);
  for (size_t r = 0; r < reference.size(); ++r) expect_identical(resumed[r], reference[r]);
}

TEST_P(CohortMembers, TheSweepGivesEachRunTheSameNumbersWithAnyJobs) {
  SweepObserver quiet;
  SweepConfig config = small_config(GetParam());
  const auto together = train_together(config, config.l2_strengths, quiet);
  config.jobs = 3;
  const auto sweep = testing::sweep(config, data(), device(), quiet);
  ASSERT_EQ(sweep.size(), 3u);
  for (size_t r = 0; r < sweep.size(); ++r) expect_identical(sweep[r], together[r]);
}

TEST_P(CohortMembers, DropoutAndWeightDecayMembersHaveTheirNumbersAloneAndAfterAResume) {
  SweepObserver quiet;
  SweepConfig config = small_config(GetParam());
  config.l2_strengths = {0.0, 1e-3};
  config.dropout_rates = {0.0, 0.5};
  config.weight_decays = {0.0, 0.5};
  const Plan plan = make_plan(config, device());
  const Cohort cohort = cohorts_of(plan.runs).at(0);
  ASSERT_EQ(cohort.runs.size(), 8u);
  const Datasets& data = this->data();
  const auto together = train_cohort(cohort, plan, data, quiet, {});
  ASSERT_EQ(together.size(), 8u);
  // Dropout and weight decay did something: each changes the control's numbers.
  EXPECT_NE(together[0].history.back().val_loss, together[1].history.back().val_loss);  // wd
  EXPECT_NE(together[0].history.back().val_loss, together[2].history.back().val_loss);  // dropout
  EXPECT_LT(together[1].history.back().w1_norm, together[0].history.back().w1_norm);
  for (size_t k = 1; k < together.size(); ++k) {
    const Cohort alone{cohort.seed, {cohort.runs[k]}};
    const auto single = train_cohort(alone, plan, data, quiet, {});
    expect_identical(single.at(0), together[k]);
  }

  // Stop the dropout-and-decay member with L2 after its first epoch and the rest after their
  // second, then resume: the same numbers as uninterrupted.
  testing::TempDir dir;
  const CheckpointStore store(dir / "checkpoints", config);
  RunnerOptions options;
  options.checkpoints = &store;
  const Cohort last{cohort.seed, {cohort.runs.back()}};
  StopAfterRun first(cohort.runs.back().index, 1);
  RunnerOptions stopping = options;
  stopping.stop = first.source.token();
  ASSERT_EQ(train_cohort(last, plan, data, first, stopping).at(0).history.size(), 1u);
  Cohort rest{cohort.seed, {}};
  for (size_t k = 0; k + 1 < cohort.runs.size(); ++k) rest.runs.push_back(cohort.runs[k]);
  StopAfterRun second(cohort.runs.front().index, 2);
  stopping.stop = second.source.token();
  ASSERT_EQ(train_cohort(rest, plan, data, second, stopping).at(0).history.size(), 2u);
  const auto resumed = train_cohort(cohort, plan, data, quiet, options);
  ASSERT_EQ(resumed.size(), together.size());
  for (size_t k = 0; k < together.size(); ++k) expect_identical(resumed[k], together[k]);
}

TEST_P(CohortMembers, ShuffleOnceHoldsForEveryMemberJobCountAndResume) {
  SweepObserver quiet;
  SweepConfig each = small_config(GetParam());
  SweepConfig config = each;
  config.shuffle = Shuffle::kOnce;
  const auto together = train_together(config, config.l2_strengths, quiet);
  const auto reshuffled = train_together(each, each.l2_strengths, quiet);
  ASSERT_EQ(together.size(), 3u);
  for (size_t r = 0; r < together.size(); ++r) {
    // Both modes draw the same first order; from the second epoch on they see other batches.
    EXPECT_EQ(together[r].history[0].loss, reshuffled[r].history[0].loss);
    EXPECT_NE(together[r].history[1].loss, reshuffled[r].history[1].loss);
    const auto alone = train_together(config, {config.l2_strengths[r]}, quiet);
    expect_identical(alone.at(0), together[r]);
  }
  config.jobs = 3;
  const auto sweep = testing::sweep(config, data(), device(), quiet);
  ASSERT_EQ(sweep.size(), 3u);
  for (size_t r = 0; r < sweep.size(); ++r) expect_identical(sweep[r], together[r]);
  config.jobs = 1;

  // Stopped after the second epoch and resumed: the replayed order continues bit for bit.
  testing::TempDir dir;
  const CheckpointStore store(dir / "checkpoints", config);
  RunnerOptions options;
  options.checkpoints = &store;
  StopAfterRun stop(/*index=*/0, 2);
  RunnerOptions stopping = options;
  stopping.stop = stop.source.token();
  ASSERT_EQ(train_together(config, config.l2_strengths, stop, stopping).at(0).history.size(), 2u);
  const auto resumed = train_together(config, config.l2_strengths, quiet, options);
  for (size_t r = 0; r < together.size(); ++r) expect_identical(resumed[r], together[r]);
}

INSTANTIATE_TEST_SUITE_P(EveryEngine, CohortMembers,
                         ::testing::ValuesIn(every_engine_on_every_device()), [](const auto& test) {
                           return test.param.engine + (test.param.cuda ? "_cuda" : "");
                         });

}  // namespace
}  // namespace l2sweep
