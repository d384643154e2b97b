#pragma once

#include <string>
#include <vector>

namespace l2sweep::cli {

/// An option of the command line besides sweep_options(): what it does, not what a sweep
/// trains (--help, --quiet, --shard-count...).
struct CommandOption {
  const char* name;        ///< "shard-count"; "h,help" gives a short name too
  const char* value_name;  ///< "N"; nullptr for a switch
  const char* help;        ///< one line for --help
  const char* reference;   ///< the reference's text (docs/options.md)
};

/// The command options, in the order --help lists them after the sweep's.
const std::vector<CommandOption>& command_options();

/// `l2sweep --help`: one usage block, every option with its value name and true default,
/// and the exit codes; lines fit 80 columns.
std::string sweep_help();

/// `l2sweep compare --help`, with compare's exit codes.
std::string compare_help();

/// `l2sweep merge --help`, with merge's exit codes.
std::string merge_help();

/// `l2sweep --list-options`: the options and exit codes as Markdown tables, which
/// docs/options.md holds (scripts/docs.py checks that it is current).
std::string options_reference();

}  // namespace l2sweep::cli
