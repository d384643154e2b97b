#include "l2sweep/config/shard.h"

#include "l2sweep/base/error.h"
#include "l2sweep/base/parse.h"

namespace l2sweep {
namespace {

int64_t environment_integer(const char* name, const char* text) {
  const auto value = parse_int64(text);
  if (!value || *value < 0) {
    throw usage_error("{}='{}': expected a non-negative integer", name, text);
  }
  return *value;
}

void check_shard(const Shard& shard, const char* source) {
  if (shard.count < 1 || shard.index < 0 || shard.index >= shard.count) {
    throw usage_error("{} {}/{}: expected INDEX/COUNT with 0 <= INDEX < COUNT", source, shard.index,
                      shard.count);
  }
}

}  // namespace

std::optional<Shard> resolve_shard(const std::optional<Shard>& option, int64_t kubernetes_count,
                                   const std::function<const char*(const char*)>& getenv) {
  if (option) {
    check_shard(*option, "--shard");
    return option;
  }
  if (const char* task = getenv("SLURM_ARRAY_TASK_ID")) {
    const char* min_text = getenv("SLURM_ARRAY_TASK_MIN");
    const int64_t min = min_text ? environment_integer("SLURM_ARRAY_TASK_MIN", min_text) : 0;
    // --array=0-10:2 numbers its tasks 0, 2, 4, ...: the shard is the task's position.
    const char* step_text = getenv("SLURM_ARRAY_TASK_STEP");
    const int64_t step = step_text ? environment_integer("SLURM_ARRAY_TASK_STEP", step_text) : 1;
    const int64_t offset = environment_integer("SLURM_ARRAY_TASK_ID", task) - min;
    if (step < 1 || offset % step != 0) {
      throw usage_error(
          "SLURM_ARRAY_TASK_ID={} is not SLURM_ARRAY_TASK_MIN={} plus a multiple of "
          "SLURM_ARRAY_TASK_STEP={}; expected the variables sbatch --array sets",
          task, min, step);
    }
    Shard shard;
    shard.index = offset / step;
    if (const char* count = getenv("SLURM_ARRAY_TASK_COUNT")) {
      shard.count = environment_integer("SLURM_ARRAY_TASK_COUNT", count);
    } else if (const char* max = getenv("SLURM_ARRAY_TASK_MAX")) {
      shard.count = (environment_integer("SLURM_ARRAY_TASK_MAX", max) - min) / step + 1;
    } else {
      throw usage_error(
          "SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor "
          "SLURM_ARRAY_TASK_MAX is; expected both from sbatch --array");
    }
    check_shard(shard, "Slurm array task");
    return shard;
  }
  if (const char* index = getenv("JOB_COMPLETION_INDEX")) {
    if (kubernetes_count < 1) {
      throw usage_error(
          "JOB_COMPLETION_INDEX is set: expected --shard-count N (the Indexed "
          "Job's completions) to split the sweep");
    }
    const Shard shard{environment_integer("JOB_COMPLETION_INDEX", index), kubernetes_count};
    check_shard(shard, "Kubernetes job index");
    return shard;
  }
  if (kubernetes_count >= 1) {
    throw usage_error(
        "--shard-count {}: expected JOB_COMPLETION_INDEX in the environment (a Kubernetes Indexed "
        "Job); elsewhere use --shard INDEX/COUNT",
        kubernetes_count);
  }
  return std::nullopt;
}

}  // namespace l2sweep
