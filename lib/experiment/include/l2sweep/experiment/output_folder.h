#pragma once

#include <filesystem>

#include "l2sweep/config/sweep_config.h"

namespace l2sweep {

/// `runs/<UTC timestamp>`, the folder used when --out is not given.
std::filesystem::path default_output_folder();

/// Creates `folder` (and its parents). An existing non-empty folder is refused, so earlier
/// results are never overwritten; an uncreatable one is an output Error naming it.
void prepare_output_folder(const std::filesystem::path& folder);

/// The output folder of a new sweep, a resumed one, or one shard of a sweep (which may find
/// other shards' files already there, and the same sweep.cfg): checks that `config` may write
/// into `folder` (refusing a --resume with other settings), creates it, and saves sweep.cfg.
void open_output_folder(const SweepConfig& config, const std::filesystem::path& folder);

}  // namespace l2sweep
