#pragma once

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "l2sweep/base/stop_token.h"
#include "l2sweep/config/sweep_config.h"
#include "l2sweep/tune/search.h"

namespace l2sweep::tune {

/// One round of the search: a sweep of its own in OUT/round-N.
struct RoundRecord {
  int round = 0;
  double low = 0, high = 0;       ///< the bracket its strengths span
  double spacing = 0;             ///< decades between its grid's strengths
  std::vector<double> strengths;  ///< the new strengths it trained
  int64_t runs = 0;
  int64_t epochs_trained = 0;  ///< epochs of its runs' histories
  /// Wall time, summed over the processes that trained it (a resumed round counts both).
  double seconds = 0;
  bool finished = false;  ///< false: interrupted; its runs give no candidate yet
};

/// What `--l2 auto` found.
struct TuneResult {
  std::filesystem::path out_dir;
  std::vector<Candidate> candidates;
  std::vector<RoundRecord> rounds;
  Analysis analysis;
  std::string stop_reason;
  /// Test accuracy of the chosen strengths (best, then 1se when it differs), scored once
  /// after the search in OUT/final: per seed.
  std::vector<std::pair<double, std::vector<double>>> test_accuracy;
  /// The final sweep retrained the chosen strengths bit for bit as the search did.
  bool final_matches_search = false;
  /// The final sweep (OUT/final): runs, epochs and seconds, beside the search's cost.
  int64_t final_runs = 0, final_epochs = 0;
  double final_seconds = 0;
  bool interrupted = false;
  bool searched = false;      ///< the search reached an answer
  bool all_diverged = false;  ///< every run of the first round diverged: no answer
};

/// `--l2 auto`: searches the strength that optimises config.tune_metric in rounds of cohorts,
/// each round a sweep of its own in OUT/round-N (so --resume, --jobs, checkpoints and every
/// output work as for any sweep), narrowing a log-spaced grid around the best mean score
/// until the seeds' noise cannot resolve a finer one; then trains the best and 1se strengths
/// once more in OUT/final, the only runs scored on the test set. Writes OUT/summary.json (a
/// "tuning" object: every round, every candidate and its scores, the answer, the cost beside
/// a plain grid of the same resolution) and OUT/report.md after every round. `settings`
/// low/high/maximise come from the config; the rest (points a round, round limit, finest
/// spacing) are recorded in OUT/tuning.cfg and must match on --resume. config.seeds must be 2
/// or more (the command line makes it 3 with --l2 auto). Throws Error as run_experiment does;
/// a search refused before its first round leaves nothing behind.
TuneResult tune_l2(const SweepConfig& config, const std::string& command_line, std::FILE* console,
                   StopToken stop = {}, SearchSettings settings = {});

}  // namespace l2sweep::tune
