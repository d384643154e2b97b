#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "l2sweep/config/sweep_config.h"

namespace l2sweep {

/// The name of the file in an output folder that records the options a sweep ran with.
inline constexpr const char* kSweepConfigFile = "sweep.cfg";

/// sweep.cfg's content: a JSON object whose `settings` give every option that decides the
/// numbers (SweepOption::decides_numbers) as the text the command line takes, so that any
/// value (a data folder with a newline in its name) reads back unchanged, and whose `data`
/// gives the data's fingerprint (SweepConfig::data_fingerprint) when it is known.
std::string sweep_config_text(const SweepConfig& config);

/// The configuration saved in `folder`/sweep.cfg (JSON, or the `name=value` lines l2sweep 0.1
/// wrote before); a usage Error when there is none, a data Error naming the file and the
/// setting when it cannot be read.
SweepConfig read_sweep_config(const std::filesystem::path& folder);

/// Whether `folder`/sweep.cfg was written by l2sweep 0.1 (`name=value` lines): its sweep's
/// checkpoints may predate checksums (formats 1 and 2). False when there is no such file or
/// it is JSON.
bool is_legacy_sweep_file(const std::filesystem::path& folder);

/// For --resume and shards: throws a usage Error when `folder` holds no sweep, when `config`
/// differs from the sweep saved there (naming the first differing option and both values), or
/// when its data differ (check_same_data).
void check_resume_config(const std::filesystem::path& folder, const SweepConfig& config);

/// Throws a usage Error when the sweep in `folder` recorded the data fingerprint `saved` and
/// `config`'s data have another one; either being unknown (empty) passes.
void check_same_data(const std::string& saved, const SweepConfig& config,
                     const std::filesystem::path& folder);

/// The settings that decide each run's numbers (those that decide the numbers and do not only
/// name the runs), as a compact JSON object of option texts; every checkpoint records them.
std::string run_settings_text(const SweepConfig& config);

/// How the run settings `saved` (run_settings_text of the sweep that wrote a checkpoint)
/// differ from `config`'s: "--lr 0.01, this sweep 0.001" for the first option that differs,
/// or the data's fingerprints when they differ;
/// nullopt when none does. Text that is not such an object is a difference too.
std::optional<std::string> run_settings_difference(const std::string& saved,
                                                   const SweepConfig& config);

}  // namespace l2sweep
