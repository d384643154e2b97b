#include "l2sweep/config/shard.h"

#include <gtest/gtest.h>

#include <map>

#include "l2sweep/base/error.h"
#include "l2sweep/sweep/plan.h"
#include "test_support.h"

namespace l2sweep {
namespace {

std::function<const char*(const char*)> environment(std::map<std::string, std::string> values) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(values));
  return [shared](const char* name) -> const char* {
    const auto found = shared->find(name);
    return found == shared->end() ? nullptr : found->second.c_str();
  };
}

TEST(Shard, NoneWithoutOptionOrEnvironment) {
  EXPECT_FALSE(resolve_shard(std::nullopt, 0, environment({})).has_value());
}

TEST(Shard, TheOptionWinsOverTheEnvironment) {
  const auto shard = resolve_shard(
      Shard{1, 4}, 0, environment({{"SLURM_ARRAY_TASK_ID", "3"}, {"SLURM_ARRAY_TASK_COUNT", "9"}}));
  ASSERT_TRUE(shard.has_value());
  EXPECT_EQ(shard->index, 1);
  EXPECT_EQ(shard->count, 4);
}

TEST(Shard, ComesFromASlurmArrayTask) {
  auto shard = resolve_shard(std::nullopt, 0,
                             environment({{"SLURM_ARRAY_TASK_ID", "7"},
                                          {"SLURM_ARRAY_TASK_MIN", "5"},
                                          {"SLURM_ARRAY_TASK_MAX", "8"}}));
  ASSERT_TRUE(shard.has_value());
  EXPECT_EQ(shard->index, 2);  // tasks 5..8 are shards 0..3
  EXPECT_EQ(shard->count, 4);
  shard =
      resolve_shard(std::nullopt, 0,
                    environment({{"SLURM_ARRAY_TASK_ID", "0"}, {"SLURM_ARRAY_TASK_COUNT", "6"}}));
  EXPECT_EQ(shard->index, 0);
  EXPECT_EQ(shard->count, 6);
  // --array=10-20:5 runs tasks 10, 15 and 20.
  shard = resolve_shard(std::nullopt, 0,
                        environment({{"SLURM_ARRAY_TASK_ID", "15"},
                                     {"SLURM_ARRAY_TASK_MIN", "10"},
                                     {"SLURM_ARRAY_TASK_STEP", "5"},
                                     {"SLURM_ARRAY_TASK_COUNT", "3"}}));
  EXPECT_EQ(shard->index, 1);
  EXPECT_EQ(shard->count, 3);
  // The same array told by its bounds: tasks 10..20 in steps of 5 are three shards.
  shard = resolve_shard(std::nullopt, 0,
                        environment({{"SLURM_ARRAY_TASK_ID", "20"},
                                     {"SLURM_ARRAY_TASK_MIN", "10"},
                                     {"SLURM_ARRAY_TASK_STEP", "5"},
                                     {"SLURM_ARRAY_TASK_MAX", "20"}}));
  EXPECT_EQ(shard->index, 2);
  EXPECT_EQ(shard->count, 3);
}

TEST(Shard, ComesFromAKubernetesIndexedJobWithAShardCount) {
  const auto shard = resolve_shard(std::nullopt, 3, environment({{"JOB_COMPLETION_INDEX", "2"}}));
  ASSERT_TRUE(shard.has_value());
  EXPECT_EQ(shard->index, 2);
  EXPECT_EQ(shard->count, 3);
  EXPECT_THROW_WITH(resolve_shard(std::nullopt, 0, environment({{"JOB_COMPLETION_INDEX", "2"}})),
                    Error, "expected --shard-count N");
  EXPECT_THROW_WITH(resolve_shard(std::nullopt, 3, environment({})), Error,
                    "--shard-count 3: expected JOB_COMPLETION_INDEX in the environment");
}

TEST(Shard, RejectsOutOfRangeAndGarbage) {
  EXPECT_THROW_WITH(resolve_shard(Shard{4, 4}, 0, environment({})), Error,
                    "--shard 4/4: expected INDEX/COUNT with 0 <= INDEX < COUNT");
  EXPECT_THROW_WITH(
      resolve_shard(std::nullopt, 0,
                    environment({{"SLURM_ARRAY_TASK_ID", "x"}, {"SLURM_ARRAY_TASK_COUNT", "2"}})),
      Error, "SLURM_ARRAY_TASK_ID='x': expected a non-negative integer");
  EXPECT_THROW_WITH(resolve_shard(std::nullopt, 0, environment({{"SLURM_ARRAY_TASK_ID", "1"}})),
                    Error, "neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX");
  EXPECT_THROW_WITH(resolve_shard(std::nullopt, 0,
                                  environment({{"SLURM_ARRAY_TASK_ID", "12"},
                                               {"SLURM_ARRAY_TASK_MIN", "10"},
                                               {"SLURM_ARRAY_TASK_STEP", "5"},
                                               {"SLURM_ARRAY_TASK_COUNT", "3"}})),
                    Error, "is not SLURM_ARRAY_TASK_MIN=10 plus a multiple of");
}

}  // namespace
}  // namespace l2sweep
