#include "l2sweep/compare/sources.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <regex>
#include <system_error>

#include "l2sweep/base/error.h"
#include "l2sweep/base/parse.h"
#include "l2sweep/compare/readers.h"

namespace l2sweep::compare {
namespace fs = std::filesystem;
namespace {

constexpr const char* kL2Placeholder = "{l2}";
constexpr const char* kSeedPlaceholder = "{seed}";

/// One component of a pattern as a regular expression, and which placeholder each of its
/// groups captures (true: l2, false: seed).
struct ComponentPattern {
  std::regex regex;
  std::vector<bool> groups_are_l2;
};

ComponentPattern component_pattern(const std::string& component, const std::string& pattern) {
  std::string regex;
  ComponentPattern result;
  for (size_t i = 0; i < component.size();) {
    if (component[i] == '{') {
      const size_t close = component.find('}', i);
      const std::string placeholder =
          component.substr(i, close == std::string::npos ? std::string::npos : close - i + 1);
      if (placeholder == kL2Placeholder) {
        regex += "([^/]+?)";
        result.groups_are_l2.push_back(true);
      } else if (placeholder == kSeedPlaceholder) {
        regex += "(-?[0-9]+)";
        result.groups_are_l2.push_back(false);
      } else {
        throw usage_error("pattern '{}': unknown placeholder '{}'; expected {{l2}} or {{seed}}",
                          pattern, placeholder);
      }
      i += placeholder.size();
      continue;
    }
    if (std::string("\\^$.|?*+()[]{}").find(component[i]) != std::string::npos) regex += '\\';
    regex += component[i++];
  }
  result.regex = std::regex(regex);
  return result;
}

/// Adds what `text` says `is_l2`'s placeholder stands for to `label`; false when it is not a
/// number or contradicts an earlier occurrence.
bool bind_placeholder(RunLabel& label, bool is_l2, const std::string& text) {
  if (is_l2) {
    const auto l2 = parse_double(text);
    if (!l2 || !(*l2 >= 0) || std::isinf(*l2) || (label.l2 && *label.l2 != *l2)) return false;
    label.l2 = *l2;
  } else {
    const auto seed = parse_uint64(text);
    if (!seed || (label.seed && *label.seed != *seed)) return false;
    label.seed = *seed;
  }
  return true;
}

/// A sweep folder's source name: its folder's name, with the characters that would break
/// compare.csv and the tables (commas, bars, line breaks) replaced.
std::string default_source_name(const fs::path& folder) {
  fs::path normal = folder.lexically_normal();
  if (normal.filename().empty()) normal = normal.parent_path();
  if (normal.filename() == "." || normal.filename() == ".." || normal.empty()) {
    normal = fs::absolute(folder).lexically_normal();
    if (normal.filename().empty()) normal = normal.parent_path();
  }
  std::string name = normal.filename().string();
  for (char& c : name) {
    if (c == ',' || c == '|' || c == '\n' || c == '\r') c = '_';
  }
  return name.empty() ? "l2sweep" : name;
}

/// "l2 0.0001, 0.001 x seeds 0-2" style summary of a set of runs, for the description.
std::string run_count_text(const std::vector<RunCurves>& runs) {
  return fmt::format("{} run{}", runs.size(), runs.size() == 1 ? "" : "s");
}

/// A Keras source's setup: each setting as its runs give it (--setup, --label), else the seed
/// experiment's assumed value; its epochs from the logs.
Setup keras_setup(const std::vector<RunCurves>& runs) {
  Setup setup;
  int64_t low = -1, high = 0;
  for (const RunCurves& run : runs) {
    low = low < 0 ? run.epochs() : std::min(low, run.epochs());
    high = std::max(high, run.epochs());
  }
  setup["epochs"] =
      SettingValue{low == high ? std::to_string(high) : fmt::format("{} to {}", low, high),
                   SettingOrigin::kRecorded};
  for (const SetupKey& key : kSetupKeys) {
    if (std::string(key.name) == "epochs") continue;
    std::vector<std::string> per_run;
    for (const RunCurves& run : runs) {
      const auto found = run.given.find(key.name);
      per_run.push_back(found == run.given.end() ? "" : found->second);
    }
    SettingValue value = fold_given(key, per_run);
    if (!value.value.empty()) setup[key.name] = value;
  }
  return setup;
}

/// A pattern's matches: a path and what its placeholders bound so far.
using PatternMatches = std::vector<std::pair<fs::path, RunLabel>>;

/// Adds to `next` each entry of the folder `path` (the current one when empty), in name order,
/// whose name matches `compiled` and binds its placeholders consistently with `label`.
void add_matching_entries(const fs::path& path, const RunLabel& label,
                          const ComponentPattern& compiled, PatternMatches& next) {
  const fs::path folder = path.empty() ? fs::path(".") : path;
  std::vector<std::string> names;
  std::error_code error;
  for (fs::directory_iterator it(folder, error), end; !error && it != end; it.increment(error)) {
    names.push_back(it->path().filename().string());
  }
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    std::smatch match;
    if (!std::regex_match(name, match, compiled.regex)) continue;
    RunLabel bound = label;
    bool ok = true;
    for (size_t g = 0; g < compiled.groups_are_l2.size() && ok; ++g) {
      ok = bind_placeholder(bound, compiled.groups_are_l2[g], match[g + 1].str());
    }
    if (ok) next.emplace_back(path / name, bound);
  }
}

/// What read_sources builds up, argument by argument.
struct SourcesRead {
  std::vector<Source> sources;
  std::vector<bool> is_sweep;
  std::map<std::string, std::vector<std::string>> keras_origins;  // formats per source
  std::vector<std::pair<fs::path, std::string>> keras_paths;      // canonical, as given
  // Names given with --source, or taken by Keras runs given without one: a sweep folder's
  // default name steers clear of them.
  std::vector<std::string> claimed;
};

Source* source_named(SourcesRead& read, const std::string& name) {
  for (Source& source : read.sources) {
    if (source.name == name) return &source;
  }
  return nullptr;
}

bool name_taken(SourcesRead& read, const std::string& name) {
  return source_named(read, name) != nullptr ||
         std::find(read.claimed.begin(), read.claimed.end(), name) != read.claimed.end();
}

/// The paths `argument` names: its pattern's matches, or its one path with its --label.
PatternMatches argument_paths(const SourceArgument& argument) {
  PatternMatches paths;
  if (is_pattern(argument.path)) {
    if (argument.label) {
      throw usage_error("--label before the pattern '{}': a pattern labels its runs itself",
                        argument.path);
    }
    paths = expand_pattern(argument.path);
    if (paths.empty()) {
      throw usage_error(
          "pattern '{}' matches no file or folder (placeholders: {{l2}} a "
          "number, {{seed}} an integer)",
          argument.path);
    }
  } else {
    paths.emplace_back(argument.path, argument.label.value_or(RunLabel{}));
  }
  return paths;
}

/// The l2sweep folder `path` (of `argument`) as a source of its own.
void add_sweep_source(SourcesRead& read, const SourceArgument& argument, const fs::path& path) {
  if (!argument.setup.empty()) {
    throw usage_error("{}: an l2sweep folder records its own setup; --setup is for Keras runs",
                      path.string());
  }
  if (argument.label || is_pattern(argument.path)) {
    throw usage_error(
        "{}: an l2sweep folder labels its own runs; --label and patterns are "
        "for Keras runs",
        path.string());
  }
  std::string name = argument.source;
  if (name.empty()) {
    name = default_source_name(path);
    for (int n = 2; name_taken(read, name); ++n)
      name = default_source_name(path) + "-" + std::to_string(n);
  } else if (source_named(read, name) != nullptr) {
    throw usage_error(
        "--source {}: already has runs; an l2sweep folder is a source of "
        "its own",
        name);
  }
  read.sources.push_back(Source{name, fmt::format("l2sweep folder {}", path.string()),
                                read_l2sweep_folder(path), read_sweep_setup(path), true});
  read.is_sweep.push_back(true);
}

/// Records the Keras run `path`, refusing one read before (under another label it would count
/// as two seeds).
void claim_keras_path(SourcesRead& read, const fs::path& path) {
  std::error_code error;
  const fs::path canonical = fs::weakly_canonical(path, error);
  for (const auto& [seen, origin] : read.keras_paths) {
    if (seen == canonical) {
      throw usage_error("{}: the same Keras run as {}; each run can be read once", path.string(),
                        origin);
    }
  }
  read.keras_paths.emplace_back(canonical, path.string());
}

/// The Keras source `name` for the run `path`, added when new; an l2sweep folder's is refused.
Source* keras_source(SourcesRead& read, const std::string& name, const fs::path& path) {
  Source* source = source_named(read, name);
  if (source == nullptr) {
    read.sources.push_back(Source{name, "", {}, {}, false});
    read.is_sweep.push_back(false);
    source = &read.sources.back();
  } else if (read.is_sweep[static_cast<size_t>(source - read.sources.data())]) {
    throw usage_error(
        "{}: source '{}' is an l2sweep folder; put --source NAME before the "
        "Keras runs",
        path.string(), name);
  }
  return source;
}

/// The Keras runs at `path` (of `argument`, in `format`, labelled `label`) into their source.
void add_keras_runs(SourcesRead& read, const SourceArgument& argument, const fs::path& path,
                    const RunLabel& label, Format format) {
  // One Keras run read twice (under two labels) would count as two seeds.
  claim_keras_path(read, path);
  const std::string name = argument.source.empty() ? "keras" : argument.source;
  Source* source = keras_source(read, name, path);
  for (RunCurves& run : read_runs(path, format, label)) {
    // The source's --setup, then the run's own --label over it.
    std::map<std::string, std::string> given = argument.setup;
    for (const auto& [key, value] : run.given) given[key] = value;
    run.given = std::move(given);
    for (const auto& [key, field] :
         {std::pair{"dropout", &RunCurves::dropout}, {"weight_decay", &RunCurves::weight_decay}}) {
      const auto found = run.given.find(key);
      if (found != run.given.end()) run.*field = parse_double(found->second).value_or(0);
    }
    source->runs.push_back(std::move(run));
  }
  auto& formats = read.keras_origins[name];
  if (std::find(formats.begin(), formats.end(), format_name(format)) == formats.end()) {
    formats.push_back(format_name(format));
  }
}

/// Refuses two runs of `source` that would pair as one: the same setting and seed, or the same
/// setting with no seed to tell them apart.
void check_distinct_runs(const Source& source) {
  for (size_t i = 0; i < source.runs.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      const RunCurves& a = source.runs[j];
      const RunCurves& b = source.runs[i];
      if (a.l2 != b.l2 || a.dropout != b.dropout || a.weight_decay != b.weight_decay ||
          (a.seed && b.seed && *a.seed != *b.seed)) {
        continue;
      }
      if (a.seed && b.seed) {
        throw usage_error("source '{}' has two runs with {}: {} and {}", source.name, run_name(a),
                          a.origin, b.origin);
      }
      throw usage_error(
          "source '{}' has two runs with {} and no seed to tell them apart: {} "
          "and {}; label them --label l2={},seed=N or use {{seed}} in a pattern",
          source.name, run_name(a), a.origin, b.origin, a.l2);
    }
  }
}

/// Completes `source` once every argument is read: a Keras source's description (from the
/// formats of its files) and setup, and the check that its runs pair one to one.
void finish_source(Source& source, std::map<std::string, std::vector<std::string>>& keras_origins) {
  if (source.description.empty()) {
    std::string formats;
    for (const std::string& format : keras_origins[source.name]) {
      formats += (formats.empty() ? "" : " and ") + format + "s";
    }
    source.description = fmt::format("{} from {}", run_count_text(source.runs), formats);
  }
  check_distinct_runs(source);
  if (!source.is_sweep) source.setup = keras_setup(source.runs);
}

}  // namespace

bool is_pattern(const std::string& path) {
  return path.find(kL2Placeholder) != std::string::npos ||
         path.find(kSeedPlaceholder) != std::string::npos;
}

std::vector<std::pair<fs::path, RunLabel>> expand_pattern(const std::string& pattern) {
  if (pattern.find(kL2Placeholder) == std::string::npos) {
    throw usage_error("pattern '{}': needs {{l2}} where the file names hold the strength", pattern);
  }
  const fs::path as_path(pattern);
  PatternMatches matches = {{as_path.is_absolute() ? as_path.root_path() : fs::path(), RunLabel{}}};
  for (const fs::path& part : as_path.relative_path()) {
    const std::string component = part.string();
    PatternMatches next;
    if (!is_pattern(component)) {
      if (component.find('{') != std::string::npos) component_pattern(component, pattern);
      for (auto& [path, label] : matches) next.emplace_back(path / component, label);
    } else {
      const ComponentPattern compiled = component_pattern(component, pattern);
      for (const auto& [path, label] : matches) add_matching_entries(path, label, compiled, next);
    }
    matches = std::move(next);
  }
  PatternMatches existing;
  for (auto& [path, label] : matches) {
    std::error_code error;
    if (fs::exists(path, error)) existing.emplace_back(path, label);
  }
  return existing;
}

std::vector<Source> read_sources(const std::vector<SourceArgument>& arguments) {
  SourcesRead read;
  for (const SourceArgument& argument : arguments) {
    read.claimed.push_back(argument.source);
    if (argument.source.empty() && !fs::is_directory(argument.path)) {
      read.claimed.emplace_back("keras");
    }
  }
  for (const SourceArgument& argument : arguments) {
    for (const auto& [path, label] : argument_paths(argument)) {
      const Format format = detect_format(path);
      if (format == Format::kL2sweepFolder) {
        add_sweep_source(read, argument, path);
      } else {
        add_keras_runs(read, argument, path, label, format);
      }
    }
  }
  for (Source& source : read.sources) finish_source(source, read.keras_origins);
  return std::move(read.sources);
}

}  // namespace l2sweep::compare
