#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "l2sweep/compare/curves.h"

namespace l2sweep::compare {

/// One path on `l2sweep compare`'s command line, with what came before it.
struct SourceArgument {
  std::string source;             ///< the --source NAME in effect; empty when none was given
  std::string path;               ///< a file, a folder, or a pattern with {l2} and {seed}
  std::optional<RunLabel> label;  ///< --label given just before it
  /// --setup given for its source (before it): settings of all its Keras runs, which a
  /// --label's override.
  std::map<std::string, std::string> setup = {};
};

/// Whether `path` holds a {l2} or {seed} placeholder.
bool is_pattern(const std::string& path);

/// The files and folders matching `pattern`, in path order, each labelled by what its
/// {l2} (any number strtod reads) and {seed} (an integer) stand for. A placeholder may appear
/// in any component, more than once if it always stands for the same value. A usage Error
/// for an unknown placeholder or one without {l2}; an empty result is the caller's to refuse.
std::vector<std::pair<std::filesystem::path, RunLabel>> expand_pattern(const std::string& pattern);

/// Reads every argument and groups the runs into sources, in the order they first appear:
/// an l2sweep folder is a source of its own (named after its folder unless --source named
/// it); Keras runs belong to the --source before them, or to one source called "keras".
/// Errors: a file that cannot be read or is not one of the formats (data, naming it); a
/// pattern that matches nothing, a Keras run without a strength, a --label on an l2sweep
/// folder, two runs with the same strength and seed in one source (usage, naming both).
std::vector<Source> read_sources(const std::vector<SourceArgument>& arguments);

}  // namespace l2sweep::compare
