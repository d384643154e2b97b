#include "l2sweep/compare/comparison.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

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

/// Runs of two groups pair by seed, and every metric both record has the same bits.
bool identical(const Group& a, const Group& b) {
  if (a.runs.size() != b.runs.size() || a.runs.empty()) return false;
  for (size_t i = 0; i < a.runs.size(); ++i) {
    const RunCurves& x = *a.runs[i];
    const RunCurves& y = *b.runs[i];
    if (!x.seed || !y.seed || *x.seed != *y.seed || x.epochs() != y.epochs()) return false;
    int64_t shared = 0;
    for (const auto& [name, values] : x.metrics) {
      const std::vector<double>* other = y.find(name);
      if (other == nullptr) continue;
      if (!same_bits(values, *other)) return false;
      ++shared;
    }
    if (shared == 0) return false;
  }
  return true;
}

/// A run whose loss or validation loss stopped being finite in any epoch, or whose judged
/// metric ends non-finite: it diverged, and its last values mean nothing.
bool diverged(const RunCurves& run, const std::string& metric) {
  for (const char* name : {"loss", "val_loss"}) {
    if (const std::vector<double>* series = run.find(name)) {
      for (const double value : *series) {
        if (!std::isfinite(value)) return true;
      }
    }
  }
  return !std::isfinite(run.find(metric)->back());
}

/// Per run: the final value of each curve metric, the best val_accuracy and lowest val_loss
/// with their epochs (1-based; the first on ties). NaN where the run lacks the metric.
std::vector<double> run_statistics(const RunCurves& run) {
  std::vector<double> values;
  for (const char* metric : kCurveMetrics) {
    const std::vector<double>* series = run.find(metric);
    values.push_back(series != nullptr && !series->empty() ? series->back() : kNaN);
  }
  for (const auto& [metric, higher_is_better] :
       {std::pair<const char*, bool>{"val_accuracy", true}, {"val_loss", false}}) {
    const std::vector<double>* series = run.find(metric);
    double best = kNaN, epoch = kNaN;
    if (series != nullptr) {
      for (size_t i = 0; i < series->size(); ++i) {
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

StrengthVerdict decide(const Comparison& comparison, size_t reference, size_t other) {
  const Group& a = comparison.groups[reference];
  const Group& b = comparison.groups[other];
  const SeedStats& sa = a.statistic(comparison.statistic);
  const SeedStats& sb = b.statistic(comparison.statistic);
  StrengthVerdict verdict;
  verdict.l2 = a.l2;
  verdict.reference = reference;
  verdict.other = other;
  verdict.difference = sb.mean - sa.mean;
  if (identical(a, b)) {
    verdict.verdict = Verdict::kIdentical;
    verdict.method = "bit for bit";
    verdict.difference = 0;
    return verdict;
  }
  if (sa.n == 0 || sb.n == 0) {
    // Every run of a side diverged (non-finite final value).
    verdict.difference = kNaN;
    if (sa.n == 0 && sb.n == 0) {
      verdict.method = "every run diverged on both sides";
      verdict.verdict = Verdict::kConsistent;
    } else {
      verdict.method = "every run diverged on one side only";
      verdict.verdict = Verdict::kDiffers;
    }
    return verdict;
  }
  const bool spread_a = sa.n >= 2, spread_b = sb.n >= 2;
  const double measured_spread = pooled_std({sa, sb});
  if ((spread_a || spread_b) && measured_spread == 0) {
    // Seeds that all ended on the same value measure no spread: a difference can be neither
    // explained by it nor called significant, except float rounding.
    if (std::fabs(verdict.difference) <= float_rounding(sa.mean, sb.mean)) {
      verdict.method = "no seed spread; the difference is float32 rounding";
      verdict.verdict = Verdict::kConsistent;
    } else {
      verdict.method = "no seed spread measured (the seeds tie)";
      verdict.verdict = Verdict::kCannotTell;
      plan_without_spread(comparison, a, b, verdict);
    }
    return verdict;
  }
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
    verdict.method = "one run each";
    verdict.verdict = Verdict::kCannotTell;
    plan_without_spread(comparison, a, b, verdict);
    return verdict;
  }
  verdict.tested = true;
  verdict.verdict = verdict.test.p < kAlpha ? Verdict::kDiffers : Verdict::kConsistent;
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

namespace {

std::string strengths_text(const std::vector<double>& strengths) {
  std::string text;
  for (const double l2 : strengths) text += (text.empty() ? "" : ", ") + fmt::format("{}", l2);
  return text;
}

}  // namespace

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

Comparison compare_sources(std::vector<Source> sources, const std::string& metric) {
  check_metric(metric);
  if (sources.size() < 2) {
    throw usage_error("compare: {} source{} given, expected two or more to compare", sources.size(),
                      sources.size() == 1 ? "" : "s");
  }
  Comparison comparison;
  comparison.metric = metric;
  comparison.statistic = "final_" + metric;
  comparison.sources = std::move(sources);
  static const std::vector<std::string> kNames = group_statistic_names();
  // One value per strength across sources (the first source's spelling wins), so that
  // strengths that pair are the same number everywhere after this.
  std::vector<double> canonical;
  const auto canonical_of = [&](double l2) {
    for (const double known : canonical) {
      if (same_strength(known, l2)) return known;
    }
    canonical.push_back(l2);
    return l2;
  };

  for (size_t s = 0; s < comparison.sources.size(); ++s) {
    const Source& source = comparison.sources[s];
    for (const RunCurves& run : source.runs) {
      if (run.find(metric) == nullptr) {
        throw data_error(
            "{}: run {} of source '{}' has no {} to compare (choose another "
            "--metric)",
            run.origin, run_name(run), source.name, metric);
      }
    }
    std::vector<double> strengths;
    for (const RunCurves& run : source.runs) {
      const double l2 = canonical_of(run.l2);
      if (std::find(strengths.begin(), strengths.end(), l2) == strengths.end()) {
        strengths.push_back(l2);
      }
    }
    std::sort(strengths.begin(), strengths.end());
    for (const double l2 : strengths) {
      Group group;
      group.source = s;
      group.l2 = l2;
      for (const RunCurves& run : source.runs) {
        if (same_strength(run.l2, l2)) group.runs.push_back(&run);
      }
      std::sort(group.runs.begin(), group.runs.end(), [](const RunCurves* x, const RunCurves* y) {
        return x->seed.value_or(-1) < y->seed.value_or(-1);
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
      comparison.groups.push_back(std::move(group));
    }
  }

  for (size_t s = 1; s < comparison.sources.size(); ++s) {
    std::vector<double> unpaired_here, unpaired_there;
    size_t paired = 0;
    for (size_t g = 0; g < comparison.groups.size(); ++g) {
      if (comparison.groups[g].source != s) continue;
      bool found = false;
      for (size_t r = 0; r < comparison.groups.size(); ++r) {
        if (comparison.groups[r].source == 0 &&
            same_strength(comparison.groups[r].l2, comparison.groups[g].l2)) {
          comparison.verdicts.push_back(decide(comparison, r, g));
          found = true;
          ++paired;
        }
      }
      if (!found) unpaired_here.push_back(comparison.groups[g].l2);
    }
    for (const Group& group : comparison.groups) {
      if (group.source != 0) continue;
      const bool found =
          std::any_of(comparison.groups.begin(), comparison.groups.end(), [&](const Group& other) {
            return other.source == s && same_strength(other.l2, group.l2);
          });
      if (!found) unpaired_there.push_back(group.l2);
    }
    const std::string& name = comparison.sources[s].name;
    const std::string& reference = comparison.sources[0].name;
    if (paired == 0) {
      throw usage_error(
          "source '{}' (l2 {}) shares no strength with '{}' (l2 {}): the labels "
          "pair nothing",
          name, strengths_text(unpaired_here), reference, strengths_text(unpaired_there));
    }
    if (!unpaired_here.empty()) {
      comparison.notes.push_back(fmt::format("l2 {} of '{}' has no counterpart in '{}'.",
                                             strengths_text(unpaired_here), name, reference));
    }
    if (!unpaired_there.empty()) {
      comparison.notes.push_back(fmt::format("l2 {} of '{}' has no counterpart in '{}'.",
                                             strengths_text(unpaired_there), reference, name));
    }
  }
  for (const Group& group : comparison.groups) {
    const std::string& name = comparison.sources[group.source].name;
    const bool has_plan = std::any_of(group.runs.begin(), group.runs.end(),
                                      [](const RunCurves* run) { return run->planned_epochs; });
    if (group.min_epochs != group.max_epochs && !has_plan) {
      comparison.notes.push_back(fmt::format(
          "'{}' at l2 {}: its runs have {} to {} epochs; each run's last epoch is its final one.",
          name, group.l2, group.min_epochs, group.max_epochs));
    }
    for (const RunCurves* run : group.diverged) {
      comparison.notes.push_back(
          fmt::format("'{}' {}: diverged (a non-finite loss or {}); left out of the statistics.",
                      name, run_name(*run), metric));
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
          "'{}' at l2 {}: {} of {} runs unfinished ({} of {} planned epochs); each run's last "
          "epoch is taken as its final one.",
          name, group.l2, unfinished, group.runs.size(), epochs_text(group), planned));
    }
  }
  for (const StrengthVerdict& verdict : comparison.verdicts) {
    const Group& a = comparison.groups[verdict.reference];
    const Group& b = comparison.groups[verdict.other];
    if (a.max_epochs != b.max_epochs || a.min_epochs != b.min_epochs) {
      comparison.notes.push_back(fmt::format(
          "l2 {}: '{}' trained {} epochs and '{}' {}; the final values are compared anyway.",
          verdict.l2, comparison.sources[a.source].name, epochs_text(a),
          comparison.sources[b.source].name, epochs_text(b)));
    }
  }
  return comparison;
}

}  // namespace l2sweep::compare
