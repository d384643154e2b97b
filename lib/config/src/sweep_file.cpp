#include "l2sweep/config/sweep_file.h"

#include <map>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "l2sweep/base/error.h"
#include "l2sweep/base/files.h"
#include "l2sweep/config/options.h"

namespace l2sweep {
namespace fs = std::filesystem;
namespace {

using Settings = std::vector<std::pair<std::string, std::string>>;

/// The `name=value` lines of a sweep.cfg text, in order.
Settings settings(const std::string& text) {
  Settings result;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const size_t equals = line.find('=');
    result.emplace_back(line.substr(0, equals),
                        equals == std::string::npos ? "" : line.substr(equals + 1));
  }
  return result;
}

/// Every option that decides the numbers with its value: the one a sweep.cfg text gives, or
/// for an option it leaves out, the value that implies (SweepOption::unwritten_value).
std::map<std::string, std::string> comparable_settings(const std::string& text) {
  std::map<std::string, std::string> values;
  for (auto& [name, value] : settings(text)) values[name] = value;
  for (const SweepOption& option : sweep_options()) {
    if (option.decides_numbers && option.unwritten_value != nullptr) {
      values.emplace(option.name, option.unwritten_value);
    }
  }
  return values;
}

}  // namespace

std::string sweep_config_text(const SweepConfig& config) {
  std::string text;
  for (const SweepOption& option : sweep_options()) {
    if (!option.decides_numbers) continue;
    const std::string value = option.format(config);
    if (option.unwritten_value != nullptr && value == option.unwritten_value) continue;
    text += fmt::format("{}={}\n", option.name, value);
  }
  return text;
}

SweepConfig read_sweep_config(const fs::path& folder) {
  const fs::path path = folder / kSweepConfigFile;
  const std::optional<std::string> text = read_text_file(path);
  if (!text) {
    throw usage_error("{}: no l2sweep sweep here (no {}); expected the --out of a sweep",
                      folder.string(), kSweepConfigFile);
  }
  SweepConfig config;
  int number = 0;
  for (const auto& [name, value] : settings(*text)) {
    ++number;
    const SweepOption* option = find_sweep_option(name);
    try {
      if (option == nullptr || !option->decides_numbers) throw std::invalid_argument(name);
      option->parse(config, value);
    } catch (const std::exception&) {
      throw data_error("{}:{}: cannot read '{}={}'", path.string(), number, name, value);
    }
  }
  config.out_dir = folder.string();
  // What sweep.cfg holds must read back to the same text, or it was edited into nonsense.
  if (sweep_config_text(config) != *text) {
    throw data_error(
        "{}: does not read back to the same settings; expected a file written by l2sweep",
        path.string());
  }
  return config;
}

void check_resume_config(const fs::path& folder, const SweepConfig& config) {
  const std::optional<std::string> text = read_text_file(folder / kSweepConfigFile);
  if (!text) {
    throw usage_error(
        "--resume: {} holds no l2sweep sweep to resume (no {}); expected the --out "
        "of an earlier run",
        folder.string(), kSweepConfigFile);
  }
  const auto saved = comparable_settings(*text);
  const auto wanted = comparable_settings(sweep_config_text(config));
  for (const SweepOption& option : sweep_options()) {
    if (!option.decides_numbers) continue;
    const auto found = saved.find(option.name);
    const std::string& want = wanted.at(option.name);
    if (found == saved.end() || found->second != want) {
      throw usage_error(
          "--resume: --{} differs from the sweep in {}: it ran with {}, this command asks for "
          "{}; resume with the same options or choose a new --out",
          option.name, folder.string(), found == saved.end() ? "nothing" : found->second, want);
    }
  }
}

}  // namespace l2sweep
