#include "l2sweep/tune/tune.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <system_error>

#include "l2sweep/base/clock.h"
#include "l2sweep/base/error.h"
#include "l2sweep/base/file_lock.h"
#include "l2sweep/base/files.h"
#include "l2sweep/base/publish.h"
#include "l2sweep/base/json.h"
#include "l2sweep/base/version.h"
#include "l2sweep/config/options.h"
#include "l2sweep/config/plan.h"
#include "l2sweep/config/sweep_file.h"
#include "l2sweep/data/data.h"
#include "l2sweep/experiment/experiment.h"
#include "l2sweep/experiment/output_folder.h"
#include "l2sweep/outputs/stats.h"
#include "l2sweep/outputs/summary.h"
#include "l2sweep/train/checkpoint.h"

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

/// Opens the search's folder: new (or empty), or on --resume one holding tuning.cfg with the
/// same settings (a folder that is missing or empty starts the search, so a requeued job can
/// always rerun its command). Holds its lock for the search's lifetime.
struct TuneFolder {
  fs::path path;
  std::optional<FileLock> lock;
  fs::path created;      ///< the highest folder this process created ("" when none)
  bool started = false;  ///< this process wrote tuning.cfg (a new search)
  std::string command_line;
  bool claimed = false;  ///< this process is recorded as the lock's holder

  /// Records this process as the lock's holder, once, before its first write: a --resume that
  /// finds the search finished writes nothing, the lock file included.
  void claim() {
    if (claimed || !lock) return;
    lock->record_holder(command_line);
    claimed = true;
  }

  /// Takes back what opening wrote, for a search refused before its first round started:
  /// tuning.cfg, the lock file and the folders created for it (when empty).
  void undo() {
    std::error_code error;
    if (started) fs::remove(path / kTuningConfigFile, error);
    if (lock) lock->release_and_remove_if_created();
    if (created.empty()) return;
    for (fs::path at = fs::absolute(path).lexically_normal();; at = at.parent_path()) {
      if (!fs::remove(at, error) || at == created || at == at.parent_path()) break;
    }
  }
};

TuneFolder open_tune_folder(const SweepConfig& config, const SearchSettings& search,
                            const std::string& command_line) {
  TuneFolder opened;
  const bool named = !config.out_dir.empty();
  opened.path = named ? fs::path(config.out_dir) : default_output_folder();
  opened.created = first_missing(opened.path);
  if (named) {
    const FolderState before = inspect_output_folder(opened.path);
    if (before == FolderState::kNotAFolder) throw not_a_folder(opened.path);
    create_folder(opened.path);
  } else {
    opened.path = claim_new_folder(opened.path);
  }
  try {
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
      throw output_error(
          "--out {}: not empty and not an --l2 auto search (no tuning.cfg); expected a new or "
          "empty folder",
          folder.string());
    }
    if (has_search) {
      const auto text = read_text_file(folder / kTuningConfigFile);
      const Json saved = parse_json(text.value_or(""), folder / kTuningConfigFile);
      const Json now = settings_json(config, search);
      for (const auto& [name, value] : now.items()) {
        const bool present = saved.contains("settings") && saved["settings"].contains(name);
        if (present && saved["settings"][name] == value) continue;
        const SweepOption* option = find_sweep_option(name);
        // A search saved before an option existed ran with its old value.
        if (!present && option != nullptr && option->unwritten_value != nullptr &&
            value == option->unwritten_value) {
          continue;
        }
        const bool recorded = present && saved["settings"][name].is_string();
        const std::string there =
            recorded ? saved["settings"][name].get<std::string>()
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
    opened.command_line = command_line;
    if (!has_search) {
      opened.claim();
      Json saved = Json::object();
      saved["l2sweep"] = kVersion;
      saved["settings"] = settings_json(config, search);
      write_file_atomically(folder / kTuningConfigFile, json_text(saved));
      opened.started = true;
    }
  } catch (const Error&) {
    opened.undo();
    throw;
  }
  return opened;
}

/// The value of `metric` ("val_accuracy" or "val_data_loss") after a run's last epoch, NaN
/// when it diverged or did not finish.
double final_value(const RunResult& run, const std::string& metric, int64_t epochs) {
  if (run.status != RunStatus::kCompleted || static_cast<int64_t>(run.history.size()) != epochs) {
    return std::nan("");
  }
  const EpochMetrics& last = run.history.back();
  return metric == "val_accuracy" ? last.val_accuracy : last.val_data_loss;
}

Json score_json(const std::vector<double>& values) {
  const Score s = score_of(values);
  Json json = Json::object();
  json["mean"] = json_number(s.mean);
  json["std"] = json_number(s.std);
  json["se"] = json_number(s.se);
  Json per_seed = Json::array();
  for (const double v : values) per_seed.push_back(json_number(v));
  json["per_seed"] = per_seed;
  return json;
}

/// The search's rounds added up (the final runs aside).
struct Totals {
  int64_t runs = 0, epochs = 0;
  double seconds = 0;
};

Totals totals(const TuneResult& result) {
  Totals t;
  for (const RoundRecord& r : result.rounds) {
    t.runs += r.runs;
    t.epochs += r.epochs_trained;
    t.seconds += r.seconds;
  }
  return t;
}

/// What a plain log grid over the whole range with the search's finest spacing would cost.
struct PlainGrid {
  int64_t strengths = 0, runs = 0, epochs = 0;
  double seconds = 0;
};

PlainGrid plain_grid(const TuneResult& result, const SweepConfig& config,
                     const SearchSettings& settings) {
  PlainGrid grid;
  if (result.rounds.empty()) return grid;
  // The finest spacing the search's grids reached, in decades.
  double spacing = INFINITY;
  for (const RoundRecord& round : result.rounds) spacing = std::min(spacing, round.spacing);
  grid.strengths =
      static_cast<int64_t>(std::ceil(std::log10(settings.high / settings.low) / spacing - 1e-9)) +
      1;
  grid.runs = grid.strengths * config.seeds;
  grid.epochs = grid.runs * config.epochs;
  int64_t runs = 0;
  double seconds = 0;
  for (const RoundRecord& round : result.rounds) {
    if (round.seconds > 0) {
      runs += round.runs;
      seconds += round.seconds;
    }
  }
  grid.seconds =
      runs > 0 ? seconds / static_cast<double>(runs) * static_cast<double>(grid.runs) : 0.0;
  return grid;
}

Json tuning_json(const TuneResult& result, const SweepConfig& config,
                 const SearchSettings& settings) {
  Json json = Json::object();
  json["metric"] = config.tune_metric;
  json["maximise"] = settings.maximise;
  json["range"] = {settings.low, settings.high};
  json["seeds"] = config.seeds;
  json["grid_points"] = settings.grid_points;
  json["finished"] = result.searched;
  Json rounds = Json::array();
  for (const RoundRecord& r : result.rounds) {
    rounds.push_back({{"round", r.round},
                      {"folder", fmt::format("round-{}", r.round)},
                      {"low", r.low},
                      {"high", r.high},
                      {"spacing_decades", r.spacing},
                      {"strengths", r.strengths},
                      {"runs", r.runs},
                      {"epochs_trained", r.epochs_trained},
                      {"seconds", r.seconds},
                      {"finished", r.finished}});
  }
  json["rounds"] = rounds;
  Json candidates = Json::array();
  for (size_t i = 0; i < result.candidates.size(); ++i) {
    const Candidate& c = result.candidates[i];
    Json item = {{"l2", c.l2}, {"round", c.round}};
    item["score"] = score_json(c.scores);
    item["val_accuracy"] = score_json(c.val_accuracy);
    item["val_data_loss"] = score_json(c.val_data_loss);
    const bool diverged = std::isnan(score_of(c.scores).mean);
    item["diverged"] = diverged;
    if (i < result.analysis.p_vs_best.size()) {
      item["p_vs_best"] = diverged ? Json() : json_number(result.analysis.p_vs_best[i]);
      item["in_interval"] = !diverged && c.l2 >= result.analysis.interval_low &&
                            c.l2 <= result.analysis.interval_high;
    }
    candidates.push_back(item);
  }
  json["candidates"] = candidates;
  if (!result.candidates.empty() && !result.analysis.p_vs_best.empty()) {
    const Candidate& best = result.candidates[result.analysis.best];
    const Candidate& one_se = result.candidates[result.analysis.one_se];
    json["best"] = {{"l2", best.l2}, {"score", score_json(best.scores)}};
    json["one_se"] = {{"l2", one_se.l2}, {"score", score_json(one_se.scores)}};
    json["interval"] = {result.analysis.interval_low, result.analysis.interval_high};
    json["at_edge"] = result.analysis.at_edge;
    // The answer: the strength to use, 0 when l2 = 0 is the best or cannot be told from it.
    json["use"] = {{"l2", result.analysis.use}, {"no_l2", result.analysis.no_l2}};
  }
  json["stop_reason"] = result.stop_reason;
  const PlainGrid grid = plain_grid(result, config, settings);
  const Totals spent = totals(result);
  json["cost"] = {{"runs", spent.runs},
                  {"epochs", spent.epochs},
                  {"seconds", spent.seconds},
                  {"final",
                   {{"runs", result.final_runs},
                    {"epochs", result.final_epochs},
                    {"seconds", result.final_seconds}}},
                  {"plain_grid",
                   {{"strengths", grid.strengths},
                    {"runs", grid.runs},
                    {"epochs", grid.epochs},
                    {"seconds_estimate", grid.seconds}}}};
  Json final_json = Json::array();
  for (const auto& [l2, test] : result.test_accuracy) {
    final_json.push_back({{"l2", l2}, {"test_accuracy", score_json(test)}});
  }
  json["final"] = {
      {"folder", "final"},
      {"strengths", final_json},
      {"matches_search_bit_for_bit", result.searched ? Json(result.final_matches_search) : Json()}};
  return json;
}

std::string report_text(const TuneResult& result, const SweepConfig& config,
                        const SearchSettings& settings) {
  const bool accuracy = config.tune_metric == "val_accuracy";
  const char* metric = accuracy ? "final validation accuracy (maximised)"
                                : "final validation cross-entropy (minimised)";
  std::string md = "# l2sweep: tuning the L2 strength (`--l2 auto`)\n\n";
  md += fmt::format(
      "Search range {} to {} (log scale), {} strengths a round, {} seeds each; "
      "score: {}.{}\n\n",
      settings.low, settings.high, settings.grid_points, config.seeds, metric,
      fmt::format("{}{}{}",
                  config.dropout_rates.at(0) != 0
                      ? fmt::format(" Held fixed: Dropout {}.", config.dropout_rates[0])
                      : "",
                  config.weight_decays.at(0) != 0
                      ? fmt::format(" Held fixed: weight decay {}.", config.weight_decays[0])
                      : "",
                  config.adam == AdamVariant::kKeras ? " Adam: Keras' update (epsilon hat)." : ""));
  if (result.all_diverged) {
    return md +
           "**No answer: every run of the first round diverged** (a non-finite loss). "
           "Try a smaller learning rate or range; the runs are in `round-1/`.\n";
  }
  if (result.candidates.empty() || result.analysis.p_vs_best.empty()) {
    return md + "No round has finished yet (interrupted; `--resume` continues it).\n";
  }
  const Analysis& a = result.analysis;
  const Candidate& best = result.candidates[a.best];
  const Candidate& one_se = result.candidates[a.one_se];
  const Score best_score = score_of(best.scores);
  md += "## The answer\n\n";
  if (a.no_l2) {
    const Candidate* control = nullptr;
    for (const Candidate& c : result.candidates) {
      if (c.l2 == 0) control = &c;
    }
    const Score control_score = score_of(control->scores);
    md += fmt::format(
        "- **Use l2 = 0: no L2.** {} ({} {} ± {} standard error){}.\n", 
        best.l2 == 0 ? "The unregularised control is the best strength tried"
                     : "The paired t-test over seeds cannot tell the unregularised control from "
                       "the best",
        accuracy ? "validation accuracy" : "validation cross-entropy",
        fixed(control_score.mean, 4), fixed(control_score.se, 4),
        best.l2 == 0 ? ""
                     : fmt::format("; the best, {:.4g}, is not resolved from it (p = {:.3g})",
                                   best.l2,
                                   a.p_vs_best[static_cast<size_t>(control - result.candidates.data())]));
  } else {
    const bool control_tried = std::any_of(result.candidates.begin(), result.candidates.end(),
                                           [](const Candidate& c) { return c.l2 == 0; });
    md += fmt::format("- **Use l2 = {:.4g}**: the best strength{}.\n", a.use,
                      control_tried ? ", which the paired test tells from l2 = 0 (no L2)" : "");
  }
  md += fmt::format("- **Best strength: {:.4g}** ({} {} ± {} standard error over {} seeds).\n",
                    best.l2, accuracy ? "validation accuracy" : "validation cross-entropy",
                    fixed(best_score.mean, 4), fixed(best_score.se, 4), best_score.n);
  md += fmt::format(
      "- **1se strength: {:.4g}**: the largest strength in the interval below whose mean is "
      "within one standard error of the best's (glmnet's lambda.1se), the more regularised "
      "choice when the optimum is flat.\n",
      one_se.l2);
  md += fmt::format(
      "- **Indistinguishable from the best: {:.4g} to {:.4g}**: the strengths "
      "around the best whose paired t-test over seeds against it gives p >= 0.05 "
      "(seeds pair: a cohort's members share their initial weights and batches).\n",
      a.interval_low, a.interval_high);
  if (a.at_edge) {
    md +=
        "- **The best is at the edge of the search range**: the optimum may lie beyond it; "
        "widen the range (`--l2 auto:LOW:HIGH`).\n";
  }
  md += fmt::format("- Stopped because {}.\n",
                    result.stop_reason.empty() ? "it was interrupted" : result.stop_reason);
  if (result.interrupted && !result.rounds.empty() && result.rounds.back().finished) {
    md +=
        "- **Interrupted while the chosen strengths were retrained for the test set**; "
        "`--resume` finishes it.\n";
  } else if (result.interrupted) {
    md += fmt::format(
        "- **Interrupted in round {}**: the answer so far stands on the rounds "
        "before it; `--resume` continues it.\n",
        result.rounds.size());
  }
  if (!result.test_accuracy.empty()) {
    md +=
        "\nTest accuracy, scored once after the search, only for these strengths "
        "(`final/`):\n\n| l2 | role | test accuracy |\n|---|---|---|\n";
    for (const auto& [l2, test] : result.test_accuracy) {
      std::string role = l2 == best.l2 && l2 == one_se.l2 ? "best and 1se"
                         : l2 == best.l2                  ? "best"
                         : l2 == one_se.l2                ? "1se"
                                                          : "";
      if (a.no_l2 && l2 == 0) role = role.empty() ? "the answer: no L2" : role + "; the answer: no L2";
      md += fmt::format("| {:.4g} | {} | {} |\n", l2, role, mean_std_text(seed_stats(test)));
    }
    md += fmt::format(
        "\nThe final runs reproduce the search's runs of these strengths bit for "
        "bit: {}.\n",
        result.final_matches_search ? "yes" : "NO");
  }
  const PlainGrid grid = plain_grid(result, config, settings);
  const Totals spent = totals(result);
  md += fmt::format(
      "\n## Cost\n\n| | strengths | runs | epochs | seconds |\n|---|---|---|---|---|\n"
      "| the search ({} round{}) | {} | {} | {} | {:.1f} |\n"
      "| the final runs, scored on the test set | {} | {} | {} | {:.1f} |\n"
      "| a plain grid at the search's finest spacing over the whole range | {} | {} | {} | "
      "about {:.1f} |\n\n",
      result.rounds.size(), result.rounds.size() == 1 ? "" : "s", result.candidates.size(),
      spent.runs, spent.epochs, spent.seconds, result.test_accuracy.size(), result.final_runs,
      result.final_epochs, result.final_seconds, grid.strengths, grid.runs, grid.epochs,
      grid.seconds);
  md +=
      "## Every candidate\n\nMean ± standard deviation over seeds; p: paired t-test against "
      "the best (with few seeds it separates only large differences; the interval is the "
      "strengths around the best it cannot separate from it).\n\n| l2 | round | val accuracy | val "
      "cross-entropy | p vs best | |\n"
      "|---|---|---|---|---|---|\n";
  std::vector<size_t> order(result.candidates.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t x, size_t y) { return result.candidates[x].l2 < result.candidates[y].l2; });
  for (const size_t i : order) {
    const Candidate& c = result.candidates[i];
    const Score acc = score_of(c.val_accuracy), ce = score_of(c.val_data_loss);
    const bool diverged = std::isnan(score_of(c.scores).mean);
    std::string mark = i == a.best ? "best" : "";
    if (i == a.one_se && i != a.best) mark = "1se";
    if (diverged) mark = "diverged (a seed's loss went non-finite): left out";
    if (!diverged && c.l2 >= a.interval_low && c.l2 <= a.interval_high) {
      mark += mark.empty() ? "in the interval" : ", in the interval";
    }
    md += fmt::format("| {:.4g} | {} | {} ± {} | {} ± {} | {} | {} |\n", c.l2, c.round,
                      fixed(acc.mean, 4), fixed(acc.std, 4), fixed(ce.mean, 4), fixed(ce.std, 4),
                      diverged ? "n/a" : fixed(a.p_vs_best[i], 3), mark);
  }
  md +=
      "\n`scripts/plot_curves.py OUT` draws `tuning.png`: validation accuracy and cross-entropy "
      "against L2 with error bars, every candidate of every round. Each round is a sweep of "
      "its own in `round-N/` (metrics.csv, summary.json, report.md, TensorBoard logs).\n";
  return md;
}

void write_outputs(const TuneResult& result, const SweepConfig& config,
                   const SearchSettings& settings, const std::string& command_line) {
  Json summary = Json::object();
  summary["l2sweep_version"] = kVersion;
  summary["command_line"] = command_line;
  summary["config"] = config_json(config);
  summary["tuning"] = tuning_json(result, config, settings);
  write_file_atomically(result.out_dir / "summary.json", json_text(summary));
  write_file_atomically(result.out_dir / "report.md", report_text(result, config, settings));
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

/// Whether a finished search's own files are whole: a finished summary.json with its tuning
/// object, and report.md. A --resume that trained nothing then leaves them as they are.
bool search_outputs_whole(const fs::path& folder) {
  const std::optional<std::string> summary = read_text_file(folder / "summary.json");
  const std::optional<std::string> report = read_text_file(folder / "report.md");
  if (!summary || !report || report->empty() || report->back() != '\n') return false;
  const Json json = Json::parse(*summary, nullptr, /*allow_exceptions=*/false);
  return json.is_object() && json.contains("tuning") && json["tuning"].is_object() &&
         json["tuning"].value("finished", false);
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

}  // namespace

TuneResult tune_l2(const SweepConfig& config, const std::string& command_line, std::FILE* console,
                   StopToken stop, SearchSettings settings) {
  config.validate();
  if (!config.l2_search) throw usage_error("tune_l2: expected --l2 auto");
  if (config.seeds < 2) {
    throw usage_error(
        "--l2 auto with --seeds {}: expected 2 or more seeds (the search measures "
        "noise across them; the default is 3)",
        config.seeds);
  }
  settings.low = config.l2_search->low;
  settings.high = config.l2_search->high;
  settings.maximise = config.tune_metric == "val_accuracy";
  TuneFolder folder = open_tune_folder(config, settings, command_line);
  // Whether this process trained anything: a --resume of a finished search only reads.
  bool trained = false;
  const auto write = [&](const TuneResult& outputs) {
    folder.claim();
    write_outputs(outputs, config, settings, command_line);
  };
  TuneResult result;
  result.out_dir = folder.path;
  // What an earlier process of this search measured: each round's seconds, and whether it
  // finished (a finished round is only replayed from its checkpoints now).
  std::vector<std::pair<double, bool>> earlier;
  double earlier_final_seconds = 0;  // the final runs', when an earlier process finished them
  if (config.resume) {
    if (const auto text = read_text_file(result.out_dir / "summary.json")) {
      const Json old = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
      if (old.is_object() && old.contains("tuning") && old["tuning"].contains("rounds")) {
        for (const Json& r : old["tuning"]["rounds"]) {
          earlier.emplace_back(r.value("seconds", 0.0), r.value("finished", false));
        }
        if (old["tuning"].value("finished", false)) {
          earlier_final_seconds = old["tuning"]["cost"]["final"].value("seconds", 0.0);
        }
      }
    }
  }

  // The data's fingerprint, read only when a finished sweep is to be read back.
  std::optional<std::string> fingerprint;
  const auto data_fingerprint = [&] {
    if (!fingerprint) {
      fingerprint =
          load_datasets({config.data_dir, config.val_size, config.train_size}).fingerprint;
    }
    return *fingerprint;
  };
  // A sweep an earlier process finished is read back, not run again: nothing is rewritten,
  // and a refusal found later changes nothing.
  const auto run_or_read = [&](const SweepConfig& sweep, const std::string& label,
                               bool finished_before) {
    if (finished_before && fs::exists(sweep.out_dir)) {
      if (auto done = read_finished_sweep(sweep, data_fingerprint())) {
        fmt::print(console, "read back from {}: finished earlier\n", sweep.out_dir);
        return *done;
      }
    }
    folder.claim();
    trained = true;
    return run_experiment(sweep, command_line + label, console, stop);
  };

  // The first round tries the unregularised control beside the log grid, so that the search
  // can answer "no L2", which no range of positive strengths contains.
  std::vector<double> strengths = log_grid(settings.low, settings.high, settings.grid_points);
  if (settings.try_control) strengths.insert(strengths.begin(), 0.0);
  double low = settings.low, high = settings.high;
  double spacing = std::log10(high / low) / static_cast<double>(settings.grid_points - 1);
  for (int round = 1;; ++round) {
    const fs::path round_dir = result.out_dir / fmt::format("round-{}", round);
    const auto start = SteadyClock::now();
    ExperimentResult sweep;
    try {
      const SweepConfig round_config = sweep_config(config, strengths, round_dir, false);
      if (round == 1) resolve_plan(round_config);  // refuse before the banner
      fmt::print(console,
                 "\n=== --l2 auto, round {}: {} strengths from {:.4g} to {:.4g} x {} seeds "
                 "===\n",
                 round, strengths.size(), low, high, config.seeds);
      std::fflush(console);
      const size_t before = static_cast<size_t>(round - 1);
      sweep = run_or_read(round_config, fmt::format(" (round {})", round),
                          before < earlier.size() && earlier[before].second);
    } catch (const Error&) {
      // Refused before the search started (bad data, a device it cannot use): take back the
      // folder's tuning.cfg and lock, so the same command can be rerun once it is fixed.
      if (round == 1 && !fs::exists(round_dir)) folder.undo();
      throw;
    }
    const size_t index = static_cast<size_t>(round - 1);
    const bool replayed = index < earlier.size() && earlier[index].second;
    const double before = index < earlier.size() ? earlier[index].first : 0.0;
    RoundRecord record{round,
                       low,
                       high,
                       spacing,
                       strengths,
                       0,
                       0,
                       replayed ? before : before + seconds_since(start),
                       !sweep.interrupted};
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
    result.rounds.push_back(record);
    if (sweep.interrupted) {
      // A round cut short adds no candidate: the answer so far stands on finished rounds.
      result.interrupted = true;
      write(result);
      return result;
    }
    result.candidates.insert(result.candidates.end(), added.begin(), added.end());
    const bool any_finite =
        std::any_of(result.candidates.begin(), result.candidates.end(),
                    [](const Candidate& c) { return std::isfinite(score_of(c.scores).mean); });
    if (!any_finite) {
      result.stop_reason = "every run diverged";
      result.all_diverged = true;
      write(result);
      return result;
    }
    result.analysis = analyse(result.candidates, settings.maximise);
    const NextRound next = next_round(result.candidates, result.analysis, settings, round);
    result.stop_reason = next.stop_reason;
    // A round an earlier process finished is only replayed: the folder's summary.json and
    // report.md already say at least this much, and stay as they are until this process adds
    // something (a refusal found in a later round then changes nothing there).
    if (!replayed) write(result);
    if (next.strengths.empty()) break;
    strengths = next.strengths;
    low = next.low;
    high = next.high;
    spacing = next.spacing;
  }

  // No peeking: the test set is scored once, after the search, for the chosen strengths only.
  const Candidate& best = result.candidates[result.analysis.best];
  const Candidate& one_se = result.candidates[result.analysis.one_se];
  std::vector<double> chosen{best.l2};
  if (one_se.l2 != best.l2) chosen.push_back(one_se.l2);
  if (result.analysis.no_l2 && best.l2 != 0) chosen.insert(chosen.begin(), 0.0);
  fmt::print(console,
             "\n=== --l2 auto: best {:.4g}, 1se {:.4g}; scoring them on the test set "
             "===\n",
             best.l2, one_se.l2);
  std::fflush(console);
  const auto final_start = SteadyClock::now();
  const ExperimentResult final_sweep =
      run_or_read(sweep_config(config, chosen, result.out_dir / "final", true), " (final)",
                  earlier_final_seconds > 0);
  result.final_seconds =
      earlier_final_seconds > 0 ? earlier_final_seconds : seconds_since(final_start);
  if (final_sweep.interrupted) {
    result.interrupted = true;
    write(result);
    return result;
  }
  result.final_matches_search = true;
  const auto same_bits = [](const std::vector<double>& a, const std::vector<double>& b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](double x, double y) {
             return x == y || (std::isnan(x) && std::isnan(y));
           });
  };
  for (const double l2 : chosen) {
    std::vector<double> test, accuracy, cross_entropy;
    for (const RunResult& run : final_sweep.runs) {
      if (run.spec.l2 != l2) continue;
      test.push_back(run.test ? run.test->accuracy : std::nan(""));
      accuracy.push_back(final_value(run, "val_accuracy", config.epochs));
      cross_entropy.push_back(final_value(run, "val_data_loss", config.epochs));
      ++result.final_runs;
      result.final_epochs += static_cast<int64_t>(run.history.size());
    }
    const Candidate& searched = *std::find_if(
        result.candidates.begin(), result.candidates.end(),
        [l2 = l2](const Candidate& c) { return c.l2 == l2; });
    result.final_matches_search = result.final_matches_search &&
                                  same_bits(accuracy, searched.val_accuracy) &&
                                  same_bits(cross_entropy, searched.val_data_loss);
    result.test_accuracy.emplace_back(l2, test);
  }
  result.searched = true;
  if (trained || !search_outputs_whole(result.out_dir)) {
    write(result);
  } else {
    fmt::print(console, "\n--l2 auto: the search is complete: nothing to train, no file changed\n");
  }

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
  fmt::print(console,
             "\n--l2 auto: {}\n  best {:.4g} ({} {} ± {} se), 1se {:.4g}, indistinguishable from "
             "the best: {:.4g} to {:.4g}\n  {} round{}, {} strengths, stopped because {}; test "
             "accuracy of l2 = {:.4g}: {}\n  {}/report.md, summary.json (\"tuning\")\n",
             answer, best.l2, config.tune_metric, fixed(score.mean, 4), fixed(score.se, 4),
             one_se.l2, result.analysis.interval_low, result.analysis.interval_high,
             result.rounds.size(), result.rounds.size() == 1 ? "" : "s", result.candidates.size(),
             result.stop_reason, use,
             use_test == result.test_accuracy.end() ? std::string("n/a")
                                                    : mean_std_text(seed_stats(use_test->second)),
             result.out_dir.string());
  return result;
}

}  // namespace l2sweep::tune
