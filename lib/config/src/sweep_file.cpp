#include "l2sweep/config/sweep_file.h"

#include <fmt/format.h>

#include <array>
#include <map>
#include <sstream>
#include <vector>

#include "l2sweep/base/error.h"
#include "l2sweep/base/files.h"
#include "l2sweep/base/json.h"
#include "l2sweep/config/options.h"

namespace l2sweep {
namespace fs = std::filesystem;
namespace {

/// The version of sweep.cfg's JSON layout; 1 was l2sweep 0.1's `name=value` lines.
constexpr int kSweepFileVersion = 2;

using Settings = std::map<std::string, std::string>;

/// The key of the data's fingerprint among a checkpoint's run settings (no option has it).
constexpr const char* kDataKey = "data";

/// Every option that decides the numbers, as the command line would give it.
Settings settings_of(const SweepConfig& config) {
  Settings settings;
  for (const SweepOption& option : sweep_options()) {
    if (option.decides_numbers) settings[option.name] = option.format(config);
  }
  return settings;
}

/// The settings of l2sweep 0.1's sweep.cfg: one `name=value` line each.
Settings legacy_settings(const std::string& text) {
  Settings settings;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const size_t equals = line.find('=');
    settings[line.substr(0, equals)] = equals == std::string::npos ? "" : line.substr(equals + 1);
  }
  return settings;
}

/// What a sweep.cfg holds: the settings (the options it lacks given the value they imply:
/// options added after it was written) and the fingerprint of the data (empty in files
/// written before l2sweep recorded it).
struct SavedSweep {
  Settings settings;
  std::string data;
};

/// Reads a sweep.cfg text. A data Error names the file and the problem.
SavedSweep saved_sweep(const std::string& text, const fs::path& path) {
  SavedSweep saved;
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '{') {
    const Json json = parse_json(text, path);
    const auto not_ours = [&](const std::string& what) {
      return data_error("{}: {}; expected a sweep.cfg of version {} written by l2sweep",
                        path.string(), what, kSweepFileVersion);
    };
    if (!json.is_object()) throw not_ours("not a JSON object");
    const auto version = json.find("version");
    if (version == json.end() || !version->is_number_integer() ||
        version->get<int64_t>() != kSweepFileVersion) {
      throw not_ours(version == json.end() ? "no version" : "version " + version->dump());
    }
    const auto settings = json.find("settings");
    if (settings == json.end() || !settings->is_object()) throw not_ours("no settings object");
    for (const auto& [name, value] : settings->items()) {
      if (!value.is_string()) throw not_ours(fmt::format("setting '{}' is not text", name));
      saved.settings[name] = value.get<std::string>();
    }
    if (const auto data = json.find("data"); data != json.end()) {
      if (!data->is_string()) throw not_ours("'data' is not text");
      saved.data = data->get<std::string>();
    }
  } else {
    saved.settings = legacy_settings(text);
  }
  for (const SweepOption& option : sweep_options()) {
    if (option.decides_numbers && option.unwritten_value != nullptr) {
      saved.settings.emplace(option.name, option.unwritten_value);
    }
  }
  return saved;
}

/// The first option whose setting differs between `saved` and `wanted`, among those `select`
/// accepts, as (option, saved text or "nothing", wanted text).
std::optional<std::array<std::string, 3>> first_difference(const Settings& saved,
                                                           const Settings& wanted,
                                                           bool (*select)(const SweepOption&)) {
  for (const SweepOption& option : sweep_options()) {
    if (!select(option)) continue;
    const auto found = saved.find(option.name);
    const std::string& want = wanted.at(option.name);
    if (found == saved.end() ||
        current_value(option.name, found->second) != current_value(option.name, want)) {
      return std::array<std::string, 3>{option.name,
                                        found == saved.end() ? "nothing" : found->second, want};
    }
  }
  return std::nullopt;
}

bool decides_numbers(const SweepOption& option) { return option.decides_numbers; }

bool decides_each_run(const SweepOption& option) {
  return option.decides_numbers && !option.names_runs;
}

}  // namespace

std::string sweep_config_text(const SweepConfig& config) {
  Json settings = Json::object();
  for (const SweepOption& option : sweep_options()) {
    if (option.decides_numbers) settings[option.name] = option.format(config);
  }
  Json document = Json::object();
  document["l2sweep"] = "the options that decide this sweep's numbers, and its data";
  document["version"] = kSweepFileVersion;
  document["settings"] = settings;
  if (!config.data_fingerprint.empty()) document["data"] = config.data_fingerprint;
  return json_text(document);
}

SweepConfig read_sweep_config(const fs::path& folder) {
  const fs::path path = folder / kSweepConfigFile;
  const std::optional<std::string> text = read_text_file(path);
  if (!text) {
    throw usage_error("{}: no l2sweep sweep here (no {}); expected the --out of a sweep",
                      folder.string(), kSweepConfigFile);
  }
  SweepConfig config;
  const SavedSweep saved = saved_sweep(*text, path);
  const Settings& settings = saved.settings;
  for (const auto& [name, value] : settings) {
    const SweepOption* option = find_sweep_option(name);
    try {
      if (option == nullptr || !option->decides_numbers) throw std::invalid_argument(name);
      option->parse(config, value);
    } catch (const std::exception&) {
      throw data_error("{}: cannot read setting '{}' = '{}'; expected a file written by l2sweep",
                       path.string(), name, value);
    }
  }
  // What sweep.cfg holds must read back to the same settings, or it was edited into nonsense.
  if (const auto difference = first_difference(settings, settings_of(config), decides_numbers)) {
    throw data_error(
        "{}: setting '{}' = '{}' does not read back the same; expected a file "
        "written by l2sweep",
        path.string(), (*difference)[0], (*difference)[1]);
  }
  config.out_dir = folder.string();
  config.data_fingerprint = saved.data;
  return config;
}

bool is_legacy_sweep_file(const fs::path& folder) {
  const std::optional<std::string> text = read_text_file(folder / kSweepConfigFile);
  if (!text) return false;
  const size_t first = text->find_first_not_of(" \t\r\n");
  return first == std::string::npos || (*text)[first] != '{';
}

void check_resume_config(const fs::path& folder, const SweepConfig& config) {
  const fs::path path = folder / kSweepConfigFile;
  const std::optional<std::string> text = read_text_file(path);
  if (!text) {
    throw usage_error(
        "--resume: {} holds no l2sweep sweep to resume (no {}); expected the --out "
        "of an earlier run",
        folder.string(), kSweepConfigFile);
  }
  const SavedSweep saved = saved_sweep(*text, path);
  if (const auto difference =
          first_difference(saved.settings, settings_of(config), decides_numbers)) {
    const auto& [name, was, wanted] = *difference;
    throw usage_error(
        "{}: --{} differs from the sweep in {}: it ran with {}, this command asks for "
        "{}; use the same options or choose a new --out",
        config.shard ? "--shard" : "--resume", name, folder.string(), was, wanted);
  }
  check_same_data(saved.data, config, folder);
}

void check_same_data(const std::string& saved, const SweepConfig& config, const fs::path& folder) {
  if (saved.empty() || config.data_fingerprint.empty() || saved == config.data_fingerprint) {
    return;
  }
  throw usage_error(
      "--data-dir {}: its data ({}) are not the data the sweep in {} trained on ({}); use the "
      "same files or choose a new --out",
      config.data_dir, config.data_fingerprint, folder.string(), saved);
}

std::string run_settings_text(const SweepConfig& config) {
  Json settings = Json::object();
  for (const SweepOption& option : sweep_options()) {
    if (decides_each_run(option)) settings[option.name] = option.format(config);
  }
  if (!config.data_fingerprint.empty()) settings[kDataKey] = config.data_fingerprint;
  return settings.dump();
}

std::optional<std::string> run_settings_difference(const std::string& saved,
                                                   const SweepConfig& config) {
  Settings settings;
  const Json json = Json::parse(saved, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return "no settings it can read";
  for (const auto& [name, value] : json.items()) {
    if (value.is_string()) settings[name] = value.get<std::string>();
  }
  const auto data = settings.find(kDataKey);
  if (data != settings.end() && !config.data_fingerprint.empty() &&
      data->second != config.data_fingerprint) {
    return fmt::format("data {}, this sweep's data {}", data->second, config.data_fingerprint);
  }
  // An option added after the checkpoint was written: it trained with that option's old value.
  for (const SweepOption& option : sweep_options()) {
    if (decides_each_run(option) && option.unwritten_value != nullptr) {
      settings.emplace(option.name, option.unwritten_value);
    }
  }
  const auto difference = first_difference(settings, settings_of(config), decides_each_run);
  if (!difference) return std::nullopt;
  const auto& [name, was, wanted] = *difference;
  return fmt::format("--{} {}, this sweep {}", name, was, wanted);
}

}  // namespace l2sweep
