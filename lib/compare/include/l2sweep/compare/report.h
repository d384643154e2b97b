#pragma once

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "l2sweep/compare/comparison.h"
#include "l2sweep/compare/sources.h"

namespace l2sweep::compare {

/// What `l2sweep compare` was asked.
struct CompareOptions {
  std::vector<SourceArgument> arguments;
  std::string metric = "val_accuracy";  ///< the final metric the verdicts judge
  std::vector<std::string> ignore;      ///< --ignore: blocking settings to test anyway
  std::filesystem::path out;            ///< empty: runs/compare-<UTC timestamp>
};

/// compare.md: the sources, a verdict per strength with the numbers behind it, the rules
/// that decided them, and the final and best-epoch metrics per strength and source.
std::string compare_markdown(const Comparison& comparison, const std::string& command);

/// compare.csv: one row per (strength, source, statistic): runs, mean, std, and the
/// difference from the reference source's mean.
std::string compare_csv(const Comparison& comparison);

/// curves.csv: every run's metrics per epoch (source,l2,seed,epoch,loss,accuracy,val_loss,
/// val_accuracy), for the plots (scripts/plot_curves.py --compare OUT).
std::string curves_csv(const Comparison& comparison);

/// compare.json: the verdicts and group statistics, for scripts.
std::string compare_json(const Comparison& comparison, const std::string& command);

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
