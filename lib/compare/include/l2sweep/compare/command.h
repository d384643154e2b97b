#pragma once

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "l2sweep/compare/sources.h"

namespace l2sweep::compare {

/// What `l2sweep compare` was asked.
struct CompareOptions {
  std::vector<SourceArgument> arguments;
  std::string metric = "val_accuracy";  ///< the final metric the verdicts judge
  std::vector<std::string> ignore;      ///< --ignore: blocking settings to test anyway
  std::filesystem::path out;            ///< empty: runs/compare-<UTC timestamp>
};

/// The result of run_compare.
struct CompareResult {
  std::filesystem::path out_dir;
};

/// `l2sweep compare`: reads every source and compares them before anything is created (a
/// refusal changes nothing on disk), then writes compare.md, compare.csv, curves.csv and
/// compare.json into a new or empty folder and prints the verdicts to `console`.
CompareResult run_compare(const CompareOptions& options, const std::string& command,
                          std::FILE* console);

}  // namespace l2sweep::compare
