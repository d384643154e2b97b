// The recommendation that ends the console and opens report.md: which setting to use, from
// the final validation accuracies over seeds, on constructed sweeps.
#include "l2sweep/outputs/recommendation.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace l2sweep {
namespace {

/// A setting that completed one run per value, seeds 0, 1, ..., with these final validation
/// accuracies.
SettingSummary setting(double l2, std::vector<double> val_accuracy, double dropout = 0) {
  SettingSummary s;
  s.l2 = l2;
  s.dropout = dropout;
  s.runs = s.completed = static_cast<int64_t>(val_accuracy.size());
  s.val_accuracy = seed_stats(val_accuracy);
  for (size_t i = 0; i < val_accuracy.size(); ++i) s.seeds.push_back(i);
  s.final_val_accuracy = std::move(val_accuracy);
  return s;
}

SweepConfig config_of(std::vector<double> strengths, int64_t seeds) {
  SweepConfig config;
  config.l2_strengths = std::move(strengths);
  config.seeds = seeds;
  return config;
}

using Answer = Recommendation::Answer;

TEST(Recommendation, TheControlWinsSoRegularisationDoesNotHelp) {
  const std::vector<SettingSummary> s = {setting(0, {0.880, 0.884, 0.879}),
                                         setting(1e-4, {0.874, 0.877, 0.872}),
                                         setting(1e-2, {0.840, 0.845, 0.838})};
  const Recommendation r = recommend(s, config_of({0, 1e-4, 1e-2}, 3));
  EXPECT_EQ(r.answer, Answer::kNoRegularisation);
  EXPECT_EQ(r.recommended, 0u);
  EXPECT_EQ(r.other, 1u);  // the best regularised setting is the evidence
  EXPECT_LT(r.test.mean, 0);
  EXPECT_TRUE(r.test.resolved());
  EXPECT_NE(r.headline.find("use l2 = 0"), std::string::npos) << r.headline;
  EXPECT_NE(recommendation_markdown(r).find("L2 = 0.0001"), std::string::npos);
}

TEST(Recommendation, AnL2ThatBeatsTheControlOnEverySeedIsRecommended) {
  const std::vector<SettingSummary> s = {setting(0, {0.850, 0.855, 0.851}),
                                         setting(1e-3, {0.870, 0.874, 0.872}),
                                         setting(1e-2, {0.860, 0.866, 0.861})};
  const Recommendation r = recommend(s, config_of({0, 1e-3, 1e-2}, 3));
  EXPECT_EQ(r.answer, Answer::kUseBest);
  EXPECT_EQ(r.best, 1u);
  EXPECT_EQ(r.recommended, 1u);
  EXPECT_EQ(r.other, 0u);
  EXPECT_NEAR(r.test.mean, 0.020, 1e-9);
  EXPECT_LT(r.test.p, 0.05);
  EXPECT_EQ(r.test.pairs, 3u);
  EXPECT_NE(r.headline.find("Use L2 = 0.001"), std::string::npos) << r.headline;
}

TEST(Recommendation, WithoutAControlItSaysSoAndGivesTheCommandThatAddsOne) {
  const std::vector<SettingSummary> s = {setting(1e-4, {0.878, 0.880, 0.876}),
                                         setting(1e-3, {0.870, 0.874, 0.872}),
                                         setting(1e-2, {0.840, 0.845, 0.838})};
  SweepConfig config = config_of({1e-4, 1e-3, 1e-2}, 3);
  config.epochs = 5;
  const Recommendation r = recommend(s, config);
  EXPECT_EQ(r.answer, Answer::kNoControl);
  EXPECT_EQ(r.recommended, 0u);
  EXPECT_EQ(r.control, Recommendation::kNone);
  EXPECT_NE(r.headline.find("no unregularised control"), std::string::npos) << r.headline;
  EXPECT_EQ(r.command, "l2sweep --l2 0,0.0001,0.001,0.01 --epochs 5 --seeds 3");
  EXPECT_NE(recommendation_text(r).find(r.command + "\n"), std::string::npos)
      << "the command is on a line of its own, unbroken";
}

TEST(Recommendation, OneSeedIsNotResolvedAndSaysHowToResolveIt) {
  const std::vector<SettingSummary> s = {setting(0, {0.850}), setting(1e-3, {0.870})};
  const Recommendation r = recommend(s, config_of({0, 1e-3}, 1));
  EXPECT_EQ(r.answer, Answer::kNotResolved);
  EXPECT_EQ(r.best, 1u);
  EXPECT_EQ(r.recommended, 0u) << "unresolved: the simpler model";
  EXPECT_EQ(r.test.pairs, 1u);
  EXPECT_EQ(r.one_se, Recommendation::kNone);
  const std::string text = recommendation_markdown(r);
  EXPECT_NE(text.find("Not resolved"), std::string::npos) << text;
  EXPECT_NE(text.find("--seeds 3"), std::string::npos) << text;
}

TEST(Recommendation, ALeadInsideTheSeedSpreadIsNotResolvedAndPlansTheSeeds) {
  const std::vector<SettingSummary> s = {setting(0, {0.850, 0.870, 0.860}),
                                         setting(1e-3, {0.858, 0.866, 0.868})};
  const Recommendation r = recommend(s, config_of({0, 1e-3}, 3));
  EXPECT_EQ(r.answer, Answer::kNotResolved);
  EXPECT_FALSE(r.test.resolved());
  ASSERT_TRUE(r.test.seeds_needed.has_value());
  EXPECT_GT(*r.test.seeds_needed, 3);
  EXPECT_NE(recommendation_markdown(r).find(fmt::format("about {} seeds", *r.test.seeds_needed)),
            std::string::npos);
}

TEST(Recommendation, ATieWithTheControlRecommendsTheControl) {
  const std::vector<SettingSummary> s = {setting(1e-4, {0.86, 0.87, 0.88}),
                                         setting(0, {0.86, 0.87, 0.88})};
  const Recommendation r = recommend(s, config_of({1e-4, 0}, 3));
  EXPECT_NE(r.answer, Answer::kUseBest);
  EXPECT_EQ(r.recommended, 1u);
  EXPECT_TRUE(r.test.identical);
}

TEST(Recommendation, TheOneStandardErrorAlternativeIsTheStrongestL2WithinOneSeOfTheBest) {
  // Best 1e-4: mean 0.880, std 0.01, se 0.00577; 1e-3 at 0.876 is within, 1e-2 is not.
  const std::vector<SettingSummary> s = {
      setting(0, {0.850, 0.852, 0.851}), setting(1e-4, {0.870, 0.880, 0.890}),
      setting(1e-3, {0.874, 0.876, 0.878}), setting(1e-2, {0.850, 0.852, 0.851})};
  const Recommendation r = recommend(s, config_of({0, 1e-4, 1e-3, 1e-2}, 3));
  EXPECT_EQ(r.answer, Answer::kUseBest);
  EXPECT_EQ(r.best, 1u);
  EXPECT_EQ(r.one_se, 2u);
  bool named = false;
  for (const auto& line : r.evidence) named = named || line.find("One-standard-error") == 0;
  EXPECT_TRUE(named);
}

TEST(Recommendation, RunsThatLearnedNothingRecommendNothing) {
  // 10 classes: 0.10 to 0.13 is chance, whatever the paired test says.
  const std::vector<SettingSummary> s = {setting(0, {0.10, 0.11, 0.12}),
                                         setting(1e-3, {0.12, 0.13, 0.13})};
  const Recommendation r = recommend(s, config_of({0, 1e-3}, 3), 10);
  EXPECT_EQ(r.answer, Answer::kNothing);
  EXPECT_EQ(r.recommended, Recommendation::kNone);
  EXPECT_NE(r.headline.find("no setting learned"), std::string::npos) << r.headline;
}

TEST(Recommendation, EveryRegularisedRunDivergedCannotTell) {
  SettingSummary diverged = setting(100, {});
  diverged.runs = 2;
  diverged.diverged = 2;
  const Recommendation r = recommend({setting(0, {0.85, 0.86}), diverged}, config_of({0, 100}, 2));
  EXPECT_EQ(r.answer, Answer::kNotResolved);
  EXPECT_EQ(r.recommended, 0u);
  EXPECT_NE(r.headline.find("Cannot tell whether regularisation helps"), std::string::npos);
}

TEST(Recommendation, TheSameDifferenceOnEverySeedIsNotResolved) {
  // +0.03 on both seeds: no spread, so no test can call it real (p would be 0 from zero
  // variance), and no seed count can be planned from it.
  const std::vector<SettingSummary> s = {setting(0, {0.65, 0.665}), setting(1e-2, {0.68, 0.695})};
  const Recommendation r = recommend(s, config_of({0, 1e-2}, 2));
  EXPECT_EQ(r.answer, Answer::kNotResolved);
  EXPECT_FALSE(r.test.resolved());
  EXPECT_FALSE(r.test.seeds_needed.has_value());
}

TEST(Recommendation, ASettingThatDivergedOnASeedIsNeverRecommended) {
  // 1e-2 is best on the two seeds it survived, but diverged on the third.
  SettingSummary partly = setting(1e-2, {0.90, 0.91});
  partly.runs = 3;
  partly.diverged = 1;
  const std::vector<SettingSummary> s = {setting(0, {0.850, 0.852, 0.851}),
                                         setting(1e-3, {0.870, 0.874, 0.872}), partly};
  const Recommendation r = recommend(s, config_of({0, 1e-3, 1e-2}, 3));
  EXPECT_EQ(r.best, 1u);
  EXPECT_EQ(r.answer, Answer::kUseBest);
  bool named = false;
  for (const auto& line : r.evidence) {
    named =
        named || line.find("L2 = 0.01 (2 of 3 runs completed, 1 diverged)") != std::string::npos;
  }
  EXPECT_TRUE(named) << recommendation_markdown(r);
}

TEST(Recommendation, APartOfAnL2AutoSearchLeavesTheAnswerToTheSearch) {
  SweepConfig config = config_of({1e-3, 1e-2}, 3);
  config.part_of_search = true;
  const Recommendation r =
      recommend({setting(1e-3, {0.87, 0.874, 0.872}), setting(1e-2, {0.85, 0.851, 0.852})}, config);
  EXPECT_EQ(r.answer, Answer::kNothing);
  EXPECT_NE(r.headline.find("--l2 auto search"), std::string::npos);
}

TEST(Recommendation, AControlAloneAsksNothing) {
  const Recommendation r = recommend({setting(0, {0.85, 0.86})}, config_of({0}, 2));
  EXPECT_EQ(r.answer, Answer::kNotResolved);
  EXPECT_NE(r.headline.find("trains only the unregularised control"), std::string::npos);
}

TEST(Recommendation, NothingCompletedRecommendsNothing) {
  SettingSummary diverged = setting(1, {});
  diverged.runs = 3;
  const Recommendation r = recommend({diverged}, config_of({1}, 3));
  EXPECT_EQ(r.answer, Answer::kNothing);
  EXPECT_EQ(r.recommended, Recommendation::kNone);
}

}  // namespace
}  // namespace l2sweep
