#include "tune_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "l2sweep/base/files.h"
#include "l2sweep/base/json.h"
#include "l2sweep/base/version.h"
#include "l2sweep/outputs/setting_summary.h"
#include "l2sweep/outputs/summary.h"

namespace l2sweep::tune {
namespace fs = std::filesystem;
namespace {

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

/// summary.json's tuning.rounds: every round's grid and cost.
Json rounds_json(const TuneResult& result) {
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
  return rounds;
}

/// summary.json's tuning.candidates: every strength trained, its scores and its test against
/// the best.
Json candidates_json(const TuneResult& result) {
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
  return candidates;
}

/// The answer so far into `json` (summary.json's tuning object), once a round has an analysis.
void add_answer_json(const TuneResult& result, Json& json) {
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
}

/// summary.json's tuning.cost: the search's, the final runs' and a plain grid's.
Json cost_json(const TuneResult& result, const SweepConfig& config,
               const SearchSettings& settings) {
  const PlainGrid grid = plain_grid(result, config, settings);
  const Totals spent = totals(result);
  Json cost = {{"runs", spent.runs},
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
  return cost;
}

/// summary.json's tuning.final: the chosen strengths' test accuracy.
Json final_json(const TuneResult& result) {
  Json strengths = Json::array();
  for (const auto& [l2, test] : result.test_accuracy) {
    strengths.push_back({{"l2", l2}, {"test_accuracy", score_json(test)}});
  }
  Json json = {
      {"folder", "final"},
      {"strengths", strengths},
      {"matches_search_bit_for_bit", result.searched ? Json(result.final_matches_search) : Json()}};
  return json;
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
  json["rounds"] = rounds_json(result);
  json["candidates"] = candidates_json(result);
  add_answer_json(result, json);
  json["stop_reason"] = result.stop_reason;
  json["cost"] = cost_json(result, config, settings);
  json["final"] = final_json(result);
  return json;
}

/// report.md's title and the search's settings.
std::string report_header(const SweepConfig& config, const SearchSettings& settings) {
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
  return md;
}

/// The answer's first line: the strength to use, l2 = 0 when the control is the best or the
/// paired test cannot tell it from the best.
std::string use_line(const TuneResult& result, bool accuracy) {
  const Analysis& a = result.analysis;
  const Candidate& best = result.candidates[a.best];
  if (a.no_l2) {
    const Candidate* control = nullptr;
    for (const Candidate& c : result.candidates) {
      if (c.l2 == 0) control = &c;
    }
    const Score control_score = score_of(control->scores);
    return fmt::format(
        "- **Use l2 = 0: no L2.** {} ({} {} ± {} standard error){}.\n",
        best.l2 == 0 ? "The unregularised control is the best strength tried"
                     : "The paired t-test over seeds cannot tell the unregularised control from "
                       "the best",
        accuracy ? "validation accuracy" : "validation cross-entropy", fixed(control_score.mean, 4),
        fixed(control_score.se, 4),
        best.l2 == 0
            ? ""
            : fmt::format("; the best, {:.4g}, is not resolved from it (p = {:.3g})", best.l2,
                          a.p_vs_best[static_cast<size_t>(control - result.candidates.data())]));
  }
  const bool control_tried = std::any_of(result.candidates.begin(), result.candidates.end(),
                                         [](const Candidate& c) { return c.l2 == 0; });
  return fmt::format("- **Use l2 = {:.4g}**: the best strength{}.\n", a.use,
                     control_tried ? ", which the paired test tells from l2 = 0 (no L2)" : "");
}

/// report.md's answer: the strength to use, the best and 1se strengths, the interval, and why
/// the search stopped.
void answer_section(const TuneResult& result, bool accuracy, std::string& md) {
  const Analysis& a = result.analysis;
  const Candidate& best = result.candidates[a.best];
  const Candidate& one_se = result.candidates[a.one_se];
  const Score best_score = score_of(best.scores);
  md += "## The answer\n\n";
  md += use_line(result, accuracy);
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
}

/// report.md's test accuracy of the chosen strengths, once the final runs are in.
void test_section(const TuneResult& result, std::string& md) {
  if (result.test_accuracy.empty()) return;
  const Analysis& a = result.analysis;
  const Candidate& best = result.candidates[a.best];
  const Candidate& one_se = result.candidates[a.one_se];
  md +=
      "\nTest accuracy, scored once after the search, only for these strengths "
      "(`final/`):\n\n| l2 | role | test accuracy |\n|---|---|---|\n";
  for (const auto& [l2, test] : result.test_accuracy) {
    std::string role = l2 == best.l2 && l2 == one_se.l2 ? "best and 1se"
                       : l2 == best.l2                  ? "best"
                       : l2 == one_se.l2                ? "1se"
                                                        : "";
    if (a.no_l2 && l2 == 0)
      role = role.empty() ? "the answer: no L2" : role + "; the answer: no L2";
    md += fmt::format("| {:.4g} | {} | {} |\n", l2, role, mean_std_text(seed_stats(test)));
  }
  md += fmt::format(
      "\nThe final runs reproduce the search's runs of these strengths bit for "
      "bit: {}.\n",
      result.final_matches_search ? "yes" : "NO");
}

/// report.md's cost: the search's, the final runs' and a plain grid's.
void cost_section(const TuneResult& result, const SweepConfig& config,
                  const SearchSettings& settings, std::string& md) {
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
}

/// report.md's table of every candidate, in l2 order.
void candidates_section(const TuneResult& result, std::string& md) {
  const Analysis& a = result.analysis;
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
}

std::string report_text(const TuneResult& result, const SweepConfig& config,
                        const SearchSettings& settings) {
  const bool accuracy = config.tune_metric == "val_accuracy";
  std::string md = report_header(config, settings);
  if (result.all_diverged) {
    return md +
           "**No answer: every run of the first round diverged** (a non-finite loss). "
           "Try a smaller learning rate or range; the runs are in `round-1/`.\n";
  }
  if (result.candidates.empty() || result.analysis.p_vs_best.empty()) {
    return md + "No round has finished yet (interrupted; `--resume` continues it).\n";
  }
  answer_section(result, accuracy, md);
  test_section(result, md);
  cost_section(result, config, settings, md);
  candidates_section(result, md);
  md +=
      "\n`scripts/plot_curves.py OUT` draws `tuning.png`: validation accuracy and cross-entropy "
      "against L2 with error bars, every candidate of every round. Each round is a sweep of "
      "its own in `round-N/` (metrics.csv, summary.json, report.md, TensorBoard logs).\n";
  return md;
}

}  // namespace

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
EarlierSearch read_earlier_search(const fs::path& folder) {
  EarlierSearch earlier;
  if (const auto text = read_text_file(folder / "summary.json")) {
    const Json old = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (old.is_object() && old.contains("tuning") && old["tuning"].contains("rounds")) {
      for (const Json& r : old["tuning"]["rounds"]) {
        earlier.rounds.emplace_back(r.value("seconds", 0.0), r.value("finished", false));
      }
      if (old["tuning"].value("finished", false)) {
        earlier.final_seconds = old["tuning"]["cost"]["final"].value("seconds", 0.0);
      }
    }
  }
  return earlier;
}

}  // namespace l2sweep::tune
