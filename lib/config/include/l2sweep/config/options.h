#pragma once

#include <string>
#include <vector>

#include "l2sweep/base/json.h"
#include "l2sweep/config/sweep_config.h"

namespace l2sweep {

/// One field of SweepConfig as an option: its name on the command line and in sweep.cfg,
/// and how its value is read, written back and recorded. The command line, sweep.cfg and
/// summary.json are all derived from sweep_options(), so a new option is one entry there
/// (and a field in SweepConfig).
struct SweepOption {
  /// "batch-size": the command line's --batch-size and sweep.cfg's key.
  const char* name;
  /// What its value is, in --help and the reference: "LIST", "N", "DIR", "on|off"; nullptr
  /// for a flag.
  const char* value_name;
  /// One line for --help.
  const char* help;
  /// The reference's fuller text (Markdown, docs/options.md).
  const char* reference;
  /// The default as people read it when format(SweepConfig{}) is not the whole truth ("1 (3
  /// with --l2 auto)", "runs/<UTC timestamp>"); nullptr: format(SweepConfig{}).
  const char* default_text;
  /// Whether it decides the numbers: saved in sweep.cfg and compared on --resume, and unless
  /// it only names the runs (names_runs), saved in every checkpoint and compared with it.
  bool decides_numbers;
  /// Its key in summary.json's config; nullptr when summary.json does not record it.
  const char* summary_key;
  /// Reads `text`, as given after --name, into `config`; a usage Error names the option and
  /// the text when it is not a value of the right kind (ranges are SweepConfig::validate's).
  void (*parse)(SweepConfig& config, const std::string& text);
  /// The value as text that parse() reads back to the same value; the default in --help.
  std::string (*format)(const SweepConfig& config);
  /// The value as summary.json's config records it (a number, a string, a list...).
  Json (*record)(const SweepConfig& config);
  /// A switch without a value (--resume); parse() is called with an empty text.
  bool is_flag = false;
  /// The value of an option added after sweeps were saved without it: what those sweeps ran
  /// with, so that they still resume; nullptr: every sweep.cfg has it.
  const char* unwritten_value = nullptr;
  /// It says which runs the sweep has (their strengths and seeds) rather than how each run
  /// trains; each checkpoint records its own run's strength and seed instead.
  bool names_runs = false;
};

/// A value an option had under another name when sweeps were saved with it: sweep.cfg,
/// tuning.cfg, checkpoints and the command line still accept `was`, and it compares equal to
/// `now` wherever a resume, a shard or a search checks that settings match.
struct RenamedValue {
  const char* option;
  const char* was;
  const char* now;
};

inline constexpr RenamedValue kRenamedValues[] = {
    {"engine", "device", "tensor"},  // the tensor engine, called the device engine before 0.4
};

/// `text` as option `option` calls it now (kRenamedValues), or `text` itself.
std::string current_value(const std::string& option, const std::string& text);

/// Every option of a sweep, in the order --help, sweep.cfg and summary.json list them.
const std::vector<SweepOption>& sweep_options();

/// The option called `name`, or nullptr.
const SweepOption* find_sweep_option(const std::string& name);

/// Its default as --help and the reference show it: default_text, or the value of
/// SweepConfig{}; empty for a flag.
std::string default_text(const SweepOption& option);

}  // namespace l2sweep
