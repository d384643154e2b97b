#include "tune_folder.h"

#include <fmt/format.h>

#include <string>
#include <system_error>

#include "l2sweep/base/error.h"
#include "l2sweep/base/files.h"
#include "l2sweep/base/json.h"
#include "l2sweep/base/publish.h"
#include "l2sweep/base/version.h"
#include "l2sweep/config/options.h"
#include "l2sweep/experiment/output_folder.h"

namespace l2sweep::tune {
namespace fs = std::filesystem;
namespace {

constexpr const char* kTuningConfigFile = "tuning.cfg";

/// The settings a search's answer depends on: the options as the command line gives them
/// (the strengths and test scoring aside, which the search sets per round) and its own rules.
Json settings_json(const SweepConfig& config, const SearchSettings& search) {
  Json settings = Json::object();
  for (const SweepOption& option : sweep_options()) {
    const std::string name = option.name;
    if ((option.decides_numbers && name != "score-test") || name == "tune-metric") {
      settings[name] = option.format(config);
    }
  }
  settings["grid-points"] = std::to_string(search.grid_points);
  settings["max-rounds"] = std::to_string(search.max_rounds);
  settings["min-spacing-decades"] = fmt::format("{}", search.min_spacing_decades);
  return settings;
}

/// The search's folder, made: --out's (created where missing) or a new one under runs/.
TuneFolder make_tune_folder(const SweepConfig& config) {
  TuneFolder opened;
  const bool named = !config.out_dir.empty();
  opened.path = named ? fs::path(config.out_dir) : default_output_folder();
  opened.created = first_missing(opened.path);
  if (named) {
    const FolderState before = inspect_output_folder(opened.path);
    if (before == FolderState::kNotAFolder) throw not_a_folder("--out", opened.path);
    create_folder(opened.path);
  } else {
    opened.path = claim_new_folder(opened.path);
  }
  return opened;
}

/// On --resume: refuses when the search in `folder` was made with other settings than
/// `config`'s and `search`'s.
void check_same_settings(const fs::path& folder, const SweepConfig& config,
                         const SearchSettings& search) {
  const auto text = read_text_file(folder / kTuningConfigFile);
  const Json saved = parse_json(text.value_or(""), folder / kTuningConfigFile);
  const Json now = settings_json(config, search);
  for (const auto& [name, value] : now.items()) {
    const bool present = saved.contains("settings") && saved["settings"].contains(name);
    if (present && saved["settings"][name] == value) continue;
    if (present && saved["settings"][name].is_string() && value.is_string() &&
        current_value(name, saved["settings"][name].get<std::string>()) ==
            current_value(name, value.get<std::string>())) {
      continue;  // a value renamed since (kRenamedValues)
    }
    const SweepOption* option = find_sweep_option(name);
    // A search saved before an option existed ran with its old value.
    if (!present && option != nullptr && option->unwritten_value != nullptr &&
        value == option->unwritten_value) {
      continue;
    }
    const bool recorded = present && saved["settings"][name].is_string();
    const std::string there = recorded ? saved["settings"][name].get<std::string>()
                              : !present && option != nullptr && option->unwritten_value != nullptr
                                  ? option->unwritten_value
                                  : "not recorded";
    if (option == nullptr) {
      // The search's own rules, not options: another l2sweep made it.
      throw usage_error(
          "--resume: the search in {} was made with other search rules ({} {} there, {} "
          "here: another l2sweep version); expected the l2sweep that started it",
          folder.string(), name, there, value.get<std::string>());
    }
    throw usage_error(
        "--resume: --{} {} differs from the search in {} ({}); expected the search's own "
        "settings",
        name, value.get<std::string>(), folder.string(), there);
  }
}

/// Locks `opened` and checks what it holds; on --resume, that its search has these settings;
/// for a new search, writes tuning.cfg.
void lock_and_check(TuneFolder& opened, const SweepConfig& config, const SearchSettings& search,
                    const std::string& command_line) {
  // The lock first: of two searches started at once, the second is told who holds it.
  opened.lock = FileLock::try_lock(opened.path / kTuneLockFile, FileLock::Mode::kExclusive);
  if (!opened.lock) {
    throw output_error("--out {}: another l2sweep is searching in it ({})", opened.path.string(),
                       FileLock::holder(opened.path / kTuneLockFile));
  }
  const fs::path& folder = opened.path;
  const FolderState state = inspect_output_folder(folder);
  const bool has_search = fs::exists(folder / kTuningConfigFile);
  if (has_search && !config.resume) {
    throw output_error(
        "--out {}: holds an --l2 auto search; add --resume to continue it, or choose another "
        "--out",
        folder.string());
  }
  if (!has_search && state != FolderState::kMissing && state != FolderState::kEmpty) {
    throw folder_not_empty("--out", folder, "; it holds no --l2 auto search (no tuning.cfg)");
  }
  if (has_search) check_same_settings(folder, config, search);
  opened.command_line = command_line;
  if (!has_search) {
    opened.claim();
    Json saved = Json::object();
    saved["l2sweep"] = kVersion;
    saved["settings"] = settings_json(config, search);
    write_file_atomically(folder / kTuningConfigFile, json_text(saved));
    opened.started = true;
  }
}

}  // namespace

void TuneFolder::claim() {
  if (claimed || !lock) return;
  lock->record_holder(command_line);
  claimed = true;
}

void TuneFolder::undo() {
  std::error_code error;
  if (started) fs::remove(path / kTuningConfigFile, error);
  if (lock) lock->release_and_remove_if_created();
  if (created.empty()) return;
  for (fs::path at = fs::absolute(path).lexically_normal();; at = at.parent_path()) {
    if (!fs::remove(at, error) || at == created || at == at.parent_path()) break;
  }
}

TuneFolder open_tune_folder(const SweepConfig& config, const SearchSettings& search,
                            const std::string& command_line) {
  TuneFolder opened = make_tune_folder(config);
  try {
    lock_and_check(opened, config, search, command_line);
  } catch (const Error&) {
    opened.undo();
    throw;
  }
  return opened;
}

}  // namespace l2sweep::tune
