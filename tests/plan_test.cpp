#include "l2sweep/sweep/plan.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <set>
#include <thread>

#include "l2sweep/base/error.h"
#include "l2sweep/base/exit_codes.h"
#include "l2sweep/base/json.h"
#include "l2sweep/base/stop_token.h"
#include "l2sweep/config/options.h"
#include "l2sweep/config/sweep_file.h"
#include "test_support.h"

namespace l2sweep {
namespace {

std::vector<int64_t> indices(const Cohort& cohort) {
  std::vector<int64_t> result;
  for (const RunSpec& run : cohort.runs) result.push_back(run.index);
  return result;
}

TEST(Plan, SpreadsRunsSteppedInTurnOverTheJobsOneAtATime) {
  SweepConfig config;
  config.l2_strengths = {0.0, 1e-3, 1e-2};
  config.seeds = 2;
  config.seed = 5;
  config.jobs = 2;
  for (const std::string engine : {"autograd"}) {
    ASSERT_FALSE(engine_named(engine).stacks_members);  // each unit is one run
    config.engine = engine;
    const Plan plan = make_plan(config, torch::kCPU);
    ASSERT_EQ(plan.runs.size(), 6u);
    ASSERT_EQ(plan.units.size(), 6u);
    for (size_t u = 0; u < plan.units.size(); ++u) {
      EXPECT_EQ(indices(plan.units[u]), (std::vector<int64_t>{static_cast<int64_t>(u)}));
      EXPECT_EQ(plan.units[u].seed, plan.runs[u].seed);
    }
    EXPECT_EQ(plan.jobs, 2);
  }
  config.jobs = 8;  // never more jobs than units
  EXPECT_EQ(make_plan(config, torch::kCPU).jobs, 6);
}

TEST(Plan, KeepsCohortsWholeForTheEngineThatStepsThemTogether) {
  SweepConfig config;
  config.l2_strengths = {0.0, 1e-3, 1e-2};
  config.seeds = 2;
  for (const std::string engine : {"fused", "tensor"}) {
    ASSERT_TRUE(engine_named(engine).stacks_members);
    config.engine = engine;
    config.jobs = 1;  // asked for: the cohorts, one after another
    Plan plan = make_plan(config, torch::kCPU);
    ASSERT_EQ(plan.units.size(), 2u);
    EXPECT_EQ(indices(plan.units[0]), (std::vector<int64_t>{0, 2, 4}));
    EXPECT_EQ(indices(plan.units[1]), (std::vector<int64_t>{1, 3, 5}));
    EXPECT_EQ(plan.jobs, 1);
  }
  // On a GPU the tensor engine trains the cohorts whole, one at a time, by default.
  config.engine = "auto";
  config.jobs = 0;
  const Plan gpu = make_plan(config, torch::Device(torch::kCUDA, 0));
  EXPECT_EQ(gpu.engine->name, "tensor");
  EXPECT_EQ(gpu.units.size(), 2u);
  EXPECT_EQ(gpu.jobs, 1);
  config.engine = "fused";
  const Plan automatic = make_plan(config, torch::kCPU);  // --jobs auto: whole cohorts
  EXPECT_EQ(automatic.units.size(), 2u);
  EXPECT_GE(automatic.unit_threads, 1);
  EXPECT_EQ(train_options(automatic, 0).threads, automatic.unit_threads);
  config.jobs = 4;  // more jobs than cohorts: slices
  const Plan plan = make_plan(config, torch::kCPU);
  EXPECT_EQ(plan.units.size(), 4u);
  EXPECT_EQ(plan.jobs, 4);
}

TEST(Plan, BalancesTheCoresByWorkWithWholeCohorts) {
  const auto cohorts = [](std::vector<size_t> members) {
    std::vector<Cohort> result;
    for (const size_t m : members) result.push_back({0, std::vector<RunSpec>(m)});
    return result;
  };
  using Pair = std::pair<int64_t, int64_t>;  // (jobs, threads)
  const auto schedule = [&](std::vector<size_t> members, int64_t cores) {
    const CohortSchedule s = plan_cohort_units(cohorts(std::move(members)), cores, 2);
    return Pair(s.jobs, s.threads);
  };
  // Three runs on two cores: the one cohort's step on both (six pieces, three each).
  EXPECT_EQ(schedule({3}, 2), Pair(1, 2));
  // Twelve strengths of one seed: the same.
  EXPECT_EQ(schedule({12}, 2), Pair(1, 2));
  // Six seeds on two cores: three cohorts on each core, one thread each, no waiting.
  EXPECT_EQ(schedule(std::vector<size_t>(6, 3), 2), Pair(2, 1));
  // Three seeds on two cores: one after another, each on both cores (not two then one).
  EXPECT_EQ(schedule({4, 4, 4}, 2), Pair(1, 2));
  // One run on sixteen cores: its two blocks on two threads; two such cohorts side by side
  // on sixteen would leave cores idle either way, so as many as fit.
  EXPECT_EQ(schedule({1}, 16), Pair(1, 2));
  EXPECT_EQ(schedule({3, 3, 3}, 16), Pair(2, 6));
  EXPECT_EQ(schedule({3}, 1), Pair(1, 1));
}

TEST(Plan, TrainsEveryCombinationOfTheListsWithEverySeed) {
  SweepConfig config;
  config.l2_strengths = {0, 1e-3};
  config.dropout_rates = {0, 0.5};
  config.weight_decays = {0, 0.01};
  config.seeds = 2;
  config.seed = 7;
  const std::vector<RunSpec> runs = plan_runs(config);
  ASSERT_EQ(runs.size(), 16u);
  std::vector<std::string> names;
  for (const RunSpec& run : runs) {
    EXPECT_EQ(run.index, static_cast<int64_t>(names.size()));
    EXPECT_EQ(run.count, 16);
    names.push_back(run_name(run));
  }
  // l2, then dropout, then weight decay, each setting with every seed in turn.
  EXPECT_EQ(names[0], "l2-0_seed-7");
  EXPECT_EQ(names[1], "l2-0_seed-8");
  EXPECT_EQ(names[2], "l2-0_wd-0.01_seed-7");
  EXPECT_EQ(names[4], "l2-0_dropout-0.5_seed-7");
  EXPECT_EQ(names[6], "l2-0_dropout-0.5_wd-0.01_seed-7");
  EXPECT_EQ(names[15], "l2-0.001_dropout-0.5_wd-0.01_seed-8");
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), names.size());
  EXPECT_EQ(setting_label(runs[15]), "l2=0.001 dropout=0.5 wd=0.01");
  EXPECT_TRUE(same_setting(runs[14], runs[15]));
  EXPECT_FALSE(same_setting(runs[13], runs[15]));
  // A seed's runs form one cohort: they differ only by their regularisation.
  const std::vector<Cohort> cohorts = cohorts_of(runs);
  ASSERT_EQ(cohorts.size(), 2u);
  EXPECT_EQ(cohorts[0].runs.size(), 8u);
  for (const RunSpec& member : cohorts[1].runs) EXPECT_EQ(member.seed, 8u);
}

TEST(Cohorts, GroupTheRunsOfASeedInPlanOrder) {
  SweepConfig config;
  config.l2_strengths = {0.0, 1e-3, 1e-2};
  config.seeds = 2;
  config.seed = 5;
  const std::vector<Cohort> cohorts = cohorts_of(plan_runs(config));
  ASSERT_EQ(cohorts.size(), 2u);
  EXPECT_EQ(cohorts[0].seed, 5u);
  EXPECT_EQ(indices(cohorts[0]), (std::vector<int64_t>{0, 2, 4}));
  EXPECT_EQ(cohorts[1].seed, 6u);
  EXPECT_EQ(indices(cohorts[1]), (std::vector<int64_t>{1, 3, 5}));
}

TEST(Cohorts, SplitIntoSlicesWhenThereAreMoreUnitsThanCohorts) {
  SweepConfig config;  // three strengths, one seed: one cohort
  std::vector<Cohort> cohorts = cohorts_of(plan_runs(config));
  slice_cohorts(cohorts, 2);
  ASSERT_EQ(cohorts.size(), 2u);
  EXPECT_EQ(indices(cohorts[0]), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(indices(cohorts[1]), (std::vector<int64_t>{2}));
  slice_cohorts(cohorts, 8);  // no further than single runs
  ASSERT_EQ(cohorts.size(), 3u);
  EXPECT_EQ(indices(cohorts[2]), (std::vector<int64_t>{2}));
  slice_cohorts(cohorts, 1);  // never merged back
  EXPECT_EQ(cohorts.size(), 3u);
}

TEST(Plan, KeepsOnlyTheShardsRuns) {
  SweepConfig config;
  config.l2_strengths = {0.0, 1e-3, 1e-2};
  config.seeds = 2;
  config.jobs = 1;
  config.out_dir = "o";
  config.shard = Shard{1, 4};
  config.engine = "autograd";  // units of one run
  const Plan plan = make_plan(config, torch::kCPU);
  EXPECT_EQ(plan.runs.size(), 6u);   // the whole sweep
  ASSERT_EQ(plan.units.size(), 2u);  // runs 1 and 5: index % 4 == 1
  EXPECT_EQ(indices(plan.units[0]), (std::vector<int64_t>{1}));
  EXPECT_EQ(indices(plan.units[1]), (std::vector<int64_t>{5}));
}

TEST(Plan, RefusesTheFusedEngineOffTheCpu) {
  SweepConfig config;
  config.engine = "fused";
  config.device = "cuda";
  EXPECT_THROW_WITH(make_plan(config, torch::Device(torch::kCUDA, 0)), Error,
                    "--engine fused with --device cuda: the fused engine runs on the CPU only; "
                    "expected --engine auto, tensor or autograd");
}

TEST(Plan, KnowsEveryEngineByNameAndTheTensorEngineByItsOldName) {
  SweepConfig config;
  for (const EngineEntry& engine : engine_registry()) {
    config.engine = engine.name;
    if (engine.runs_on_cpu) {
      EXPECT_EQ(make_plan(config, torch::kCPU).engine, &engine);
    }
  }
  config.engine = "device";  // what the tensor engine was called in sweeps begun before
  EXPECT_EQ(make_plan(config, torch::kCPU).engine->name, "tensor");
  config.engine = "fast";
  EXPECT_THROW_WITH(make_plan(config, torch::kCPU), Error,
                    "--engine 'fast': expected auto, fused, tensor or autograd");
}

TEST(Plan, ResolvingRefusesCudaWhenThereIsNone) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a GPU is present";
  SweepConfig config;
  config.device = "cuda:1";
  EXPECT_THROW_WITH(resolve_plan(config), Error, "--device cuda:1: CUDA is not available");
  config.device = "auto";
  EXPECT_TRUE(resolve_plan(config).device.is_cpu());
}

/// A configuration with every option away from its default.
SweepConfig unusual_config() {
  SweepConfig config;
  config.l2_strengths = {0.0, 2.5e-05};
  config.epochs = 7;
  config.batch_size = 12;
  config.learning_rate = 0.0025;
  config.seed = 18446744073709551000u;
  config.seeds = 3;
  config.val_size = 123;
  config.train_size = 456;
  config.data_dir = "/data/a b";
  config.out_dir = "out dir";
  config.device = "cuda:1";
  config.jobs = 9;
  config.engine = "tensor";
  config.cuda_graphs = false;
  config.resume = true;
  config.shard = Shard{2, 5};
  return config;
}

TEST(SweepOptions, EveryOptionReadsBackWhatItWrites) {
  for (const SweepConfig& config : {SweepConfig{}, unusual_config()}) {
    SweepConfig copy;
    for (const SweepOption& option : sweep_options()) {
      const std::string text = option.format(config);
      if (option.is_flag && text.empty()) continue;  // a switch that is off
      if (std::string(option.name) == "shard" && text.empty()) continue;
      if (std::string(option.name) == "out" && text.empty()) continue;
      option.parse(copy, text);
      EXPECT_EQ(option.format(copy), text) << option.name;
    }
    EXPECT_EQ(sweep_config_text(copy), sweep_config_text(config));
  }
}

TEST(SweepOptions, NamesAreUniqueAndSweepCfgHoldsOnlyWhatDecidesTheNumbers) {
  std::set<std::string> names;
  for (const SweepOption& option : sweep_options()) {
    EXPECT_TRUE(names.insert(option.name).second) << option.name;
    EXPECT_EQ(find_sweep_option(option.name), &option);
  }
  const Json settings = Json::parse(sweep_config_text(unusual_config()))["settings"];
  for (const SweepOption& option : sweep_options()) {
    EXPECT_EQ(settings.contains(option.name), option.decides_numbers) << option.name;
  }
  // Checkpoints record the settings that decide each run, not those that name the runs.
  const Json run_settings = Json::parse(run_settings_text(unusual_config()));
  for (const SweepOption& option : sweep_options()) {
    EXPECT_EQ(run_settings.contains(option.name), option.decides_numbers && !option.names_runs)
        << option.name;
  }
  EXPECT_EQ(find_sweep_option("no-such-option"), nullptr);
}

TEST(StopToken, StopsWhenAnyOfItsSourcesAsks) {
  EXPECT_FALSE(StopToken().stop_requested());
  StopSource signal;
  StopSource failure;
  const StopToken token = signal.token().also(failure);
  EXPECT_FALSE(token.stop_requested());
  failure.request_stop();
  EXPECT_TRUE(token.stop_requested());
  EXPECT_FALSE(signal.token().stop_requested());
  StopSource third;
  const StopToken nested = token.also(third);
  EXPECT_TRUE(nested.stop_requested());
}

TEST(ExitCodes, EachKindOfErrorHasItsDocumentedCode) {
  EXPECT_EQ(exit_code(ErrorKind::kUsage), 2);
  EXPECT_EQ(exit_code(ErrorKind::kData), 3);
  EXPECT_EQ(exit_code(ErrorKind::kOutput), 4);
  EXPECT_EQ(exit_code(ErrorKind::kInternal), 1);
}

}  // namespace
}  // namespace l2sweep
