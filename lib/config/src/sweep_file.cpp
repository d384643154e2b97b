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

/// The settings a sweep.cfg text holds, the options it lacks given the value they imply
/// (options added after it was written). A data Error names the file and the problem.
Settings saved_settings(const std::string& text, const fs::path& path) {
  Settings settings;
  if (text.find_first_not_of(" \t\r\n") != std::string::npos &&
      text[text.find_first_not_of(" \t\r\n")] == '{') {
    const Json json = parse_json(text, path);
    if (!json.is_object() || json.value("version", 0) != kSweepFileVersion ||
        !json.contains("settings") || !json["settings"].is_object()) {
      throw data_error(
          "{}: not an l2sweep sweep.cfg of version {}; expected a file written by "
          "l2sweep",
          path.string(), kSweepFileVersion);
    }
    for (const auto& [name, value] : json["settings"].items()) {
      if (!value.is_string()) {
        throw data_error("{}: setting '{}' is not text; expected a file written by l2sweep",
                         path.string(), name);
      }
      settings[name] = value.get<std::string>();
    }
  } else {
    settings = legacy_settings(text);
  }
  for (const SweepOption& option : sweep_options()) {
    if (option.decides_numbers && option.unwritten_value != nullptr) {
      settings.emplace(option.name, option.unwritten_value);
    }
  }
  return settings;
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
    if (found == saved.end() || found->second != want) {
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
  document["l2sweep"] = "the options that decide this sweep's numbers";
  document["version"] = kSweepFileVersion;
  document["settings"] = settings;
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
  const Settings settings = saved_settings(*text, path);
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
  return config;
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
  if (const auto difference =
          first_difference(saved_settings(*text, path), settings_of(config), decides_numbers)) {
    const auto& [name, saved, wanted] = *difference;
    throw usage_error(
        "--resume: --{} differs from the sweep in {}: it ran with {}, this command asks for "
        "{}; resume with the same options or choose a new --out",
        name, folder.string(), saved, wanted);
  }
}

std::string run_settings_text(const SweepConfig& config) {
  Json settings = Json::object();
  for (const SweepOption& option : sweep_options()) {
    if (decides_each_run(option)) settings[option.name] = option.format(config);
  }
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
  const auto difference = first_difference(settings, settings_of(config), decides_each_run);
  if (!difference) return std::nullopt;
  const auto& [name, was, wanted] = *difference;
  return fmt::format("--{} {}, this sweep {}", name, was, wanted);
}

}  // namespace l2sweep
