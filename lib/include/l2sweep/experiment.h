#pragma once

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "l2sweep/config.h"
#include "l2sweep/sweep.h"

namespace l2sweep {

/// What one l2sweep invocation produced.
struct ExperimentResult {
  std::filesystem::path out_dir;
  std::vector<RunResult> runs;

  bool any_diverged() const;
  /// A stop was requested (SIGINT/SIGTERM): some runs are unfinished but checkpointed.
  bool interrupted = false;
};

/// What `l2sweep merge` found.
struct MergeResult {
  bool complete = false;                ///< every planned run finished
  std::vector<std::string> missing;     ///< runs with no checkpoint
  std::vector<std::string> incomplete;  ///< runs with some epochs still to train
};

/// `l2sweep merge OUT`: assembles metrics.csv, summary.json and report.md of the sweep in
/// `out_dir` (its sweep.cfg says which) from every run's checkpoint, whichever shard or
/// machine trained it, and lists the runs that are missing or incomplete. With every run
/// finished the files equal those of the same sweep on one machine (--jobs 1 row order).
MergeResult merge_sweep(const std::filesystem::path& out_dir, const std::string& command_line,
                        std::FILE* console);

/// One l2sweep invocation end to end: validates `config`, picks the device, loads the data,
/// and only then creates the output folder, so a bad option or data file leaves nothing
/// behind. Trains every run, writing metrics.csv and summary.json as it goes, and prints the
/// progress and the final comparison table to `console`. Throws Error for anything a user
/// can cause; a diverged run is reported in the result, not thrown.
ExperimentResult run_experiment(const SweepConfig& config, const std::string& command_line,
                                std::FILE* console);

}  // namespace l2sweep
