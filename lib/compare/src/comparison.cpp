#include "l2sweep/compare/comparison.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

#include "l2sweep/base/error.h"

namespace l2sweep::compare {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool same_strength(double a, double b) {
  return a == b || std::fabs(a - b) <= 1e-12 * std::max(std::fabs(a), std::fabs(b));
}

/// The bits of two series are the same (NaN equal to NaN).
bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
  }
  return true;
}

/// Runs of two groups pair by seed, and every metric both record has the same bits (over
/// their first `epochs` epochs when that is not 0: the common epochs of two sources).
bool identical(const Group& a, const Group& b, int64_t epochs = 0) {
  if (a.runs.size() != b.runs.size() || a.runs.empty()) return false;
  const auto head = [&](const std::vector<double>& values) {
    return epochs > 0 && static_cast<size_t>(epochs) < values.size()
               ? std::vector<double>(values.begin(), values.begin() + epochs)
               : values;
  };
  for (size_t i = 0; i < a.runs.size(); ++i) {
    const RunCurves& x = *a.runs[i];
    const RunCurves& y = *b.runs[i];
    if (!x.seed || !y.seed || *x.seed != *y.seed) return false;
    if (epochs > 0 ? (x.epochs() < epochs || y.epochs() < epochs) : x.epochs() != y.epochs()) {
      return false;
    }
    int64_t shared = 0;
    for (const auto& [name, values] : x.metrics) {
      const std::vector<double>* other = y.find(name);
      if (other == nullptr) continue;
      if (!same_bits(head(values), head(*other))) return false;
      ++shared;
    }
    if (shared == 0) return false;
  }
  return true;
}

/// A run whose loss or validation loss stopped being finite in any epoch, or whose judged
/// metric ends non-finite: it diverged, and its last values mean nothing.
bool diverged(const RunCurves& run, const std::string& metric, int64_t epochs = 0) {
  const auto length = [&](const std::vector<double>& series) {
    return epochs > 0 ? std::min(series.size(), static_cast<size_t>(epochs)) : series.size();
  };
  for (const char* name : {"loss", "val_loss"}) {
    if (const std::vector<double>* series = run.find(name)) {
      for (size_t i = 0; i < length(*series); ++i) {
        if (!std::isfinite((*series)[i])) return true;
      }
    }
  }
  const std::vector<double>& judged = *run.find(metric);
  return length(judged) == 0 || !std::isfinite(judged[length(judged) - 1]);
}

/// Per run: the final value of each curve metric, the best val_accuracy and lowest val_loss
/// with their epochs (1-based; the first on ties). NaN where the run lacks the metric.
/// With `epochs` > 0, over the run's first `epochs` epochs only (the common epochs of two
/// sources that trained different numbers).
std::vector<double> run_statistics(const RunCurves& run, int64_t epochs = 0) {
  const auto length = [&](const std::vector<double>& series) {
    return epochs > 0 ? std::min(series.size(), static_cast<size_t>(epochs)) : series.size();
  };
  std::vector<double> values;
  for (const char* metric : kCurveMetrics) {
    const std::vector<double>* series = run.find(metric);
    values.push_back(series != nullptr && length(*series) > 0 ? (*series)[length(*series) - 1]
                                                              : kNaN);
  }
  for (const auto& [metric, higher_is_better] :
       {std::pair<const char*, bool>{"val_accuracy", true}, {"val_loss", false}}) {
    const std::vector<double>* series = run.find(metric);
    double best = kNaN, epoch = kNaN;
    if (series != nullptr) {
      for (size_t i = 0; i < length(*series); ++i) {
        const double v = (*series)[i];
        if (!std::isfinite(v)) continue;
        if (std::isnan(best) || (higher_is_better ? v > best : v < best)) {
          best = v;
          epoch = static_cast<double>(i + 1);
        }
      }
    }
    values.push_back(best);
    values.push_back(epoch);
  }
  return values;
}

/// The statistic `name` of `group`'s runs over their first `epochs` epochs (diverged runs
/// left out, as in the group's own statistics).
SeedStats statistic_at(const Group& group, const std::string& metric, const std::string& name,
                       int64_t epochs) {
  const std::vector<std::string> names = group_statistic_names();
  const auto k = static_cast<size_t>(std::find(names.begin(), names.end(), name) - names.begin());
  std::vector<double> values;
  for (const RunCurves* run : group.runs) {
    if (diverged(*run, metric, epochs)) continue;
    const double value = run_statistics(*run, epochs).at(k);
    if (!std::isnan(value)) values.push_back(value);
  }
  return seed_stats(values);
}

/// The spread to plan seeds with when the two sides give none: the pooled seed spread of the
/// other sources at this strength, else of these two sources at their other strengths, else
/// the runs' epoch-to-epoch noise.
void plan_without_spread(const Comparison& comparison, const Group& a, const Group& b,
                         StrengthVerdict& verdict) {
  std::vector<SeedStats> same_strength_spreads, other_strength_spreads;
  for (const Group& group : comparison.groups) {
    if (&group == &a || &group == &b) continue;
    if (group.l2 == a.l2) {
      same_strength_spreads.push_back(group.statistic(comparison.statistic));
    } else if (group.source == a.source || group.source == b.source) {
      other_strength_spreads.push_back(group.statistic(comparison.statistic));
    }
  }
  double spread = pooled_std(same_strength_spreads);
  std::string basis = "the seed spread of the other sources at this strength";
  if (!(spread > 0)) {
    spread = pooled_std(other_strength_spreads);
    basis = "the seed spread of these sources at their other strengths";
  }
  if (!(spread > 0)) {
    std::vector<double> noise;
    for (const Group* group : {&a, &b}) {
      for (const RunCurves* run : group->runs) {
        const double value = second_half_residual_std(*run->find(comparison.metric));
        if (std::isfinite(value)) noise.push_back(value);
      }
    }
    spread = 0;
    for (const double value : noise) spread += value / static_cast<double>(noise.size());
    basis =
        "epoch-to-epoch noise over the second half of training, a rough stand-in for the "
        "seed spread";
  }
  if (std::isfinite(spread) && spread > 0) {
    verdict.planning_std = spread;
    verdict.planning_basis = basis;
    verdict.seeds_needed = seeds_to_resolve(verdict.difference, spread);
  }
}

/// Float32 rounding of `value` (TensorBoard keeps float32): the largest difference that two
/// records of one number can show.
double float_rounding(double a, double b) {
  return 1e-6 * std::max({1.0, std::fabs(a), std::fabs(b)});
}

/// The judged statistic of `group`'s runs: over their first `at_epoch` epochs when that is
/// not 0, else their own final values.
SeedStats side_stats(const Comparison& comparison, const Group& group, int64_t at_epoch) {
  return at_epoch > 0 ? statistic_at(group, comparison.metric, comparison.statistic, at_epoch)
                      : group.statistic(comparison.statistic);
}

/// The verdict's setting, sides and numbers, before anything is decided.
StrengthVerdict verdict_of(size_t reference, size_t other, int64_t at_epoch, const Group& a,
                           const SeedStats& sa, const SeedStats& sb) {
  StrengthVerdict verdict;
  verdict.l2 = a.l2;
  verdict.dropout = a.dropout;
  verdict.weight_decay = a.weight_decay;
  verdict.reference = reference;
  verdict.other = other;
  verdict.at_epoch = at_epoch;
  verdict.reference_stats = sa;
  verdict.other_stats = sb;
  verdict.difference = sb.mean - sa.mean;
  return verdict;
}

/// Every run of a side diverged (non-finite final value): nothing to test.
void decide_diverged(const SeedStats& sa, const SeedStats& sb, StrengthVerdict& verdict) {
  verdict.difference = kNaN;
  if (sa.n == 0 && sb.n == 0) {
    verdict.method = "every run diverged on both sides";
    verdict.verdict = Verdict::kConsistent;
  } else {
    verdict.method = "every run diverged on one side only";
    verdict.verdict = Verdict::kDiffers;
  }
}

/// Seeds that all ended on the same value measure no spread: a difference can be neither
/// explained by it nor called significant, except float rounding.
void decide_tied(const Comparison& comparison, const Group& a, const Group& b, const SeedStats& sa,
                 const SeedStats& sb, StrengthVerdict& verdict) {
  if (std::fabs(verdict.difference) <= float_rounding(sa.mean, sb.mean)) {
    verdict.method = "no seed spread; the difference is float32 rounding";
    verdict.verdict = Verdict::kConsistent;
  } else {
    verdict.method = "no seed spread measured (the seeds tie)";
    verdict.verdict = Verdict::kCannotTell;
    plan_without_spread(comparison, a, b, verdict);
  }
}

/// The test the sides' spreads allow, run into `verdict`; false when neither side has a
/// spread (one run each), and no test ran.
bool run_test(const SeedStats& sa, const SeedStats& sb, StrengthVerdict& verdict) {
  const bool spread_a = sa.n >= 2, spread_b = sb.n >= 2;
  if (spread_a && spread_b) {
    verdict.method = "Welch's t-test";
    verdict.test = welch_t_test(sa, sb);
  } else if (spread_a) {
    verdict.method = "z-score against the reference's seeds";
    verdict.test = z_test(sa, sb.mean);
  } else if (spread_b) {
    verdict.method = "z-score against this source's seeds";
    verdict.test = z_test(sb, sa.mean);
    verdict.test.statistic = -verdict.test.statistic;  // positive: `other` is larger
  } else {
    return false;
  }
  return true;
}

StrengthVerdict decide(const Comparison& comparison, size_t reference, size_t other,
                       int64_t at_epoch) {
  const Group& a = comparison.groups[reference];
  const Group& b = comparison.groups[other];
  const SeedStats sa = side_stats(comparison, a, at_epoch);
  const SeedStats sb = side_stats(comparison, b, at_epoch);
  StrengthVerdict verdict = verdict_of(reference, other, at_epoch, a, sa, sb);
  if (identical(a, b, at_epoch)) {
    verdict.verdict = Verdict::kIdentical;
    verdict.method = "bit for bit";
    verdict.difference = 0;
    return verdict;
  }
  if (sa.n == 0 || sb.n == 0) {
    decide_diverged(sa, sb, verdict);
    return verdict;
  }
  const bool spread_a = sa.n >= 2, spread_b = sb.n >= 2;
  const double measured_spread = pooled_std({sa, sb});
  if ((spread_a || spread_b) && measured_spread == 0) {
    decide_tied(comparison, a, b, sa, sb, verdict);
    return verdict;
  }
  if (!run_test(sa, sb, verdict)) {
    verdict.method = "one run each";
    verdict.verdict = Verdict::kCannotTell;
    plan_without_spread(comparison, a, b, verdict);
    return verdict;
  }
  verdict.tested = true;
  verdict.verdict = verdict.test.p < kSignificance ? Verdict::kDiffers : Verdict::kConsistent;
  verdict.planning_std = measured_spread;
  verdict.planning_basis = "the seed spread of the two sides";
  verdict.seeds_needed = seeds_to_resolve(verdict.difference, measured_spread);
  return verdict;
}

}  // namespace

std::string epochs_text(const Group& group) {
  return group.min_epochs == group.max_epochs
             ? std::to_string(group.max_epochs)
             : fmt::format("{} to {}", group.min_epochs, group.max_epochs);
}

const char* verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::kIdentical:
      return "identical";
    case Verdict::kConsistent:
      return "consistent";
    case Verdict::kDiffers:
      return "differs";
    case Verdict::kCannotTell:
      return "cannot tell";
    case Verdict::kNotComparable:
      return "not comparable";
  }
  return "?";
}

std::vector<std::string> group_statistic_names() {
  std::vector<std::string> names;
  for (const char* metric : kCurveMetrics) names.push_back(std::string("final_") + metric);
  for (const char* name : {"best_val_accuracy", "best_val_accuracy_epoch", "lowest_val_loss",
                           "lowest_val_loss_epoch"}) {
    names.emplace_back(name);
  }
  return names;
}

const SeedStats& Group::statistic(const std::string& name) const {
  static const SeedStats kNone;
  for (const GroupStatistic& s : statistics) {
    if (name == s.name) return s.stats;
  }
  return kNone;
}

void check_metric(const std::string& metric) {
  if (!is_curve_metric(metric)) {
    throw usage_error("--metric {}: expected val_accuracy, val_loss, accuracy or loss", metric);
  }
}

bool same_setting(const Group& a, const Group& b) {
  return same_strength(a.l2, b.l2) && a.dropout == b.dropout && a.weight_decay == b.weight_decay;
}

std::string difference_text(const std::string& key, const SettingValue& reference,
                            const std::string& reference_name, const SettingValue& other,
                            const std::string& other_name) {
  const auto shown = [](const SettingValue& v, const std::string& name) {
    return fmt::format("{} ({}{})", v.value, name,
                       v.origin == SettingOrigin::kAssumed ? ", assumed" : "");
  };
  return fmt::format("{} {} vs {}", key, shown(other, other_name),
                     shown(reference, reference_name));
}

namespace {

/// The setups table, and per source the blocking settings that differ from the reference's.
void compare_setups(Comparison& comparison) {
  const size_t count = comparison.sources.size();
  comparison.blocking.assign(count, {});
  comparison.forced.assign(count, {});
  comparison.assumptions.assign(count, "");
  for (const SetupKey& key : kSetupKeys) {
    SetupRow row;
    row.key = key.name;
    row.blocks = key.blocks;
    bool any = false;
    for (const Source& source : comparison.sources) {
      const auto found = source.setup.find(key.name);
      row.values.push_back(found == source.setup.end() ? SettingValue{} : found->second);
      any = any || found != source.setup.end();
    }
    if (!any) continue;
    const SettingValue& reference = row.values[0];
    for (size_t s = 1; s < count; ++s) {
      const SettingValue& value = row.values[s];
      if (reference.value.empty() || value.value.empty()) continue;
      if (same_value(reference.value, value.value)) continue;
      row.differs = true;
      if (!key.blocks) continue;
      const std::string text = difference_text(key.name, reference, comparison.sources[0].name,
                                               value, comparison.sources[s].name);
      const bool ignored = std::find(comparison.ignored.begin(), comparison.ignored.end(),
                                     key.name) != comparison.ignored.end();
      (ignored ? comparison.forced : comparison.blocking)[s].push_back(text);
    }
    comparison.setups.push_back(std::move(row));
  }
  for (size_t s = 0; s < count; ++s) {
    std::string assumed;
    for (const auto& [key, value] : comparison.sources[s].setup) {
      if (value.origin == SettingOrigin::kAssumed) {
        assumed += (assumed.empty() ? "" : ", ") + key + " " + value.value;
      }
    }
    comparison.assumptions[s] = assumed;
  }
}

/// The fewest and the most epochs the runs of source `s` have.
std::pair<int64_t, int64_t> source_epochs(const Comparison& comparison, size_t s) {
  int64_t fewest = -1, most = 0;
  for (const Group& group : comparison.groups) {
    if (group.source != s) continue;
    fewest = fewest < 0 ? group.min_epochs : std::min(fewest, group.min_epochs);
    most = std::max(most, group.max_epochs);
  }
  return {std::max<int64_t>(fewest, 0), most};
}

std::string epochs_range(const std::pair<int64_t, int64_t>& epochs) {
  return epochs.first == epochs.second ? std::to_string(epochs.second)
                                       : fmt::format("{} to {}", epochs.first, epochs.second);
}

std::string group_setting(const Group& group) {
  return setting_name(group.l2, group.dropout, group.weight_decay);
}

/// A usage Error unless `metric` can be judged, there are two sources or more, and every
/// --ignore names a setting that can block a verdict.
void check_arguments(const std::vector<Source>& sources, const std::string& metric,
                     const std::vector<std::string>& ignore) {
  check_metric(metric);
  if (sources.size() < 2) {
    throw usage_error("compare: {} source{} given, expected two or more to compare", sources.size(),
                      sources.size() == 1 ? "" : "s");
  }
  for (const std::string& key : ignore) {
    const SetupKey* known = find_setup_key(key);
    if (known == nullptr || !known->blocks) {
      std::string keys;
      for (const SetupKey& k : kSetupKeys) {
        if (k.blocks) keys += (keys.empty() ? "" : ", ") + std::string(k.name);
      }
      throw usage_error("--ignore {}: expected a setting that can block a verdict: {}", key, keys);
    }
  }
}

/// The one value per strength across sources (the first source's spelling wins) that `l2`
/// pairs with, so that strengths that pair are the same number everywhere after this.
double canonical_of(std::vector<double>& canonical, double l2) {
  for (const double known : canonical) {
    if (same_strength(known, l2)) return known;
  }
  canonical.push_back(l2);
  return l2;
}

/// A data Error unless every run of `source` records `metric`.
void check_runs_have(const Source& source, const std::string& metric) {
  for (const RunCurves& run : source.runs) {
    if (run.find(metric) == nullptr) {
      throw data_error(
          "{}: run {} of source '{}' has no {} to compare (choose another "
          "--metric)",
          run.origin, run_name(run), source.name, metric);
    }
  }
}

using Setting = std::tuple<double, double, double>;

/// The settings (l2, Dropout, weight decay) of `source`'s runs, sorted in that order.
std::vector<Setting> source_settings(const Source& source, std::vector<double>& canonical) {
  std::vector<Setting> settings;
  for (const RunCurves& run : source.runs) {
    const std::tuple setting{canonical_of(canonical, run.l2), run.dropout, run.weight_decay};
    if (std::find(settings.begin(), settings.end(), setting) == settings.end()) {
      settings.push_back(setting);
    }
  }
  std::sort(settings.begin(), settings.end());
  return settings;
}

/// The runs of `source` (index `s`) at `setting`, in seed order, with their statistics.
Group make_group(const Source& source, size_t s, const Setting& setting,
                 const std::string& metric) {
  static const std::vector<std::string> kNames = group_statistic_names();
  const auto& [l2, dropout, weight_decay] = setting;
  Group group;
  group.source = s;
  group.l2 = l2;
  group.dropout = dropout;
  group.weight_decay = weight_decay;
  for (const RunCurves& run : source.runs) {
    if (same_strength(run.l2, l2) && run.dropout == dropout && run.weight_decay == weight_decay) {
      group.runs.push_back(&run);
    }
  }
  std::sort(group.runs.begin(), group.runs.end(), [](const RunCurves* x, const RunCurves* y) {
    // Runs without a seed first, then by seed (std::optional orders them so).
    return x->seed < y->seed;
  });
  group.min_epochs = group.runs.front()->epochs();
  group.max_epochs = group.min_epochs;
  std::vector<std::vector<double>> columns(kNames.size());
  for (const RunCurves* run : group.runs) {
    group.min_epochs = std::min(group.min_epochs, run->epochs());
    group.max_epochs = std::max(group.max_epochs, run->epochs());
    const std::vector<double> values = run_statistics(*run);
    if (diverged(*run, metric)) {
      group.diverged.push_back(run);
      continue;
    }
    for (size_t k = 0; k < kNames.size(); ++k) {
      if (!std::isnan(values[k])) columns[k].push_back(values[k]);
    }
  }
  for (size_t k = 0; k < kNames.size(); ++k) {
    group.statistics.push_back(GroupStatistic{kNames[k].c_str(), seed_stats(columns[k])});
  }
  return group;
}

/// Every source's groups, by source then setting.
void group_runs(Comparison& comparison) {
  std::vector<double> canonical;
  for (size_t s = 0; s < comparison.sources.size(); ++s) {
    const Source& source = comparison.sources[s];
    check_runs_have(source, comparison.metric);
    for (const Setting& setting : source_settings(source, canonical)) {
      comparison.groups.push_back(make_group(source, s, setting, comparison.metric));
    }
  }
}

/// Items joined by ", ".
std::string listed(const std::vector<std::string>& items) {
  std::string text;
  for (const std::string& item : items) text += (text.empty() ? "" : ", ") + item;
  return text;
}

/// The fewest and the most epochs of the reference's runs and of source `s`'s: the epoch
/// their verdicts are taken at.
struct PairEpochs {
  std::pair<int64_t, int64_t> reference, source;
  int64_t at_epoch = 0;  ///< the last epoch both trained when their lengths differ, else 0
};

/// Group `g` against reference group `r` where source `s`'s blocking settings differ from the
/// reference's: a test would compare two experiments.
StrengthVerdict not_comparable(const Comparison& comparison, size_t r, size_t g, size_t s) {
  StrengthVerdict verdict;
  verdict.l2 = comparison.groups[r].l2;
  verdict.dropout = comparison.groups[r].dropout;
  verdict.weight_decay = comparison.groups[r].weight_decay;
  verdict.reference = r;
  verdict.other = g;
  verdict.verdict = Verdict::kNotComparable;
  verdict.method = "not tested";
  verdict.reference_stats = comparison.groups[r].statistic(comparison.statistic);
  verdict.other_stats = comparison.groups[g].statistic(comparison.statistic);
  verdict.difference = verdict.other_stats.mean - verdict.reference_stats.mean;
  verdict.conditions = comparison.blocking[s];
  return verdict;
}

/// Group `g` of source `s` tested against reference group `r`, with what qualifies it.
StrengthVerdict tested_verdict(const Comparison& comparison, size_t r, size_t g, size_t s,
                               const PairEpochs& epochs) {
  StrengthVerdict verdict = decide(comparison, r, g, epochs.at_epoch);
  if (epochs.at_epoch > 0) {
    verdict.conditions.push_back(
        fmt::format("at epoch {}, the last both trained ({} {}, {} {})", epochs.at_epoch,
                    comparison.sources[0].name, epochs_range(epochs.reference),
                    comparison.sources[s].name, epochs_range(epochs.source)));
  }
  for (const std::string& forced : comparison.forced[s]) {
    verdict.conditions.push_back("forced: " + forced + " ignored");
  }
  return verdict;
}

/// A verdict for every group of source `s` against the reference's group of its setting;
/// the number of pairs, and the settings of `s` that have none in `unpaired`.
size_t pair_groups(Comparison& comparison, size_t s, const PairEpochs& epochs,
                   std::vector<std::string>& unpaired) {
  size_t paired = 0;
  for (size_t g = 0; g < comparison.groups.size(); ++g) {
    if (comparison.groups[g].source != s) continue;
    bool found = false;
    for (size_t r = 0; r < comparison.groups.size(); ++r) {
      if (comparison.groups[r].source != 0 ||
          !same_setting(comparison.groups[r], comparison.groups[g])) {
        continue;
      }
      found = true;
      ++paired;
      StrengthVerdict verdict = !comparison.blocking[s].empty()
                                    ? not_comparable(comparison, r, g, s)
                                    : tested_verdict(comparison, r, g, s, epochs);
      comparison.verdicts.push_back(std::move(verdict));
    }
    if (!found) unpaired.push_back(group_setting(comparison.groups[g]));
  }
  return paired;
}

/// The reference's settings that source `s` did not train.
std::vector<std::string> unpaired_in_reference(const Comparison& comparison, size_t s) {
  std::vector<std::string> unpaired;
  for (const Group& group : comparison.groups) {
    if (group.source != 0) continue;
    const bool found = std::any_of(
        comparison.groups.begin(), comparison.groups.end(),
        [&](const Group& other) { return other.source == s && same_setting(other, group); });
    if (!found) unpaired.push_back(group_setting(group));
  }
  return unpaired;
}

/// The note for a source `s` whose blocking settings differ from the reference's.
std::string not_comparable_note(const Comparison& comparison, size_t s) {
  std::string keys;
  for (const SetupRow& row : comparison.setups) {
    if (row.blocks && row.differs &&
        std::any_of(comparison.blocking[s].begin(), comparison.blocking[s].end(),
                    [&](const std::string& text) { return text.rfind(row.key + " ", 0) == 0; })) {
      keys += (keys.empty() ? "" : ",") + row.key;
    }
  }
  return fmt::format(
      "'{}' against '{}': not comparable ({}); no test was run. Rerun with matching "
      "settings, or force the tests with --ignore {}.",
      comparison.sources[s].name, comparison.sources[0].name, listed(comparison.blocking[s]), keys);
}

/// Source `s`'s verdicts against the reference, and the notes on what did not pair; a usage
/// Error when nothing pairs.
void compare_with_reference(Comparison& comparison, size_t s,
                            const std::pair<int64_t, int64_t>& reference_epochs) {
  // Runs of different lengths (between the sources, or within one: an unfinished run) are
  // compared at the last epoch every run of both trained.
  PairEpochs epochs;
  epochs.reference = reference_epochs;
  epochs.source = source_epochs(comparison, s);
  const int64_t common = std::min(epochs.source.first, reference_epochs.first);
  const int64_t longest = std::max(epochs.source.second, reference_epochs.second);
  epochs.at_epoch = common < longest ? common : 0;
  std::vector<std::string> unpaired_here;
  const size_t paired = pair_groups(comparison, s, epochs, unpaired_here);
  const std::vector<std::string> unpaired_there = unpaired_in_reference(comparison, s);
  const std::string& name = comparison.sources[s].name;
  const std::string& reference = comparison.sources[0].name;
  if (paired == 0) {
    throw usage_error(
        "source '{}' ({}) shares no setting with '{}' ({}): the labels "
        "pair nothing",
        name, listed(unpaired_here), reference, listed(unpaired_there));
  }
  if (!unpaired_here.empty()) {
    comparison.notes.push_back(fmt::format("{} of '{}' has no counterpart in '{}'.",
                                           listed(unpaired_here), name, reference));
  }
  if (!unpaired_there.empty()) {
    comparison.notes.push_back(fmt::format("{} of '{}' has no counterpart in '{}'.",
                                           listed(unpaired_there), reference, name));
  }
  if (!comparison.blocking[s].empty()) {
    comparison.notes.push_back(not_comparable_note(comparison, s));
  }
}

/// What the readers left out (older trainings in a TensorBoard folder, ...).
void note_readers(Comparison& comparison) {
  for (const Source& source : comparison.sources) {
    for (const RunCurves& run : source.runs) {
      for (const std::string& note : run.notes) {
        comparison.notes.push_back(fmt::format("'{}' {}: {}", source.name, run_name(run), note));
      }
    }
  }
}

/// Per group: runs of different lengths, diverged runs, unfinished runs.
void note_groups(Comparison& comparison) {
  for (const Group& group : comparison.groups) {
    const std::string& name = comparison.sources[group.source].name;
    const bool has_plan = std::any_of(group.runs.begin(), group.runs.end(),
                                      [](const RunCurves* run) { return run->planned_epochs; });
    if (group.min_epochs != group.max_epochs && !has_plan) {
      comparison.notes.push_back(fmt::format(
          "'{}' at {}: its runs have {} to {} epochs; each run's last epoch is its final one.",
          name, group_setting(group), group.min_epochs, group.max_epochs));
    }
    for (const RunCurves* run : group.diverged) {
      comparison.notes.push_back(
          fmt::format("'{}' {}: diverged (a non-finite loss or {}); left out of the statistics.",
                      name, run_name(*run), comparison.metric));
    }
    int64_t unfinished = 0, planned = 0;
    for (const RunCurves* run : group.runs) {
      if (run->planned_epochs && run->epochs() < *run->planned_epochs) {
        ++unfinished;
        planned = *run->planned_epochs;
      }
    }
    if (unfinished > 0) {
      comparison.notes.push_back(fmt::format(
          "'{}' at {}: {} of {} runs unfinished ({} of {} planned epochs); each run's last "
          "epoch is taken as its final one.",
          name, group_setting(group), unfinished, group.runs.size(), epochs_text(group), planned));
    }
  }
}

}  // namespace

Comparison compare_sources(std::vector<Source> sources, const std::string& metric,
                           const std::vector<std::string>& ignore) {
  check_arguments(sources, metric, ignore);
  Comparison comparison;
  comparison.metric = metric;
  comparison.statistic = "final_" + metric;
  comparison.sources = std::move(sources);
  comparison.ignored = ignore;
  group_runs(comparison);
  compare_setups(comparison);
  const std::pair<int64_t, int64_t> reference_epochs = source_epochs(comparison, 0);
  for (size_t s = 1; s < comparison.sources.size(); ++s) {
    compare_with_reference(comparison, s, reference_epochs);
  }
  note_readers(comparison);
  note_groups(comparison);
  return comparison;
}

}  // namespace l2sweep::compare
