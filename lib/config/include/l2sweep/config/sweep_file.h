#pragma once

#include <filesystem>
#include <string>

#include "l2sweep/config/sweep_config.h"

namespace l2sweep {

/// The name of the file in an output folder that records the options a sweep ran with.
inline constexpr const char* kSweepConfigFile = "sweep.cfg";

/// The options that decide a sweep's numbers (SweepOption::decides_numbers), one
/// `name=value` line each, as in sweep.cfg.
std::string sweep_config_text(const SweepConfig& config);

/// The configuration saved in `folder`/sweep.cfg; a usage Error when there is none, a data
/// Error naming the line when it cannot be read.
SweepConfig read_sweep_config(const std::filesystem::path& folder);

/// For --resume: throws a usage Error when `folder` holds no sweep, or when `config` differs
/// from the sweep saved there, naming the first differing option and both values.
void check_resume_config(const std::filesystem::path& folder, const SweepConfig& config);

}  // namespace l2sweep
