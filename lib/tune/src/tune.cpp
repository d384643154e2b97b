#include "l2sweep/tune/tune.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "l2sweep/base/clock.h"
#include "l2sweep/base/error.h"
#include "l2sweep/base/text.h"
#include "l2sweep/config/sweep_file.h"
#include "l2sweep/data/data.h"
#include "l2sweep/experiment/experiment.h"
#include "l2sweep/outputs/console.h"
#include "l2sweep/outputs/setting_summary.h"
#include "l2sweep/sweep/plan.h"
#include "l2sweep/train/checkpoint.h"
#include "tune_folder.h"
#include "tune_report.h"

namespace l2sweep::tune {
namespace fs = std::filesystem;
namespace {

/// The value of `metric` ("val_accuracy" or "val_data_loss") after a run's last epoch, NaN
/// when it diverged or did not finish.
double final_value(const RunResult& run, const std::string& metric, int64_t epochs) {
  if (run.status != RunStatus::kCompleted || static_cast<int64_t>(run.history.size()) != epochs) {
    return std::nan("");
  }
  const EpochMetrics& last = run.history.back();
  return metric == "val_accuracy" ? last.val_accuracy : last.val_data_loss;
}

/// A round's (or the final) sweep: the user's settings with these strengths, in `folder`.
SweepConfig sweep_config(const SweepConfig& config, const std::vector<double>& strengths,
                         const fs::path& folder, bool score_test) {
  SweepConfig round = config;
  round.l2_search.reset();
  round.tune_metric = "val_accuracy";  // a plain sweep's; the search reads what it needs
  round.l2_strengths = strengths;
  round.out_dir = folder.string();
  round.resume = config.resume && fs::exists(folder);
  round.score_test = score_test;
  round.part_of_search = true;
  return round;
}

/// A sweep an earlier process of this search finished, read back from its checkpoints without
/// writing anything (each verified: checksum, settings, data, history); nullopt when one of
/// its runs is not finished, so that the sweep is resumed instead. Throws as --resume does
/// when the folder is not this sweep's.
std::optional<ExperimentResult> read_finished_sweep(const SweepConfig& sweep,
                                                    const std::string& fingerprint) {
  Plan plan = resolve_plan(sweep);
  plan.config.data_fingerprint = fingerprint;
  check_resume_config(sweep.out_dir, plan.config);
  const CheckpointStore checkpoints(fs::path(sweep.out_dir) / "checkpoints", plan.config,
                                    plan.engine);
  ExperimentResult result;
  result.out_dir = sweep.out_dir;
  for (const RunSpec& run : plan.runs) {
    auto progress = checkpoints.progress(run);
    if (!progress || progress->status == RunStatus::kInterrupted) return std::nullopt;
    progress->spec = run;
    result.runs.push_back(std::move(*progress));
  }
  return result;
}

/// Refuses a config that is not an `--l2 auto` search with two or more seeds.
void check_config(const SweepConfig& config) {
  config.validate();
  if (!config.l2_search) throw usage_error("tune_l2: expected --l2 auto");
  if (config.seeds < 2) {
    throw usage_error(
        "--l2 auto with --seeds {}: expected 2 or more seeds (the search measures "
        "noise across them; the default is 3)",
        config.seeds);
  }
}

/// A round's grid: the strengths it trains, the bracket they span and their spacing.
struct Grid {
  std::vector<double> strengths;
  double low = 0, high = 0;
  double spacing = 0;  ///< decades between the grid's strengths
};

/// The first round's grid: the log grid over the whole range, with the unregularised control
/// beside it, so that the search can answer "no L2", which no range of positive strengths
/// contains.
Grid first_grid(const SearchSettings& settings) {
  Grid grid;
  grid.strengths = log_grid(settings.low, settings.high, settings.grid_points);
  if (settings.try_control) grid.strengths.insert(grid.strengths.begin(), 0.0);
  grid.low = settings.low;
  grid.high = settings.high;
  grid.spacing = std::log10(grid.high / grid.low) / static_cast<double>(settings.grid_points - 1);
  return grid;
}

/// The candidates of one round: each of its `strengths` scored on every seed from `sweep`'s
/// runs, which are counted into `record`.
std::vector<Candidate> round_candidates(const ExperimentResult& sweep,
                                        const std::vector<double>& strengths, int round,
                                        const SweepConfig& config, RoundRecord& record) {
  std::vector<Candidate> added;
  for (const double l2 : strengths) {
    Candidate candidate;
    candidate.l2 = l2;
    candidate.round = round;
    for (const RunResult& run : sweep.runs) {
      if (run.spec.l2 != l2) continue;
      candidate.scores.push_back(final_value(run, config.tune_metric, config.epochs));
      candidate.val_accuracy.push_back(final_value(run, "val_accuracy", config.epochs));
      candidate.val_data_loss.push_back(final_value(run, "val_data_loss", config.epochs));
      ++record.runs;
      record.epochs_trained += static_cast<int64_t>(run.history.size());
    }
    added.push_back(std::move(candidate));
  }
  return added;
}

/// Whether any candidate has a finite score (a candidate with a diverged seed has none).
bool any_finite(const std::vector<Candidate>& candidates) {
  return std::any_of(candidates.begin(), candidates.end(),
                     [](const Candidate& c) { return std::isfinite(score_of(c.scores).mean); });
}

/// The strengths the final runs retrain: the best, the 1se when it differs, and l2 = 0 first
/// when it is the answer without being the best.
std::vector<double> chosen_strengths(const TuneResult& result) {
  const Candidate& best = result.candidates[result.analysis.best];
  const Candidate& one_se = result.candidates[result.analysis.one_se];
  std::vector<double> chosen{best.l2};
  if (one_se.l2 != best.l2) chosen.push_back(one_se.l2);
  if (result.analysis.no_l2 && best.l2 != 0) chosen.insert(chosen.begin(), 0.0);
  return chosen;
}

/// Whether `a` and `b` hold the same numbers, NaN matching NaN.
bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](double x, double y) {
           return x == y || (std::isnan(x) && std::isnan(y));
         });
}

/// The answer on the console, once the final runs are scored.
void print_answer(std::FILE* console, const TuneResult& result, const SweepConfig& config) {
  const Candidate& best = result.candidates[result.analysis.best];
  const Candidate& one_se = result.candidates[result.analysis.one_se];
  const Score score = score_of(best.scores);
  const double use = result.analysis.use;
  const auto use_test = std::find_if(result.test_accuracy.begin(), result.test_accuracy.end(),
                                     [&](const auto& entry) { return entry.first == use; });
  const std::string answer =
      result.analysis.no_l2
          ? fmt::format("use l2 = 0: no L2 ({})", result.stop_reason)
          : fmt::format("use l2 = {:.4g}{}", use,
                        result.analysis.at_edge
                            ? " (the best is at the edge of the range: widen it, e.g. "
                              "--l2 auto:LOW:HIGH)"
                            : "");
  const std::string evidence = fmt::format(
      "best {:.4g} ({} {} ± {} se), 1se {:.4g}, indistinguishable from the best: {:.4g} to "
      "{:.4g}; {} round{}, {} strengths, stopped because {}; test accuracy of l2 = {:.4g}: {}",
      best.l2, config.tune_metric, fixed(score.mean, 4), fixed(score.se, 4), one_se.l2,
      result.analysis.interval_low, result.analysis.interval_high, result.rounds.size(),
      result.rounds.size() == 1 ? "" : "s", result.candidates.size(), result.stop_reason, use,
      use_test == result.test_accuracy.end() ? std::string("n/a")
                                             : mean_std_text(seed_stats(use_test->second)));
  const std::string out = result.out_dir.string();
  const std::string script = plot_script();
  fmt::print(console,
             "\n--l2 auto: {}\n  {}\nresults in {}: report.md (the search and its evidence), "
             "summary.json (\"tuning\")\n",
             wrap_words(answer, 80, 11, "  "), wrap_words(evidence, 80, 2, "  "), out);
  if (!script.empty()) fmt::print(console, "next: {} {} draws tuning.png\n", script, out);
}

/// One `--l2 auto` search in this process: its folder (opened, and locked, on construction),
/// what earlier processes of it measured, and what it has found so far.
class Search {
 public:
  Search(const SweepConfig& config, const std::string& command_line, std::FILE* console,
         const StopToken& stop, const SearchSettings& settings)
      : config_(config),
        command_line_(command_line),
        console_(console),
        stop_(stop),
        settings_(settings),
        folder_(open_tune_folder(config, settings, command_line)) {
    result_.out_dir = folder_.path;
    if (config.resume) earlier_ = read_earlier_search(result_.out_dir);
  }

  /// The rounds, each narrowing the grid, until the next would tell nothing new. False when
  /// the search ends without an answer (interrupted, or every run diverged), its outputs
  /// written.
  bool run_rounds();
  /// The chosen strengths trained once more and scored on the test set. False when
  /// interrupted, its outputs written.
  bool run_final();

  TuneResult& result() { return result_; }

 private:
  /// Writes summary.json and report.md for the search so far.
  void write() {
    folder_.claim();
    write_outputs(result_, config_, settings_, command_line_);
  }
  /// The data's fingerprint, read only when a finished sweep is to be read back.
  const std::string& data_fingerprint();
  /// A sweep an earlier process finished is read back, not run again: nothing is rewritten,
  /// and a refusal found later changes nothing.
  ExperimentResult run_or_read(const SweepConfig& sweep, const std::string& label,
                               bool finished_before);
  /// Round `round`'s sweep of `grid`, in OUT/round-N.
  ExperimentResult run_round(int round, const Grid& grid);
  /// Adds round `round` (its record, and its candidates when it finished) to the result.
  /// False when it ends the search without an answer, the outputs written.
  bool add_round(int round, const Grid& grid, const ExperimentResult& sweep,
                 SteadyClock::time_point start, bool replayed);
  /// The final runs' test accuracy, and whether they reproduce the search's runs.
  void record_final(const ExperimentResult& final_sweep, const std::vector<double>& chosen);

  const SweepConfig& config_;
  const std::string& command_line_;
  std::FILE* console_;
  const StopToken& stop_;
  const SearchSettings& settings_;
  TuneFolder folder_;
  EarlierSearch earlier_;
  TuneResult result_;
  /// Whether this process trained anything: a --resume of a finished search only reads.
  bool trained_ = false;
  std::optional<std::string> fingerprint_;
};

const std::string& Search::data_fingerprint() {
  if (!fingerprint_) {
    fingerprint_ =
        load_datasets({config_.data_dir, config_.val_size, config_.train_size}).fingerprint;
  }
  return *fingerprint_;
}

ExperimentResult Search::run_or_read(const SweepConfig& sweep, const std::string& label,
                                     bool finished_before) {
  if (finished_before && fs::exists(sweep.out_dir)) {
    if (auto done = read_finished_sweep(sweep, data_fingerprint())) {
      fmt::print(console_, "read back from {}: finished earlier\n", sweep.out_dir);
      return *done;
    }
  }
  folder_.claim();
  trained_ = true;
  return run_experiment(sweep, command_line_ + label, console_, stop_);
}

ExperimentResult Search::run_round(int round, const Grid& grid) {
  const fs::path round_dir = result_.out_dir / fmt::format("round-{}", round);
  try {
    const SweepConfig round_config = sweep_config(config_, grid.strengths, round_dir, false);
    if (round == 1) resolve_plan(round_config);  // refuse before the banner
    fmt::print(console_,
               "\n=== --l2 auto, round {}: {} strengths from {:.4g} to {:.4g} x {} seeds "
               "===\n",
               round, grid.strengths.size(), grid.low, grid.high, config_.seeds);
    std::fflush(console_);
    const size_t before = static_cast<size_t>(round - 1);
    return run_or_read(round_config, fmt::format(" (round {})", round),
                       before < earlier_.rounds.size() && earlier_.rounds[before].second);
  } catch (const Error&) {
    // Refused before the search started (bad data, a device it cannot use): take back the
    // folder's tuning.cfg and lock, so the same command can be rerun once it is fixed.
    if (round == 1 && !fs::exists(round_dir)) folder_.undo();
    throw;
  }
}

bool Search::add_round(int round, const Grid& grid, const ExperimentResult& sweep,
                       SteadyClock::time_point start, bool replayed) {
  const size_t index = static_cast<size_t>(round - 1);
  const double before = index < earlier_.rounds.size() ? earlier_.rounds[index].first : 0.0;
  RoundRecord record{round,
                     grid.low,
                     grid.high,
                     grid.spacing,
                     grid.strengths,
                     0,
                     0,
                     replayed ? before : before + seconds_since(start),
                     !sweep.interrupted};
  const std::vector<Candidate> added =
      round_candidates(sweep, grid.strengths, round, config_, record);
  result_.rounds.push_back(record);
  if (sweep.interrupted) {
    // A round cut short adds no candidate: the answer so far stands on finished rounds.
    result_.interrupted = true;
    write();
    return false;
  }
  result_.candidates.insert(result_.candidates.end(), added.begin(), added.end());
  if (!any_finite(result_.candidates)) {
    result_.stop_reason = "every run diverged";
    result_.all_diverged = true;
    write();
    return false;
  }
  return true;
}

bool Search::run_rounds() {
  Grid grid = first_grid(settings_);
  for (int round = 1;; ++round) {
    const auto start = SteadyClock::now();
    const ExperimentResult sweep = run_round(round, grid);
    const size_t index = static_cast<size_t>(round - 1);
    const bool replayed = index < earlier_.rounds.size() && earlier_.rounds[index].second;
    if (!add_round(round, grid, sweep, start, replayed)) return false;
    result_.analysis = analyse(result_.candidates, settings_.maximise);
    const NextRound next = next_round(result_.candidates, result_.analysis, settings_, round);
    result_.stop_reason = next.stop_reason;
    // A round an earlier process finished is only replayed: the folder's summary.json and
    // report.md already say at least this much, and stay as they are until this process adds
    // something (a refusal found in a later round then changes nothing there).
    if (!replayed) write();
    if (next.strengths.empty()) return true;
    grid = Grid{next.strengths, next.low, next.high, next.spacing};
  }
}

void Search::record_final(const ExperimentResult& final_sweep, const std::vector<double>& chosen) {
  result_.final_matches_search = true;
  for (const double l2 : chosen) {
    std::vector<double> test, accuracy, cross_entropy;
    for (const RunResult& run : final_sweep.runs) {
      if (run.spec.l2 != l2) continue;
      test.push_back(run.test ? run.test->accuracy : std::nan(""));
      accuracy.push_back(final_value(run, "val_accuracy", config_.epochs));
      cross_entropy.push_back(final_value(run, "val_data_loss", config_.epochs));
      ++result_.final_runs;
      result_.final_epochs += static_cast<int64_t>(run.history.size());
    }
    const Candidate& searched = *std::find_if(result_.candidates.begin(), result_.candidates.end(),
                                              [l2 = l2](const Candidate& c) { return c.l2 == l2; });
    result_.final_matches_search = result_.final_matches_search &&
                                   same_bits(accuracy, searched.val_accuracy) &&
                                   same_bits(cross_entropy, searched.val_data_loss);
    result_.test_accuracy.emplace_back(l2, test);
  }
}

bool Search::run_final() {
  // No peeking: the test set is scored once, after the search, for the chosen strengths only.
  const std::vector<double> chosen = chosen_strengths(result_);
  fmt::print(console_,
             "\n=== --l2 auto: best {:.4g}, 1se {:.4g}; scoring them on the test set "
             "===\n",
             result_.candidates[result_.analysis.best].l2,
             result_.candidates[result_.analysis.one_se].l2);
  std::fflush(console_);
  const auto final_start = SteadyClock::now();
  const ExperimentResult final_sweep =
      run_or_read(sweep_config(config_, chosen, result_.out_dir / "final", true), " (final)",
                  earlier_.final_seconds > 0);
  result_.final_seconds =
      earlier_.final_seconds > 0 ? earlier_.final_seconds : seconds_since(final_start);
  if (final_sweep.interrupted) {
    result_.interrupted = true;
    write();
    return false;
  }
  record_final(final_sweep, chosen);
  result_.searched = true;
  if (trained_ || !search_outputs_whole(result_.out_dir)) {
    write();
  } else {
    fmt::print(console_,
               "\n--l2 auto: the search is complete: nothing to train, no file changed\n");
  }
  return true;
}

}  // namespace

TuneResult tune_l2(const SweepConfig& config, const std::string& command_line, std::FILE* console,
                   StopToken stop, SearchSettings settings) {
  check_config(config);
  settings.low = config.l2_search->low;
  settings.high = config.l2_search->high;
  settings.maximise = config.tune_metric == "val_accuracy";
  Search search(config, command_line, console, stop, settings);
  if (search.run_rounds() && search.run_final()) print_answer(console, search.result(), config);
  return std::move(search.result());
}

}  // namespace l2sweep::tune
