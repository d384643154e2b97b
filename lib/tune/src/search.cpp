#include "l2sweep/tune/search.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "l2sweep/outputs/setting_summary.h"
#include "l2sweep/stats/statistics.h"

namespace l2sweep::tune {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// a is better than b.
bool better(double a, double b, bool maximise) { return maximise ? a > b : a < b; }

/// Two-sided p-value of the paired t-test of `a` against `b` over the seeds both finished;
/// 0 when a seed diverged on one side. The same difference on every seed (no spread, as two
/// seeds often give) is untestable, NaN, never significant: a confident answer from zero
/// variance would be the opposite of the evidence (paired_t_p, as the report's).
double paired_p(const std::vector<double>& a, const std::vector<double>& b) {
  for (size_t s = 0; s < a.size() && s < b.size(); ++s) {
    if (!std::isfinite(a[s]) || !std::isfinite(b[s])) return 0.0;
  }
  return paired_t_p(a, b);
}

}  // namespace

Score score_of(const std::vector<double>& values) {
  Score score;
  score.n = static_cast<int64_t>(values.size());
  if (values.empty() ||
      std::any_of(values.begin(), values.end(), [](double v) { return !std::isfinite(v); })) {
    score.mean = score.std = score.se = kNaN;
    return score;
  }
  const SeedStats stats = seed_stats(values);
  score.mean = stats.mean;
  score.std = stats.std;
  score.se = stats.std / std::sqrt(static_cast<double>(score.n));
  return score;
}

std::vector<double> log_grid(double low, double high, int points) {
  std::vector<double> grid;
  const double a = std::log10(low), b = std::log10(high);
  for (int i = 0; i < points; ++i) {
    // The ends exactly as given; the rest rounded to 4 significant digits, so that the
    // strengths read back from their own printed names.
    const double value = i == 0            ? low
                         : i == points - 1 ? high
                                           : std::pow(10.0, a + (b - a) * i / (points - 1));
    grid.push_back(std::stod(fmt::format("{:.4g}", value)));
  }
  return grid;
}

Analysis analyse(const std::vector<Candidate>& candidates, bool maximise) {
  Analysis analysis;
  std::vector<Score> scores;
  for (const Candidate& c : candidates) scores.push_back(score_of(c.scores));
  bool found = false;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (std::isnan(scores[i].mean)) continue;
    if (!found || better(scores[i].mean, scores[analysis.best].mean, maximise) ||
        (scores[i].mean == scores[analysis.best].mean &&
         candidates[i].l2 > candidates[analysis.best].l2)) {
      analysis.best = i;
      found = true;
    }
  }
  const Candidate& best = candidates[analysis.best];
  const Score& top = scores[analysis.best];
  for (size_t i = 0; i < candidates.size(); ++i) {
    const double p = i == analysis.best ? 1.0 : paired_p(best.scores, candidates[i].scores);
    analysis.p_vs_best.push_back(p);
    analysis.indistinguishable.push_back(std::isnan(p) || p >= kSignificance);
  }
  // The interval: contiguous in l2 order around the best.
  std::vector<size_t> order(candidates.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t x, size_t y) { return candidates[x].l2 < candidates[y].l2; });
  const auto at =
      static_cast<size_t>(std::find(order.begin(), order.end(), analysis.best) - order.begin());
  size_t lo = at, hi = at;
  while (lo > 0 && analysis.indistinguishable[order[lo - 1]]) --lo;
  while (hi + 1 < order.size() && analysis.indistinguishable[order[hi + 1]]) ++hi;
  analysis.interval_low = candidates[order[lo]].l2;
  analysis.interval_high = candidates[order[hi]].l2;
  // The 1se strength: the largest in the interval above the best within one standard error of it.
  analysis.one_se = analysis.best;
  const double bound = maximise ? top.mean - top.se : top.mean + top.se;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (std::isnan(scores[i].mean) || candidates[i].l2 <= candidates[analysis.one_se].l2 ||
        candidates[i].l2 > analysis.interval_high) {
      continue;
    }
    if (maximise ? scores[i].mean >= bound : scores[i].mean <= bound) analysis.one_se = i;
  }
  // The edges of the searched range are its positive strengths: l2 = 0 is the control.
  size_t first_positive = 0;
  while (first_positive < order.size() && candidates[order[first_positive]].l2 <= 0) {
    ++first_positive;
  }
  analysis.at_edge = best.l2 > 0 && (at == first_positive || at + 1 == order.size());
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (candidates[i].l2 == 0 && std::isfinite(scores[i].mean) &&
        (i == analysis.best || analysis.indistinguishable[i])) {
      analysis.no_l2 = true;
    }
  }
  analysis.use = analysis.no_l2 ? 0.0 : best.l2;
  return analysis;
}

namespace {

/// Why the search stops before it looks for a bracket: l2 = 0 is as good as the best, the
/// rounds ran out, or the seeds cannot tell the strengths apart; empty when it goes on.
std::string stop_before_bracket(const std::vector<Candidate>& candidates, const Analysis& analysis,
                                const SearchSettings& settings, int rounds_done) {
  if (analysis.no_l2) {
    const Candidate& best = candidates[analysis.best];
    return best.l2 == 0 ? "l2 = 0 (no L2) is the best: regularisation does not help here"
                        : fmt::format(
                              "l2 = 0 (no L2) cannot be told from the best, {:.4g}: L2 does not "
                              "help measurably here",
                              best.l2);
  }
  if (rounds_done >= settings.max_rounds) {
    return fmt::format("reached the limit of {} rounds", settings.max_rounds);
  }
  if (std::all_of(analysis.indistinguishable.begin(), analysis.indistinguishable.end(),
                  [](bool tied) { return tied; })) {
    return "no strength tried can be told from the best: the seeds' noise cannot resolve the "
           "optimum in this range (more seeds, more data or a wider range would)";
  }
  // The last round could not tell any of its strengths from the best: a finer grid inside
  // the same interval would not either.
  if (rounds_done >= 2) {
    bool all_tied = true, any = false;
    for (size_t i = 0; i < candidates.size(); ++i) {
      if (candidates[i].round != rounds_done) continue;
      any = true;
      all_tied = all_tied && analysis.indistinguishable[i];
    }
    if (any && all_tied) {
      return fmt::format(
          "every strength of round {} is indistinguishable from the best: the seeds' noise "
          "cannot resolve a finer grid",
          rounds_done);
    }
  }
  return "";
}

/// A strength within half the finest spacing of one already tried adds nothing.
bool tried(const std::vector<Candidate>& candidates, const SearchSettings& settings, double l2) {
  return std::any_of(candidates.begin(), candidates.end(), [&](const Candidate& c) {
    return std::fabs(std::log10(c.l2 / l2)) < settings.min_spacing_decades / 2;
  });
}

/// The bracket did not narrow: its grid is the one tried. Halve its steps instead.
void halve_steps(const std::vector<Candidate>& candidates, const SearchSettings& settings,
                 NextRound& next) {
  std::vector<double> inside;
  for (const Candidate& c : candidates) {
    if (c.l2 >= next.low && c.l2 <= next.high) inside.push_back(c.l2);
  }
  std::sort(inside.begin(), inside.end());
  next.spacing = INFINITY;
  for (size_t i = 0; i + 1 < inside.size(); ++i) {
    const double half = std::log10(inside[i + 1] / inside[i]) / 2;
    if (half < settings.min_spacing_decades) continue;
    const double middle = std::stod(fmt::format("{:.4g}", std::sqrt(inside[i] * inside[i + 1])));
    if (tried(candidates, settings, middle)) continue;
    next.strengths.push_back(middle);
    next.spacing = std::min(next.spacing, half);
  }
}

}  // namespace

NextRound next_round(const std::vector<Candidate>& candidates, const Analysis& analysis,
                     const SearchSettings& settings, int rounds_done) {
  NextRound next;
  next.stop_reason = stop_before_bracket(candidates, analysis, settings, rounds_done);
  if (!next.stop_reason.empty()) return next;
  // The bracket: the nearest strengths tried outside the interval (or the range's ends).
  next.low = settings.low;
  next.high = settings.high;
  for (const Candidate& c : candidates) {
    if (c.l2 < analysis.interval_low) next.low = std::max(next.low, c.l2);
    if (c.l2 > analysis.interval_high) next.high = std::min(next.high, c.l2);
  }
  const double spacing =
      std::log10(next.high / next.low) / static_cast<double>(settings.grid_points - 1);
  if (spacing < settings.min_spacing_decades) {
    next.stop_reason =
        fmt::format("the bracket {:.3g} to {:.3g} is narrower than {} strengths {} decades apart",
                    next.low, next.high, settings.grid_points, settings.min_spacing_decades);
    return next;
  }
  next.spacing = spacing;
  for (const double l2 : log_grid(next.low, next.high, settings.grid_points)) {
    if (!tried(candidates, settings, l2)) next.strengths.push_back(l2);
  }
  if (next.strengths.empty()) halve_steps(candidates, settings, next);
  if (next.strengths.empty()) next.stop_reason = "every strength of a finer grid has been tried";
  return next;
}

}  // namespace l2sweep::tune
