#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <thread>

#include "l2sweep/data/data.h"
#include "l2sweep/sweep/runner.h"
#include "test_support.h"

namespace l2sweep {
namespace {

SweepConfig small_config() {
  SweepConfig config;
  config.l2_strengths = {0.0, 1e-3, 1e-2};
  config.epochs = 2;
  config.val_size = 200;
  config.train_size = 500;
  config.device = "cpu";
  return config;
}

class EventLog : public SweepObserver {
 public:
  void on_run_start(const RunSpec& run, int64_t epochs) override {
    events.push_back("start " + std::to_string(run.index) + "/" + std::to_string(epochs));
  }
  void on_batch_end(const Cohort&, int64_t, int64_t, int64_t) override { ++batches; }
  void on_epoch_end(const RunSpec& run, const EpochMetrics& m) override {
    events.push_back("epoch " + std::to_string(run.index) + "." + std::to_string(m.epoch));
  }
  void on_run_end(const RunResult& result) override {
    events.push_back("end " + std::to_string(result.spec.index) + " " + to_string(result.status));
  }
  std::vector<std::string> events;
  int64_t batches = 0;
};

void expect_same_metrics(const EpochMetrics& a, const EpochMetrics& b) {
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_EQ(a.loss, b.loss);
  EXPECT_EQ(a.accuracy, b.accuracy);
  EXPECT_EQ(a.data_loss, b.data_loss);
  EXPECT_EQ(a.val_loss, b.val_loss);
  EXPECT_EQ(a.val_accuracy, b.val_accuracy);
  EXPECT_EQ(a.val_data_loss, b.val_data_loss);
  EXPECT_EQ(a.penalty, b.penalty);
  EXPECT_EQ(a.w1_norm, b.w1_norm);
}

TEST(Sweep, SameOptionsGiveIdenticalMetrics) {
  SweepObserver quiet;
  const auto first = testing::sweep(small_config(), testing::small_fixture(), torch::kCPU, quiet);
  const auto second = testing::sweep(small_config(), testing::small_fixture(), torch::kCPU, quiet);
  ASSERT_EQ(first.size(), second.size());
  for (size_t run = 0; run < first.size(); ++run) {
    ASSERT_EQ(first[run].history.size(), second[run].history.size());
    for (size_t epoch = 0; epoch < first[run].history.size(); ++epoch) {
      expect_same_metrics(first[run].history[epoch], second[run].history[epoch]);
    }
    EXPECT_EQ(first[run].test->accuracy, second[run].test->accuracy);
    EXPECT_EQ(first[run].test->loss, second[run].test->loss);
  }
}

TEST(Sweep, RunningRunsSideBySideGivesIdenticalResultsInPlanOrder) {
  SweepConfig config = small_config();
  config.seeds = 2;
  config.jobs = 1;
  SweepObserver quiet;
  const auto one_by_one = testing::sweep(config, testing::small_fixture(), torch::kCPU, quiet);
  config.jobs = 3;
  EventLog log;
  const auto side_by_side = testing::sweep(config, testing::small_fixture(), torch::kCPU, log);
  ASSERT_EQ(one_by_one.size(), 6u);
  ASSERT_EQ(side_by_side.size(), 6u);
  for (size_t run = 0; run < one_by_one.size(); ++run) {
    EXPECT_EQ(side_by_side[run].spec.index, static_cast<int64_t>(run));
    EXPECT_EQ(side_by_side[run].spec.l2, one_by_one[run].spec.l2);
    EXPECT_EQ(side_by_side[run].spec.seed, one_by_one[run].spec.seed);
    ASSERT_EQ(side_by_side[run].history.size(), 2u);
    for (size_t epoch = 0; epoch < 2; ++epoch) {
      expect_same_metrics(side_by_side[run].history[epoch], one_by_one[run].history[epoch]);
    }
    EXPECT_EQ(side_by_side[run].test->accuracy, one_by_one[run].test->accuracy);
  }
  // Every run still reports start, its epochs in order, and end.
  for (int64_t run = 0; run < 6; ++run) {
    std::vector<std::string> mine;
    for (const auto& event : log.events) {
      // Events read "start R/E", "epoch R.N" or "end R status": R follows the first space.
      if (std::stoll(event.substr(event.find(' ') + 1)) == run) mine.push_back(event);
    }
    const std::string r = std::to_string(run);
    EXPECT_EQ(mine, (std::vector<std::string>{"start " + r + "/2", "epoch " + r + ".1",
                                              "epoch " + r + ".2", "end " + r + " completed"}));
  }
}

TEST(Sweep, UsesEveryCoreByDefaultAndOneUnitAtATimeOnAGpu) {
  SweepConfig config;
  const auto cores = static_cast<int64_t>(std::max(1u, std::thread::hardware_concurrency()));
  // One cohort of 100 runs: its step spread over every core.
  EXPECT_EQ(testing::jobs_for(config, torch::kCPU, 100), 1);
  EXPECT_EQ(testing::threads_for(config, torch::kCPU, 100), cores);
  // One run: its two pieces on up to two threads.
  EXPECT_EQ(testing::jobs_for(config, torch::kCPU, 1), 1);
  EXPECT_EQ(testing::threads_for(config, torch::kCPU, 1), std::min<int64_t>(cores, 2));
  EXPECT_EQ(testing::jobs_for(config, torch::Device(torch::kCUDA, 0), 100), 1);
  config.cuda_graphs = false;  // engine auto on a GPU: the autograd loop
  EXPECT_EQ(testing::jobs_for(config, torch::Device(torch::kCUDA, 0), 100), 1);
  config.jobs = 5;
  EXPECT_EQ(testing::jobs_for(config, torch::kCPU, 3), 3);
}

TEST(Sweep, AnotherSeedGivesOtherMetrics) {
  SweepObserver quiet;
  SweepConfig config = small_config();
  config.l2_strengths = {1e-3};
  const auto a = testing::sweep(config, testing::small_fixture(), torch::kCPU, quiet);
  config.seed = 1;
  const auto b = testing::sweep(config, testing::small_fixture(), torch::kCPU, quiet);
  EXPECT_NE(a[0].history.back().loss, b[0].history.back().loss);
}

TEST(Sweep, MetricsObeyThePenaltyIdentitiesAndStrongerL2ShrinksW1) {
  SweepObserver quiet;
  const SweepConfig config = small_config();
  const auto results = testing::sweep(config, testing::small_fixture(), torch::kCPU, quiet);
  ASSERT_EQ(results.size(), 3u);
  for (const RunResult& run : results) {
    EXPECT_EQ(run.status, RunStatus::kCompleted);
    ASSERT_EQ(run.history.size(), 2u);
    ASSERT_TRUE(run.test.has_value());
    for (const EpochMetrics& m : run.history) {
      EXPECT_NEAR(m.val_loss - m.val_data_loss, m.penalty, 1e-6 * (1 + m.penalty));
      EXPECT_NEAR(m.penalty, run.spec.l2 * m.w1_norm * m.w1_norm, 1e-5 * (1 + m.penalty));
      EXPECT_GE(m.accuracy, 0.0);
      EXPECT_LE(m.accuracy, 1.0);
      if (run.spec.l2 == 0.0) {
        EXPECT_EQ(m.loss, m.data_loss);
      } else {
        EXPECT_GT(m.loss - m.data_loss, 0.0);
      }
    }
    EXPECT_NEAR(run.test->loss - run.test->data_loss, run.history.back().penalty, 1e-6);
  }
  EXPECT_GT(results[0].history.back().w1_norm, results[1].history.back().w1_norm);
  EXPECT_GT(results[1].history.back().w1_norm, results[2].history.back().w1_norm);
  // The strongest penalty costs accuracy on the training set relative to none.
  EXPECT_GT(results[2].history.back().loss, results[0].history.back().loss);
}

TEST(Sweep, ReportsEveryRunEpochAndBatchInOrder) {
  EventLog log;
  SweepConfig config = small_config();
  config.engine = "autograd";  // runs one after another
  config.jobs = 1;
  config.l2_strengths = {1e-4, 1e-2};
  testing::sweep(config, testing::small_fixture(), torch::kCPU, log);
  EXPECT_EQ(log.events,
            (std::vector<std::string>{"start 0/2", "epoch 0.1", "epoch 0.2", "end 0 completed",
                                      "start 1/2", "epoch 1.1", "epoch 1.2", "end 1 completed"}));
  EXPECT_EQ(log.batches, 2 * 2 * 16);  // ceil(500 / 32) = 16 batches per epoch
}

TEST(Sweep, ADivergedRunStopsAndTheOthersContinue) {
  EventLog log;
  SweepConfig config = small_config();
  // 1e38 * sum(W1^2) overflows float32: the loss is infinite from the first batch.
  config.l2_strengths = {1e38, 1e-3};
  config.engine = "autograd";  // runs one after another
  config.jobs = 1;
  config.epochs = 3;
  const auto results = testing::sweep(config, testing::small_fixture(), torch::kCPU, log);
  EXPECT_EQ(results[0].status, RunStatus::kDiverged);
  EXPECT_EQ(results[0].history.size(), 1u);
  EXPECT_FALSE(results[0].test.has_value());
  EXPECT_EQ(results[1].status, RunStatus::kCompleted);
  EXPECT_EQ(results[1].history.size(), 3u);
  EXPECT_EQ(log.events.front(), "start 0/3");
  EXPECT_EQ(log.events[2], "end 0 diverged");
}

TEST(Sweep, ReportsACohortSteppedTogetherEpochByEpoch) {
  EventLog log;
  SweepConfig config = small_config();
  config.engine = "fused";  // steps the cohort's runs together
  config.jobs = 1;
  config.l2_strengths = {1e38, 1e-4, 1e-2};
  testing::sweep(config, testing::small_fixture(), torch::kCPU, log);
  // Every run of the cohort starts, then each epoch ends for every run still training; the
  // diverged one ends after its first.
  EXPECT_EQ(log.events,
            (std::vector<std::string>{"start 0/2", "start 1/2", "start 2/2", "epoch 0.1",
                                      "end 0 diverged", "epoch 1.1", "epoch 2.1", "epoch 1.2",
                                      "end 1 completed", "epoch 2.2", "end 2 completed"}));
  // Two reports an epoch: its 15 full batches stepped as one run, then the partial one.
  EXPECT_EQ(log.batches, 2 * 2);
}

TEST(Sweep, PlansEverySeedOfAStrengthBeforeTheNextStrength) {
  SweepConfig config;
  config.l2_strengths = {0.01, 0.0};
  config.seed = 7;
  config.seeds = 2;
  const auto runs = plan_runs(config);
  ASSERT_EQ(runs.size(), 4u);
  const std::vector<std::pair<double, uint64_t>> expected = {
      {0.01, 7}, {0.01, 8}, {0.0, 7}, {0.0, 8}};
  for (size_t i = 0; i < runs.size(); ++i) {
    EXPECT_EQ(runs[i].l2, expected[i].first);
    EXPECT_EQ(runs[i].seed, expected[i].second);
    EXPECT_EQ(runs[i].index, static_cast<int64_t>(i));
    EXPECT_EQ(runs[i].count, 4);
  }
  EXPECT_EQ(run_name(runs[2]), "l2-0_seed-7");
}

TEST(Sweep, BestEpochIsTheFirstWithTheHighestValidationAccuracy) {
  RunResult run;
  EXPECT_EQ(run.best_epoch(), nullptr);
  for (const double accuracy : {0.5, 0.8, 0.7, 0.8}) {
    EpochMetrics m;
    m.epoch = static_cast<int64_t>(run.history.size()) + 1;
    m.val_accuracy = accuracy;
    run.history.push_back(m);
  }
  EXPECT_EQ(run.best_epoch()->epoch, 2);
}

}  // namespace
}  // namespace l2sweep
