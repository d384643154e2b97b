#pragma once

#include <string>

#include "l2sweep/compare/report.h"
#include "l2sweep/config/sweep_config.h"

namespace l2sweep::cli {

/// What the command line asks for.
struct CommandLine {
  enum class Action { kRun, kMerge, kCompare, kHelp, kVersion, kListMetrics, kListOptions };
  Action action = Action::kRun;
  SweepConfig config;
  std::string merge_dir;            ///< for `l2sweep merge OUT`
  bool json = false;                ///< --list-metrics --json
  bool quiet = false;               ///< --quiet: nothing on the console but errors
  bool data_dir_given = false;      ///< --data-dir was on the command line
  compare::CompareOptions compare;  ///< for `l2sweep compare`
  std::string help;                 ///< the --help text
  std::string text;                 ///< the command line itself, shell-quoted, for summary.json
};

/// Parses l2sweep's options (sweep_options(), plus --shard-count, --help and --version) into
/// a SweepConfig, and resolves the shard from a Slurm or Kubernetes environment. A value that
/// is not of its option's kind throws a usage Error naming the option and the value; ranges
/// and combinations are checked once, by resolve_plan, before anything runs.
CommandLine parse_command_line(int argc, const char* const* argv);

}  // namespace l2sweep::cli
