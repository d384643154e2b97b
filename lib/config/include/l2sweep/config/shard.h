#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "l2sweep/config/sweep_config.h"

namespace l2sweep {

/// The shard to run: `option` (from --shard) when given; else a Slurm array task
/// (SLURM_ARRAY_TASK_ID minus SLURM_ARRAY_TASK_MIN, out of SLURM_ARRAY_TASK_COUNT or
/// MAX - MIN + 1); else a Kubernetes Indexed Job (JOB_COMPLETION_INDEX out of
/// `kubernetes_count`, from --shard-count). `getenv` reads the environment. Throws a usage
/// Error for values out of range.
std::optional<Shard> resolve_shard(const std::optional<Shard>& option, int64_t kubernetes_count,
                                   const std::function<const char*(const char*)>& getenv);

}  // namespace l2sweep
