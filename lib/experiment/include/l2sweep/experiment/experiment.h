#pragma once

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "l2sweep/base/stop_token.h"
#include "l2sweep/config/sweep_config.h"
#include "l2sweep/train/run_result.h"

namespace l2sweep {

/// What one l2sweep invocation produced.
struct ExperimentResult {
  std::filesystem::path out_dir;
  std::vector<RunResult> runs;
  /// A stop was requested (SIGINT/SIGTERM): some runs are unfinished but checkpointed.
  bool interrupted = false;

  bool any_diverged() const;
};

/// One l2sweep invocation end to end: resolves `config` into a plan (validating it and
/// picking the device), loads the data, and only then creates the output folder, so a bad
/// option or data file leaves nothing behind. Trains every run, writing the outputs as it
/// goes (metrics.csv, summary.json, report.md, TensorBoard and Keras logs; a shard only its
/// runs' own files), and prints the progress and the final tables to `console`. `stop` asks
/// the runs to stop at their next batch. Throws Error for anything a user can cause; a
/// diverged run is reported in the result, not thrown.
ExperimentResult run_experiment(const SweepConfig& config, const std::string& command_line,
                                std::FILE* console, StopToken stop = {});

}  // namespace l2sweep
