#pragma once

#include <string>

// The command (CompareOptions, run_compare) is in command.h, which this header still provides
// for the files that reach it through here.
#include "l2sweep/compare/command.h"  // IWYU pragma: export
#include "l2sweep/compare/comparison.h"
#include "l2sweep/compare/sources.h"

namespace l2sweep::compare {

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

/// What `l2sweep compare` prints: the setups table, then one line per verdict.
std::string compare_console_text(const Comparison& comparison);

}  // namespace l2sweep::compare
