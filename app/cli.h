#pragma once

#include <string>

#include "l2sweep/config.h"

namespace l2sweep::cli {

/// What the command line asks for.
struct CommandLine {
  enum class Action { kRun, kMerge, kHelp, kVersion };
  Action action = Action::kRun;
  SweepConfig config;
  std::string merge_dir;  ///< for `l2sweep merge OUT`
  std::string help;       ///< the --help text
  std::string text;       ///< the command line itself, shell-quoted, for summary.json
};

/// Parses and validates l2sweep's options. A bad option or value throws a usage Error whose
/// message names the option and the value; nothing else is touched.
CommandLine parse_command_line(int argc, const char* const* argv);

}  // namespace l2sweep::cli
