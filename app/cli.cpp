#include "cli.h"

#include <algorithm>
#include <cstdlib>
#include <cxxopts.hpp>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "arguments.h"
#include "help.h"
#include "l2sweep/base/error.h"
#include "l2sweep/base/parse.h"
#include "l2sweep/config/options.h"
#include "l2sweep/config/shard.h"

namespace l2sweep::cli {
namespace {

std::string shell_quote(const std::string& word) {
  if (!word.empty() &&
      word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                             "-_=.,/:+") == std::string::npos) {
    return word;
  }
  std::string quoted = "'";
  for (const char c : word) {
    quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return quoted + "'";
}

/// cxxopts quotes names with typographic quotes; keep the one-line message plain ASCII.
std::string plain_quotes(std::string message) {
  for (const std::string& fancy : {std::string("\u2018"), std::string("\u2019")}) {
    for (size_t at = message.find(fancy); at != std::string::npos; at = message.find(fancy)) {
      message.replace(at, fancy.size(), "'");
    }
  }
  return message;
}

/// cxxopts' table of every option of sweep_options() and command_options() (every value read
/// as text and parsed by the option, so that errors name option and value). Help texts are
/// help.cpp's: check_arguments has refused whatever cxxopts would word differently.
cxxopts::Options make_options() {
  cxxopts::Options options("l2sweep");
  auto add = options.add_options();
  for (const SweepOption& option : sweep_options()) {
    if (option.is_flag) {
      add(option.name, "");
    } else {
      add(option.name, "", cxxopts::value<std::string>());
    }
  }
  for (const CommandOption& option : command_options()) {
    if (option.value_name == nullptr) {
      add(option.name, "");
    } else {
      add(option.name, "", cxxopts::value<std::string>());
    }
  }
  add("positional", "", cxxopts::value<std::vector<std::string>>());
  options.parse_positional({"positional"});
  return options;
}

/// --shard-count's value, or 0 without it.
int64_t shard_count(const cxxopts::ParseResult& result) {
  if (result.count("shard-count") == 0) return 0;
  const std::string text = result["shard-count"].as<std::string>();
  const auto count = parse_int64(text);
  if (!count) throw usage_error("--shard-count '{}': expected an integer", text);
  if (*count < 1) throw usage_error("--shard-count {}: expected an integer from 1", *count);
  return *count;
}

/// What parse_compare carries from one argument to the next.
struct CompareState {
  std::string source;
  bool source_used = true;  // the last --source named at least one path
  std::optional<std::string> pending_label;
  std::map<std::string, std::string> setup;  // --setup of the current --source
};

/// --ignore's comma-separated keys, each added to `ignore` (empty ones too).
void add_ignored_keys(const std::string& keys, std::vector<std::string>& ignore) {
  size_t start = 0;
  while (start <= keys.size()) {
    const size_t end = std::min(keys.find(',', start), keys.size());
    ignore.push_back(keys.substr(start, end - start));
    start = end + 1;
  }
}

/// Applies `arg` when it is one of compare's options with a value, reading the value with
/// `value` (only once the option is known, as it may take the next argument); false when it
/// is not one of them.
bool apply_compare_option(const std::string& arg, const std::function<std::string()>& value,
                          CompareState& state, CommandLine& command) {
  if (arg == "--out") {
    command.compare.out = value();
    if (command.compare.out.empty()) throw usage_error("compare: --out needs a folder");
  } else if (arg == "--metric") {
    command.compare.metric = value();
    compare::check_metric(command.compare.metric);
  } else if (arg == "--source") {
    if (!state.source_used) {
      throw usage_error("compare: --source {} names no path before the next --source",
                        state.source);
    }
    state.source = value();
    state.source_used = false;
    state.setup.clear();
    if (state.source.empty() || state.source.find_first_of(",\n\r|") != std::string::npos) {
      throw usage_error(
          "compare: --source '{}': expected a name without commas, bars or line "
          "breaks",
          state.source);
    }
  } else if (arg == "--label") {
    state.pending_label = value();
  } else if (arg == "--setup") {
    for (const auto& [key, given] : compare::parse_setup(value())) state.setup[key] = given;
  } else if (arg == "--ignore") {
    add_ignored_keys(value(), command.compare.ignore);
  } else {
    return false;
  }
  return true;
}

/// A path: one SourceArgument of the current --source, labelled by a pending --label.
void add_compare_path(const std::string& arg, CompareState& state, CommandLine& command) {
  if (arg.empty()) throw usage_error("compare: an empty path");
  state.source_used = true;
  compare::SourceArgument argument{state.source, arg, std::nullopt, state.setup};
  if (state.pending_label) argument.label = compare::parse_label(*state.pending_label);
  state.pending_label.reset();
  command.compare.arguments.push_back(std::move(argument));
}

/// What the last arguments must have completed: a --label's path, a --source's path, and two
/// sources.
void check_compare_end(const CompareState& state, const CommandLine& command) {
  if (state.pending_label) {
    throw usage_error("compare: --label {} must come right before the Keras file it labels",
                      *state.pending_label);
  }
  if (!state.source_used) {
    throw usage_error("compare: --source {} names no path after it", state.source);
  }
  if (command.compare.arguments.size() < 2) {
    throw usage_error("compare: expected two or more sources; see l2sweep compare --help");
  }
}

/// `l2sweep compare`'s arguments (after the word compare); order matters: --source and --label
/// apply to the paths after them.
CommandLine parse_compare(const std::vector<std::string>& args, CommandLine command) {
  command.action = CommandLine::Action::kCompare;
  command.help = compare_help();
  CompareState state;
  const auto value_of = [&](size_t& i, const std::string& option) {
    if (i + 1 >= args.size() || args[i + 1].empty()) {
      throw usage_error("compare: {} needs a value; see l2sweep compare --help", option);
    }
    return args[++i];
  };
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    std::optional<std::string> inline_value;
    if (arg.rfind("--", 0) == 0 && arg.find('=') != std::string::npos) {
      inline_value = arg.substr(arg.find('=') + 1);
      arg = arg.substr(0, arg.find('='));
    }
    const auto value = [&] { return inline_value ? *inline_value : value_of(i, arg); };
    if (arg == "-h" || arg == "--help") {
      command.action = CommandLine::Action::kHelp;
      return command;
    }
    if (state.pending_label && arg.rfind("-", 0) == 0) {
      throw usage_error("compare: --label {} must come right before the Keras file it labels",
                        *state.pending_label);
    }
    if (apply_compare_option(arg, value, state, command)) continue;
    if (arg.rfind("-", 0) == 0 && arg.size() > 1) {
      throw usage_error("compare: unknown option '{}'; see l2sweep compare --help", args[i]);
    }
    add_compare_path(arg, state, command);
  }
  check_compare_end(state, command);
  return command;
}

/// The command line itself, shell-quoted.
std::string command_text(int argc, const char* const* argv) {
  std::string text;
  for (int i = 0; i < argc; ++i) {
    text += (i == 0 ? "" : " ") + shell_quote(argv[i]);
  }
  return text;
}

/// `l2sweep merge OUT`.
CommandLine parse_merge(int argc, const char* const* argv, CommandLine command) {
  const auto is_help = [](const char* word) {
    return std::string(word) == "--help" || std::string(word) == "-h";
  };
  if (std::any_of(argv + 2, argv + argc, is_help)) {
    command.action = CommandLine::Action::kHelp;
    command.help = merge_help();
    return command;
  }
  if (argc != 3 || std::string(argv[2]).empty() || argv[2][0] == '-') {
    throw usage_error(
        "merge: expected l2sweep merge OUT (the sweep's output folder); see l2sweep merge "
        "--help");
  }
  command.action = CommandLine::Action::kMerge;
  command.merge_dir = argv[2];
  return command;
}

/// cxxopts' parse of the options, its errors as usage Errors.
cxxopts::ParseResult parse_options(cxxopts::Options& options, int argc, const char* const* argv) {
  // A mutable copy of argv: cxxopts 2.2 takes `const char**`, 3.x `const char* const*`.
  std::vector<const char*> arguments(argv, argv + argc);
  try {
    return options.parse(argc, arguments.data());
  } catch (const std::exception& e) {
    throw usage_error("{}; see l2sweep --help", plain_quotes(e.what()));
  }
}

/// Refuses positional arguments and --json without --list-metrics, and sets the action of
/// --help, --list-metrics and --version; true when it set one (nothing is trained).
bool parse_other_action(const cxxopts::ParseResult& result, CommandLine& command) {
  if (result.count("positional") > 0) {
    throw usage_error("unexpected argument '{}'; options start with --, see l2sweep --help",
                      result["positional"].as<std::vector<std::string>>().front());
  }
  if (result.count("help") > 0) {
    command.action = CommandLine::Action::kHelp;
    return true;
  }
  if (result.count("list-options") > 0) {
    command.action = CommandLine::Action::kListOptions;
    return true;
  }
  if (result.count("list-metrics") > 0) {
    command.action = CommandLine::Action::kListMetrics;
    command.json = result.count("json") > 0;
    return true;
  }
  if (result.count("json") > 0) {
    throw usage_error("--json: expected --list-metrics with it");
  }
  if (result.count("version") > 0) {
    command.action = CommandLine::Action::kVersion;
    return true;
  }
  return false;
}

/// The sweep's shard: from --shard, --shard-count and the environment; none for a search,
/// which refuses --shard-count and a Slurm array.
void resolve_sweep_shard(const cxxopts::ParseResult& result, SweepConfig& config) {
  // A search is one job: a Slurm array task's environment does not make it a shard (an
  // explicit --shard is refused with it).
  if (!config.l2_search) {
    config.shard = resolve_shard(config.shard, shard_count(result),
                                 [](const char* name) { return std::getenv(name); });
  } else if (result.count("shard-count") > 0) {
    throw usage_error("--shard-count with --l2 auto: a search runs as one job, not as shards");
  } else if (const char* task = std::getenv("SLURM_ARRAY_TASK_ID")) {
    // Every task of an array would run the whole search into the same folder.
    const std::optional<Shard> array =
        resolve_shard(std::nullopt, 0, [](const char* name) { return std::getenv(name); });
    if (array && array->count > 1) {
      throw usage_error(
          "--l2 auto in Slurm array task {} (SLURM_ARRAY_TASK_ID={}, one of {}): a search runs "
          "as one job; expected sbatch without --array, a list of strengths (--l2 0,1e-4,1e-3) "
          "to spread as shards, or for one search per task its own --out and --seed with "
          "SLURM_ARRAY_TASK_ID unset (env -u SLURM_ARRAY_TASK_ID l2sweep ...)",
          array->index, task, array->count);
    }
  }
}

}  // namespace

CommandLine parse_command_line(int argc, const char* const* argv) {
  CommandLine command;
  command.help = sweep_help();
  command.text = command_text(argc, argv);
  if (argc >= 2 && std::string(argv[1]) == "compare") {
    return parse_compare(std::vector<std::string>(argv + 2, argv + argc), std::move(command));
  }
  if (argc >= 2 && std::string(argv[1]) == "merge") {
    return parse_merge(argc, argv, std::move(command));
  }

  check_arguments(argc, argv);
  cxxopts::Options options = make_options();
  const cxxopts::ParseResult result = parse_options(options, argc, argv);
  if (parse_other_action(result, command)) return command;
  command.quiet = result.count("quiet") > 0;
  command.data_dir_given = result.count("data-dir") > 0;
  for (const SweepOption& option : sweep_options()) {
    if (result.count(option.name) == 0) continue;
    option.parse(command.config, option.is_flag ? "" : result[option.name].as<std::string>());
  }
  // --l2 auto measures noise across seeds: three unless told otherwise.
  if (command.config.l2_search && result.count("seeds") == 0) command.config.seeds = 3;
  resolve_sweep_shard(result, command.config);
  return command;
}

}  // namespace l2sweep::cli
