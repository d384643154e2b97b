#pragma once

// The outputs of an `--l2 auto` search (tune_report.cpp): private to the tune layer.

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "l2sweep/config/sweep_config.h"
#include "l2sweep/tune/search.h"
#include "l2sweep/tune/tune.h"

namespace l2sweep::tune {

/// Writes OUT/summary.json (its "tuning" object: every round, every candidate and its scores,
/// the answer, the cost beside a plain grid) and OUT/report.md for the search so far.
void write_outputs(const TuneResult& result, const SweepConfig& config,
                   const SearchSettings& settings, const std::string& command_line);

/// Whether a finished search's own files are whole: a finished summary.json with its tuning
/// object, and report.md. A --resume that trained nothing then leaves them as they are.
bool search_outputs_whole(const std::filesystem::path& folder);

/// What an earlier process of a search measured, as its summary.json says.
struct EarlierSearch {
  /// Each round's seconds, and whether it finished (a finished round is only replayed from its
  /// checkpoints now).
  std::vector<std::pair<double, bool>> rounds;
  double final_seconds = 0;  ///< the final runs', when an earlier process finished them
};

/// The earlier processes' measurements from `folder`'s summary.json; nothing when there is
/// none, or it has no tuning object.
EarlierSearch read_earlier_search(const std::filesystem::path& folder);

}  // namespace l2sweep::tune
