#include "l2sweep/outputs/recommendation.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "l2sweep/base/text.h"
#include "l2sweep/config/options.h"
#include "l2sweep/outputs/report.h"

namespace l2sweep {
namespace {

constexpr size_t kNone = Recommendation::kNone;

/// "L2 = 0.001", "L2 = 0, dropout = 0.2" (report.md's names).
std::string name(const SettingSummary& s) { return setting_title(s.setting()); }

/// A setting every run of which completed: one that diverged on a seed is never recommended
/// (its mean over the surviving seeds would flatter it), nor one with unfinished runs.
bool usable(const SettingSummary& s) {
  return s.completed > 0 && s.completed == s.runs && std::isfinite(s.val_accuracy.mean);
}

std::string points(double fraction, bool sign = true) {
  return fixed(100 * fraction, 2, sign) + " points";
}

/// Which regulariser a setting uses, and how strongly: the one-standard-error rule moves
/// along one kind at a time (the control is the weakest setting of every kind). A setting
/// with two kinds at once has no single order: kind -1.
std::pair<int, double> kind_and_strength(const SettingSummary& s) {
  const int kinds = (s.l2 > 0 ? 1 : 0) + (s.dropout > 0 ? 1 : 0) + (s.weight_decay > 0 ? 1 : 0);
  if (kinds == 0) return {0, 0.0};
  if (kinds > 1) return {-1, 0.0};
  if (s.l2 > 0) return {1, s.l2};
  if (s.dropout > 0) return {2, s.dropout};
  return {3, s.weight_decay};
}

/// The most regularised setting of the best's kind (of L2, the experiment's subject, when the
/// control is the best) whose mean is within one standard error of the best's: the simplest
/// model the seeds cannot tell from the best (glmnet's lambda.1se). kNone with one seed, for a
/// best that combines kinds, or when no stronger setting qualifies.
size_t one_standard_error(const std::vector<SettingSummary>& strengths, size_t best) {
  const SettingSummary& b = strengths[best];
  if (b.val_accuracy.n < 2 || !std::isfinite(b.val_accuracy.std)) return kNone;
  const double floor =
      b.val_accuracy.mean - b.val_accuracy.std / std::sqrt(static_cast<double>(b.val_accuracy.n));
  const auto [best_kind, best_strength] = kind_and_strength(b);
  if (best_kind < 0) return kNone;
  const int along = best_kind == 0 ? 1 : best_kind;
  size_t pick = kNone;
  double pick_strength = best_strength;
  for (size_t i = 0; i < strengths.size(); ++i) {
    const SettingSummary& s = strengths[i];
    if (i == best || !usable(s) || s.val_accuracy.mean < floor) continue;
    const auto [kind, strength] = kind_and_strength(s);
    if (kind == along && strength > pick_strength) {
      pick = i;
      pick_strength = strength;
    }
  }
  return pick;
}

/// "paired t-test over 3 seeds, p = 0.012" and the like, for `d` of `a` against `b`.
std::string test_text(const PairedDifference& d) {
  if (d.pairs < 2) return fmt::format("{} shared seed: no spread to test against", d.pairs);
  if (d.identical) return fmt::format("identical on each of the {} shared seeds", d.pairs);
  if (std::isnan(d.p)) {
    return fmt::format("the same difference on each of the {} shared seeds, no spread to test",
                       d.pairs);
  }
  return fmt::format("paired t-test over {} seeds, p = {:.3g}", d.pairs, d.p);
}

/// How many seeds would resolve `d`, as a clause; empty when it cannot be planned.
std::string seeds_clause(const PairedDifference& d) {
  if (d.pairs < 2) return "rerun with `--seeds 3` or more to measure the seed spread";
  if (!std::isfinite(d.p) && !d.identical) {
    return "more seeds would measure the spread this difference needs to be tested against";
  }
  if (d.seeds_needed) {
    return fmt::format(
        "about {} seeds would resolve a difference this size (paired, 80% power, α = {})",
        *d.seeds_needed, kSignificance);
  }
  return "no difference to resolve";
}

/// The sweep's command with the unregularised control added to --l2, naming every option that
/// decides its numbers and differs from the default.
std::string command_with_control(const SweepConfig& config) {
  SweepConfig with = config;
  if (std::find(with.l2_strengths.begin(), with.l2_strengths.end(), 0.0) ==
      with.l2_strengths.end()) {
    with.l2_strengths.insert(with.l2_strengths.begin(), 0.0);
  }
  with.dropout_rates = {0.0};
  with.weight_decays = {0.0};
  for (double rate : config.dropout_rates) {
    if (rate != 0) with.dropout_rates.push_back(rate);
  }
  for (double decay : config.weight_decays) {
    if (decay != 0) with.weight_decays.push_back(decay);
  }
  const SweepConfig defaults;
  std::string command = "l2sweep";
  for (const SweepOption& option : sweep_options()) {
    if (option.is_flag) continue;
    const std::string option_name = option.name;
    if (!option.decides_numbers && option_name != "data-dir") continue;
    const std::string value = option.format(with);
    if (option_name != "l2" && value == option.format(defaults)) continue;
    command += fmt::format(" --{} {}", option_name, value);
  }
  return command;
}

}  // namespace

const char* answer_name(Recommendation::Answer answer) {
  switch (answer) {
    case Recommendation::Answer::kUseBest:
      return "use_best";
    case Recommendation::Answer::kNoRegularisation:
      return "no_regularisation";
    case Recommendation::Answer::kNotResolved:
      return "not_resolved";
    case Recommendation::Answer::kNoControl:
      return "no_control";
    case Recommendation::Answer::kNothing:
      break;
  }
  return "nothing";
}

bool PairedDifference::resolved() const { return std::isfinite(p) && p < kSignificance; }

PairedDifference paired_difference(const SettingSummary& a, const SettingSummary& b) {
  std::vector<double> x, y, differences;
  for (size_t i = 0; i < a.seeds.size(); ++i) {
    for (size_t j = 0; j < b.seeds.size(); ++j) {
      if (a.seeds[i] != b.seeds[j]) continue;
      x.push_back(a.final_val_accuracy[i]);
      y.push_back(b.final_val_accuracy[j]);
      differences.push_back(x.back() - y.back());
    }
  }
  PairedDifference d;
  d.pairs = x.size();
  const SeedStats stats = seed_stats(differences);
  d.mean = stats.mean;
  d.std = stats.std;
  d.identical = d.pairs > 0 && std::all_of(differences.begin(), differences.end(),
                                           [](double v) { return v == 0; });
  d.p = paired_t_p(x, y);
  // A paired difference of a few ulps (equal counts divided by N) is no difference.
  if (d.identical || (std::isfinite(d.p) && d.p >= 1.0)) {
    d.p = d.pairs >= 2 ? 1.0 : d.p;
  }
  // Planned only from a measured spread, and never fewer seeds than already ran.
  if (!d.resolved() && std::isfinite(d.p)) {
    d.seeds_needed = paired_seeds_to_resolve(d.mean, d.std);
    if (d.seeds_needed && *d.seeds_needed <= static_cast<int64_t>(d.pairs)) {
      d.seeds_needed = static_cast<int64_t>(d.pairs) + 1;
    }
  }
  return d;
}

namespace {

/// The unregularised control and the best setting among the usable ones, into `r`.
void pick_control_and_best(const std::vector<SettingSummary>& strengths, Recommendation& r) {
  for (size_t i = 0; i < strengths.size(); ++i) {
    if (!usable(strengths[i])) continue;
    if (is_control(strengths[i])) r.control = i;
  }
  for (size_t i = 0; i < strengths.size(); ++i) {
    if (!usable(strengths[i])) continue;
    // A tie goes to the control (the simpler model), else to the first listed.
    const bool better =
        r.best == kNone || strengths[i].val_accuracy.mean > strengths[r.best].val_accuracy.mean ||
        (strengths[i].val_accuracy.mean == strengths[r.best].val_accuracy.mean && i == r.control);
    if (better) r.best = i;
  }
}

/// Chance is 1 / classes; a best that is not clearly above it learned nothing, and which
/// setting "wins" among such runs means nothing either: true then, with `r` saying so.
bool learned_nothing(const SettingSummary& best, int64_t classes, Recommendation& r) {
  const double chance = 1.0 / static_cast<double>(std::max<int64_t>(classes, 1));
  if (classes > 1 && best.val_accuracy.mean <= 1.5 * chance) {
    r.best = kNone;
    r.control = kNone;
    r.headline = fmt::format(
        "Nothing to recommend: no setting learned (the best mean validation accuracy, {}, is "
        "near chance, {}). Check the learning rate and the strengths.",
        fixed(best.val_accuracy.mean, 4), fixed(chance, 2));
    return true;
  }
  return false;
}

/// The usable setting with the highest mean after the best (regularised ones only when
/// `regularised_only`); kNone when there is none.
size_t next_best(const std::vector<SettingSummary>& strengths, size_t best, bool regularised_only) {
  size_t next = kNone;
  for (size_t i = 0; i < strengths.size(); ++i) {
    if (i == best || !usable(strengths[i]) || (regularised_only && is_control(strengths[i])))
      continue;
    if (next == kNone || strengths[i].val_accuracy.mean > strengths[next].val_accuracy.mean) {
      next = i;
    }
  }
  return next;
}

/// No control: the best of what was tried, against the next best, and how to ask.
void answer_without_control(const std::vector<SettingSummary>& strengths, const SweepConfig& config,
                            Recommendation& r) {
  const SettingSummary& best = strengths[r.best];
  r.answer = Recommendation::Answer::kNoControl;
  r.other = next_best(strengths, r.best, false);
  r.headline = fmt::format(
      "Best of the settings tried: {}. Whether regularisation helps at all was not asked: "
      "the sweep has no unregularised control (l2 = 0 without Dropout or weight decay).",
      name(best));
  if (r.other != kNone) {
    r.test = paired_difference(best, strengths[r.other]);
    r.evidence.push_back(
        fmt::format("Against the next best, {}: {} ({}){}.", name(strengths[r.other]),
                    points(r.test.mean), test_text(r.test),
                    r.test.resolved() ? ": a real lead"
                                      : fmt::format(": not resolved; {}", seeds_clause(r.test))));
  }
  r.command = command_with_control(config);
}

/// The control is the best: against the best regularised setting.
void answer_control_best(const std::vector<SettingSummary>& strengths, Recommendation& r) {
  const SettingSummary& best = strengths[r.best];
  r.other = next_best(strengths, r.best, true);
  const bool any_regularised = std::any_of(strengths.begin(), strengths.end(),
                                           [](const SettingSummary& s) { return !is_control(s); });
  if (r.other == kNone && !any_regularised) {
    r.answer = Recommendation::Answer::kNotResolved;
    r.headline =
        "The sweep trains only the unregularised control (l2 = 0): whether regularisation "
        "helps was not asked. Add strengths to --l2 (or --dropout, --weight-decay) to ask it.";
  } else if (r.other == kNone) {
    // Every regularised setting diverged or is unfinished: nothing was compared.
    r.answer = Recommendation::Answer::kNotResolved;
    r.headline =
        "Cannot tell whether regularisation helps: no regularised setting completed a run. "
        "Use l2 = 0 (no L2, Dropout or weight decay), the only setting that trained.";
  } else {
    r.test = paired_difference(strengths[r.other], best);
    r.evidence.push_back(fmt::format(
        "The best regularised setting, {} ({}), is {} against the control ({}){}.",
        name(strengths[r.other]), mean_std_text(strengths[r.other].val_accuracy),
        points(r.test.mean), test_text(r.test),
        r.test.resolved()
            ? ": the control is better beyond the seed spread"
            : fmt::format(": within what these seeds can tell apart; {}", seeds_clause(r.test))));
    if (r.test.resolved()) {
      r.answer = Recommendation::Answer::kNoRegularisation;
      r.headline =
          "Regularisation does not help this model on this data: use l2 = 0 (no L2, "
          "Dropout or weight decay).";
    } else {
      r.answer = Recommendation::Answer::kNoRegularisation;
      r.headline =
          "No regularised setting beats the unregularised control here (the differences are "
          "within what these seeds can tell apart): use l2 = 0 (no L2, Dropout or weight "
          "decay), the simpler model.";
    }
  }
}

/// A regularised setting is the best: against the control.
void answer_against_control(const std::vector<SettingSummary>& strengths, Recommendation& r) {
  const SettingSummary& best = strengths[r.best];
  r.other = r.control;
  r.test = paired_difference(best, strengths[r.control]);
  const std::string against = fmt::format(
      "{} against the unregularised control ({}): {} ({})", name(best),
      mean_std_text(strengths[r.control].val_accuracy), points(r.test.mean), test_text(r.test));
  if (r.test.resolved() && r.test.mean < 0) {
    // Better on its own seeds, worse on those it shares with the control.
    r.answer = Recommendation::Answer::kNoRegularisation;
    r.other = r.control;
    r.headline =
        "Regularisation does not help this model on this data: use l2 = 0 (no L2, Dropout or "
        "weight decay).";
    r.evidence.push_back(against + ": the control is better on the seeds both completed.");
  } else if (r.test.resolved() && r.test.mean > 0) {
    r.answer = Recommendation::Answer::kUseBest;
    r.headline = fmt::format("Use {}: it beats the unregularised control beyond the seed spread.",
                             name(best));
    r.evidence.push_back(against + ".");
  } else {
    r.answer = Recommendation::Answer::kNotResolved;
    r.headline = fmt::format(
        "Not resolved: {} leads the unregularised control by less than these seeds can tell "
        "apart. Until more seeds resolve it, use l2 = 0: the simpler model, which the numbers "
        "cannot tell from it.",
        name(best));
    r.evidence.push_back(fmt::format("{}; {}.", against, seeds_clause(r.test)));
  }
}

/// The setting the answer says to use, and how the tables mark it.
void mark_recommended(Recommendation& r) {
  switch (r.answer) {
    case Recommendation::Answer::kUseBest:
      r.recommended = r.best;
      r.mark = "<- recommended";
      break;
    case Recommendation::Answer::kNoRegularisation:
      r.recommended = r.control;
      r.mark = "<- recommended";
      break;
    case Recommendation::Answer::kNotResolved:
      r.recommended = r.control;
      r.mark = "<- recommended (not resolved)";
      break;
    case Recommendation::Answer::kNoControl:
      r.recommended = r.best;
      r.mark = "<- best tried (no control)";
      break;
    case Recommendation::Answer::kNothing:
      break;
  }
}

/// The settings left out because not every run of theirs completed, as evidence.
void note_left_out(const std::vector<SettingSummary>& strengths, Recommendation& r) {
  std::vector<std::string> left_out;
  for (const SettingSummary& s : strengths) {
    if (s.runs > 0 && !usable(s)) {
      left_out.push_back(
          fmt::format("{} ({} of {} runs completed{})", name(s), s.completed, s.runs,
                      s.diverged > 0 ? fmt::format(", {} diverged", s.diverged) : ""));
    }
  }
  if (!left_out.empty()) {
    std::string text;
    for (const std::string& item : left_out) text += (text.empty() ? "" : "; ") + item;
    r.evidence.push_back("Not considered, not every run completed: " + text + ".");
  }
}

/// The one-standard-error alternative as evidence, or that one seed gives none.
void note_one_standard_error(const std::vector<SettingSummary>& strengths,
                             const SettingSummary& best, Recommendation& r) {
  if (r.one_se != kNone) {
    const SettingSummary& alternative = strengths[r.one_se];
    r.evidence.push_back(fmt::format(
        "One-standard-error alternative: {} ({}), the most regularised setting of its kind "
        "within one standard error of the best ({}).",
        name(alternative), mean_std_text(alternative.val_accuracy),
        fixed(best.val_accuracy.std / std::sqrt(static_cast<double>(best.val_accuracy.n)), 4)));
  } else if (best.val_accuracy.n < 2) {
    r.evidence.push_back(
        "One seed per setting: no seed spread, so neither a standard error nor a test (rerun "
        "with `--seeds 3` or more).");
  }
}

}  // namespace

Recommendation recommend(const std::vector<SettingSummary>& strengths, const SweepConfig& config,
                         int64_t classes) {
  Recommendation r;
  if (config.part_of_search) {
    r.headline =
        "This sweep is one part of an --l2 auto search: the search's answer (its report.md and "
        "summary.json's tuning.use) is the recommendation.";
    return r;
  }
  pick_control_and_best(strengths, r);
  if (r.best == kNone) {
    r.headline = "No run completed, so there is nothing to recommend.";
    return r;
  }
  const SettingSummary& best = strengths[r.best];
  if (learned_nothing(best, classes, r)) return r;
  r.one_se = one_standard_error(strengths, r.best);
  r.evidence.push_back(fmt::format("Best mean final validation accuracy: {} ({} over {} seed{}).",
                                   name(best), mean_std_text(best.val_accuracy),
                                   best.val_accuracy.n, best.val_accuracy.n == 1 ? "" : "s"));

  if (r.control == kNone) {
    answer_without_control(strengths, config, r);
  } else if (r.best == r.control) {
    answer_control_best(strengths, r);
  } else {
    answer_against_control(strengths, r);
  }
  mark_recommended(r);
  // The alternative is to the best; it says nothing where the control is what to use.
  if (r.answer != Recommendation::Answer::kUseBest &&
      r.answer != Recommendation::Answer::kNoControl) {
    r.one_se = kNone;
  }
  note_left_out(strengths, r);
  note_one_standard_error(strengths, best, r);
  return r;
}

std::string recommendation_markdown(const Recommendation& r) {
  std::string md = "## Recommendation\n\n**" + r.headline + "**\n\n";
  for (const std::string& line : r.evidence) md += "- " + line + "\n";
  if (!r.command.empty()) {
    md +=
        "- To ask whether regularisation helps, rerun with the control (l2 = 0) added:\n\n  ```\n "
        " " +
        r.command + "\n  ```\n";
  }
  return md + "\n";
}

namespace {

/// `text` in lines of at most 80 columns, the first after `first`, the others after `rest`;
/// backquotes (markdown's) dropped.
std::string wrapped(const std::string& text, const std::string& first, const std::string& rest) {
  std::string plain = text;
  plain.erase(std::remove(plain.begin(), plain.end(), '`'), plain.end());
  return first + wrap_words(plain, 80, first.size(), rest) + "\n";
}

}  // namespace

std::string recommendation_text(const Recommendation& r) {
  std::string text = wrapped(r.headline, "Recommendation: ", "  ");
  for (const std::string& line : r.evidence) text += wrapped(line, "  - ", "    ");
  if (!r.command.empty()) {
    // On a line of its own, unbroken, to copy.
    text +=
        "  - To ask whether regularisation helps, rerun with the control (l2 = 0) added:\n    " +
        r.command + "\n";
  }
  return text;
}

}  // namespace l2sweep
