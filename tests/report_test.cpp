#include "l2sweep/outputs/report.h"

#include <gtest/gtest.h>

#include <cmath>

#include "l2sweep/outputs/console.h"
#include "l2sweep/outputs/setting_summary.h"
#include "l2sweep/sweep/runner.h"
#include "test_support.h"

namespace l2sweep {
namespace {

/// A completed run whose epochs have the given (train accuracy, val accuracy, data_loss,
/// val_data_loss) and final w1_norm.
RunResult make_run(double l2, uint64_t seed, std::vector<std::array<double, 4>> epochs,
                   double w1_norm = 1.0) {
  RunResult run;
  run.spec = {l2, seed, 0, 1};
  for (const auto& e : epochs) {
    EpochMetrics m;
    m.epoch = static_cast<int64_t>(run.history.size()) + 1;
    m.accuracy = e[0];
    m.val_accuracy = e[1];
    m.data_loss = e[2];
    m.val_data_loss = e[3];
    m.w1_norm = w1_norm;
    run.history.push_back(m);
  }
  run.test = EvalMetrics{};
  run.test->accuracy = epochs.back()[1] - 0.01;
  return run;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(SeedStats, IsMeanAndSampleStandardDeviation) {
  const SeedStats stats = seed_stats({1, 2, 3, 4});
  EXPECT_EQ(stats.n, 4);
  EXPECT_DOUBLE_EQ(stats.mean, 2.5);
  EXPECT_NEAR(stats.std, std::sqrt(5.0 / 3.0), 1e-12);
  EXPECT_TRUE(std::isnan(seed_stats({7}).std));
  EXPECT_DOUBLE_EQ(seed_stats({7}).mean, 7);
  EXPECT_TRUE(std::isnan(seed_stats({}).mean));
}

TEST(SummarizeStrengths, GroupsSeedsPerStrengthAndSkipsDivergedRuns) {
  std::vector<RunResult> runs = {make_run(0.01, 0, {{0.80, 0.78, 0.5, 0.6}}, 3.0),
                                 make_run(0.01, 1, {{0.84, 0.80, 0.5, 0.6}}, 5.0),
                                 make_run(0.001, 0, {{0.90, 0.85, 0.3, 0.4}})};
  RunResult diverged = make_run(0.01, 2, {{0.1, 0.1, 9, 9}});
  diverged.status = RunStatus::kDiverged;
  runs.push_back(diverged);
  const auto strengths = summarize_settings(runs);
  ASSERT_EQ(strengths.size(), 2u);
  EXPECT_EQ(strengths[0].l2, 0.01);
  EXPECT_EQ(strengths[0].runs, 3);
  EXPECT_EQ(strengths[0].completed, 2);
  EXPECT_EQ(strengths[0].diverged, 1);
  EXPECT_NEAR(strengths[0].val_accuracy.mean, 0.79, 1e-12);
  EXPECT_NEAR(strengths[0].val_accuracy.std, std::sqrt(0.0002), 1e-12);
  EXPECT_NEAR(strengths[0].train_minus_val_accuracy.mean, 0.03, 1e-12);
  EXPECT_NEAR(strengths[0].w1_norm.mean, 4.0, 1e-12);
  EXPECT_EQ(strengths[1].completed, 1);
}

TEST(Trend, IsTheLeastSquaresChangeOverTheSecondHalfRelativeToItsMean) {
  // Second half {2, 3, 4, 5}: slope 1, change 3 over 3 steps, mean 3.5.
  EXPECT_NEAR(relative_trend_of_second_half({9, 1, 7, 1, 2, 3, 4, 5}), 3 / 3.5, 1e-12);
  // A single noisy last epoch barely moves it.
  EXPECT_LT(relative_trend_of_second_half({1, 1, 1, 1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.8}), 0);
  EXPECT_NEAR(relative_trend_of_second_half({5, 4}), -1 / 4.5, 1e-12);
  EXPECT_EQ(relative_trend_of_second_half({5}), 0.0);
}

TEST(SummarizeStrengths, MeasuresTheTrendsOfBothCrossEntropies) {
  const auto strengths = summarize_settings(
      {make_run(0, 0, {{0.8, 0.8, 0.50, 0.40}, {0.9, 0.8, 0.40, 0.35}, {0.95, 0.8, 0.30, 0.45}})});
  EXPECT_NEAR(strengths[0].val_data_loss_trend.mean, 0.05 / 0.40, 1e-12);
  EXPECT_NEAR(strengths[0].data_loss_trend.mean, -0.20 / 0.40, 1e-12);
}

class Report : public ::testing::Test {
 protected:
  std::string report(const std::vector<RunResult>& runs, int64_t seeds) {
    context_.config.seeds = seeds;
    return report_markdown(context_, runs);
  }
  SweepInfo context_;
};

TEST_F(Report, NamesTheBestStrengthAndALeadLargerThanTheSeedSpread) {
  const std::string md = report({make_run(0.001, 0, {{0.90, 0.870, 0.3, 0.35}}),
                                 make_run(0.001, 1, {{0.90, 0.872, 0.3, 0.35}}),
                                 make_run(0.01, 0, {{0.86, 0.850, 0.4, 0.42}}),
                                 make_run(0.01, 1, {{0.86, 0.852, 0.4, 0.42}})},
                                2);
  EXPECT_TRUE(contains(md, "**Best mean validation accuracy:** L2 = 0.001 (0.8710 ± 0.0014)"))
      << md;
  EXPECT_TRUE(contains(md,
                       "(L2 = 0.01, 0.8510 ± 0.0014): 2.0 points; this is larger than the "
                       "seed spread"))
      << md;
}

TEST_F(Report, SaysWhenTheLeadIsWithinTheSeedSpread) {
  const std::string md = report(
      {make_run(0.001, 0, {{0.9, 0.86, 0.3, 0.35}}), make_run(0.001, 1, {{0.9, 0.88, 0.3, 0.35}}),
       make_run(0.01, 0, {{0.9, 0.865, 0.3, 0.35}}), make_run(0.01, 1, {{0.9, 0.865, 0.3, 0.35}})},
      2);
  EXPECT_TRUE(contains(md, "within the seed spread")) << md;
  EXPECT_FALSE(contains(md, "not seed noise")) << md;
}

TEST_F(Report, WithOneSeedSaysTheSpreadIsUnknown) {
  const std::string md = report(
      {make_run(0.001, 0, {{0.9, 0.87, 0.3, 0.35}}), make_run(0.01, 0, {{0.9, 0.85, 0.3, 0.35}})},
      1);
  EXPECT_TRUE(contains(md, "the seed spread is unknown")) << md;
}

TEST_F(Report, FindsOverfittingAndUnderfittingFromTheCurves) {
  const std::string md = report(
      {// Validation cross-entropy rises 0.10 from its minimum while training keeps falling.
       make_run(0.0001, 0, {{0.85, 0.84, 0.40, 0.35}, {0.93, 0.86, 0.30, 0.45}}),
       make_run(0.001, 0, {{0.85, 0.85, 0.40, 0.38}, {0.91, 0.90, 0.35, 0.36}}),
       make_run(0.01, 0, {{0.83, 0.84, 0.50, 0.48}, {0.85, 0.85, 0.45, 0.44}})},
      1);
  EXPECT_TRUE(contains(md,
                       "**Overfitting:** L2 = 0.0001 (val_data_loss rose 25.0% over the second "
                       "half of training while data_loss fell 28.6%; train accuracy is 7.0 "
                       "points above validation)."))
      << md;
  EXPECT_TRUE(contains(md,
                       "**Underfitting:** L2 = 0.01 (train accuracy 0.8500, 8.0 points below "
                       "L2 = 0.0001)."))
      << md;
  // 0.001 neither overfits nor underfits.
  EXPECT_FALSE(contains(md, "L2 = 0.001 (val_data_loss")) << md;
  EXPECT_FALSE(contains(md, "L2 = 0.001 (train accuracy")) << md;
}

TEST_F(Report, ComparesWithTheControlAndListsDivergedRuns) {
  RunResult diverged = make_run(1.0, 0, {{0.1, 0.1, 9, 9}});
  diverged.status = RunStatus::kDiverged;
  const std::string md = report({make_run(0, 0, {{0.95, 0.85, 0.2, 0.5}}, 20.0),
                                 make_run(0.001, 0, {{0.90, 0.87, 0.3, 0.35}}, 8.0), diverged},
                                1);
  EXPECT_TRUE(contains(md, "0 (control)")) << md;
  EXPECT_TRUE(contains(
      md,
      "**Against the unregularised control** (no L2, Dropout or weight decay: validation accuracy "
      "0.8500, gap 10.0 points): L2 = 0.001: validation accuracy +2.0 "
      "points, train − val gap -7.0 points, w1_norm x0.40."))
      << md;
  EXPECT_TRUE(contains(md,
                       "**Diverged** (a loss, W1 or Adam's state not finite; left out of the "
                       "statistics): L2 = 1 "
                       "seed 0 at epoch 1."))
      << md;
  // A strength with no completed run has no numbers to show, not NaNs.
  EXPECT_FALSE(contains(md, "nan")) << md;
  EXPECT_TRUE(contains(md, "| 1 | 0/1 | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a |")) << md;
}

TEST(Fixed, NeverPrintsMinusZero) {
  EXPECT_EQ(fixed(-0.00001, 4), "0.0000");
  EXPECT_EQ(fixed(-0.00001, 4, /*sign=*/true), "+0.0000");
  EXPECT_EQ(fixed(-0.0, 1), "0.0");
  EXPECT_EQ(fixed(-0.00006, 4), "-0.0001");
  EXPECT_EQ(fixed(0.12345, 3, true), "+0.123");
  EXPECT_EQ(fixed(std::nan(""), 2), "n/a");
}

/// A completed one-epoch run of a setting, with its final weight statistics.
RunResult setting_run(double l2, double dropout, double decay, uint64_t seed, double val_accuracy,
                      double w1_norm, double small, double dead, double zero = 0) {
  RunResult run = make_run(l2, seed, {{val_accuracy + 0.02, val_accuracy, 0.3, 0.35}}, w1_norm);
  run.spec.dropout = dropout;
  run.spec.weight_decay = decay;
  EpochMetrics& last = run.history.back();
  last.w1_small = small;
  last.dead_units = dead;
  last.w1_zero = zero;
  return run;
}

TEST(RegulariserReport, ComparesEachKindAtItsBestWithPairedTestsOverSharedSeeds) {
  std::vector<RunResult> runs;
  const double control[] = {0.80, 0.81, 0.82};
  const double dropout[] = {0.85, 0.87, 0.86};  // +0.05, +0.06, +0.04 over the control
  for (uint64_t seed = 0; seed < 3; ++seed) {
    runs.push_back(setting_run(0, 0, 0, seed, control[seed], 60, 0.006, 0.06));
    runs.push_back(setting_run(1e-3, 0, 0, seed, 0.79, 8, 0.45, 0.38, 1e-4));
    runs.push_back(setting_run(0, 0.2, 0, seed, dropout[seed], 58, 0.006, 0.08));
  }
  const std::string md = report_markdown(SweepInfo{}, runs);
  EXPECT_TRUE(contains(md, "## L2, Dropout and weight decay")) << md;
  EXPECT_TRUE(contains(md, "| Dropout | L2 = 0, dropout = 0.2 | 0.8600 ± 0.0100 |")) << md;
  // scipy.stats.ttest_rel([0.85, 0.87, 0.86], [0.80, 0.81, 0.82]).pvalue = 0.013072457560346413
  EXPECT_TRUE(contains(md, "**Generalises best:** Dropout at L2 = 0, dropout = 0.2")) << md;
  EXPECT_TRUE(contains(md,
                       "none (control) (L2 = 0) -5.0 points, paired t-test over the 3 shared "
                       "seeds p = 0.0131: larger than the seed spread"))
      << md;
  EXPECT_TRUE(contains(md, "L2 keeps the weights smaller, while Dropout switches units off")) << md;
  EXPECT_TRUE(contains(md, "With Dropout, train accuracy is measured with units dropped")) << md;
  // The sparsity claim, from the numbers: small weights and dead units, few exact zeros.
  EXPECT_TRUE(contains(md, "at most 0.010% of W1 with L2 alone")) << md;
  EXPECT_TRUE(contains(md,
                       "So the sparsity L2 brings here is more near-zero weights and more "
                       "silent units, not zeros in W1."))
      << md;
}

TEST(RegulariserReport, SaysWhenItCannotTell) {
  // One seed each: no paired test; the Dropout setting diverged; no L2-only setting.
  std::vector<RunResult> runs = {setting_run(0, 0, 0, 0, 0.80, 60, 0.006, 0.06),
                                 setting_run(0, 0, 0.1, 0, 0.81, 30, 0.02, 0.09)};
  RunResult lost = setting_run(0, 0.5, 0, 0, 0.5, 60, 0, 0);
  lost.status = RunStatus::kDiverged;
  runs.push_back(lost);
  const std::string md = report_markdown(SweepInfo{}, runs);
  EXPECT_TRUE(contains(md,
                       "with fewer than two shared seeds, whether this is more than seed "
                       "noise cannot be told"))
      << md;
  EXPECT_TRUE(contains(md, "**Not compared, no run completed:** L2 = 0, dropout = 0.5.")) << md;
  EXPECT_TRUE(contains(md, "No setting with L2 alone completed")) << md;
  EXPECT_FALSE(contains(md, "**L2 against Dropout:**")) << md;

  // Weight statistics missing (runs restored from checkpoints older than them).
  std::vector<RunResult> old = {make_run(0, 0, {{0.9, 0.85, 0.3, 0.4}}),
                                make_run(0.01, 0, {{0.85, 0.84, 0.4, 0.4}})};
  for (RunResult& run : old) run.history.back().w1_small = std::nan("");
  EXPECT_TRUE(contains(report_markdown(SweepInfo{}, old), "Cannot be answered from these runs"));
  // An L2-only sweep has no regulariser section.
  EXPECT_FALSE(contains(report_markdown(SweepInfo{}, old), "## L2, Dropout and weight decay"));
}

TEST(RegulariserReport, ComparesNothingWhenOneKindRanAndSaysWhenSeedsAgreeExactly) {
  std::vector<RunResult> dropout_only = {setting_run(0, 0.2, 0, 0, 0.80, 60, 0.006, 0.06),
                                         setting_run(0, 0.5, 0, 0, 0.79, 58, 0.006, 0.07)};
  const std::string alone = report_markdown(SweepInfo{}, dropout_only);
  EXPECT_TRUE(contains(alone, "**Nothing to compare:** only one kind of regulariser")) << alone;
  EXPECT_FALSE(contains(alone, "**Generalises best:**")) << alone;

  std::vector<RunResult> same;
  for (uint64_t seed = 0; seed < 2; ++seed) {
    same.push_back(setting_run(0, 0, 0, seed, 0.80 + 0.01 * seed, 60, 0.006, 0.06));
    same.push_back(setting_run(0, 0.2, 0, seed, 0.80 + 0.01 * seed, 59, 0.006, 0.06));
  }
  const std::string md = report_markdown(SweepInfo{}, same);
  EXPECT_TRUE(contains(md, "identical on each of the 2 shared seeds")) << md;
  EXPECT_FALSE(contains(md, "p = 1")) << md;
}

TEST(RegulariserReport, PairedTestHasNoAnswerWithoutSpread) {
  EXPECT_TRUE(std::isnan(paired_t_p({1, 2, 3}, {0, 1, 2})));  // every difference 1
  // Two seeds that each differ by 2 of 200 images: equal up to rounding, no spread.
  EXPECT_TRUE(std::isnan(paired_t_p({0.62, 0.695}, {0.61, 0.685})));
  EXPECT_EQ(paired_t_p({1, 2, 3}, {1, 2, 3}), 1.0);
  EXPECT_TRUE(std::isnan(paired_t_p({1}, {0})));
  EXPECT_NEAR(paired_t_p({0.85, 0.87, 0.86}, {0.80, 0.81, 0.82}), 0.013072457560346413, 1e-9);
}

}  // namespace
}  // namespace l2sweep
