#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace l2sweep::tune {

/// One strength the search trained, on every seed.
struct Candidate {
  double l2 = 0;
  int round = 0;  ///< the round that trained it, from 1
  /// The optimised metric's final value per seed, in seed order; NaN for a run that diverged.
  std::vector<double> scores;
  /// Both validation metrics per seed, for the report and the plot.
  std::vector<double> val_accuracy;
  std::vector<double> val_data_loss;
};

/// How the search explores. Defaults: 7 strengths a round, at most 4 rounds.
struct SearchSettings {
  double low = 1e-6;
  double high = 1e-1;
  bool maximise = true;  ///< val_accuracy; false for the validation cross-entropy
  int grid_points = 7;
  int max_rounds = 4;
  /// A round whose grid would be finer than this (decades between strengths) is not run.
  double min_spacing_decades = 0.02;
  /// The first round tries l2 = 0 (the unregularised control) beside the log grid, so that the
  /// search can answer "no L2". Off only where a test needs rounds on data L2 does not help.
  bool try_control = true;
};

/// Mean, sample standard deviation (seed_stats') and standard error of `values`; all NaN when
/// any is not finite (a diverged seed disqualifies its strength).
struct Score {
  double mean = 0, std = 0, se = 0;
  int64_t n = 0;
};
Score score_of(const std::vector<double>& values);

/// What the candidates so far say.
struct Analysis {
  size_t best = 0;  ///< the candidate with the best mean score
  /// The largest strength in the interval whose mean is within one standard error of the
  /// best's (glmnet's lambda.1se, kept inside the interval so that the paired test cannot
  /// tell it from the best either): the most regularised near-optimal choice.
  size_t one_se = 0;
  /// Per candidate: the two-sided p-value of a paired t-test over seeds against the best
  /// (seeds pair: a cohort's members share their initial weights and batches); 1 for the best,
  /// 0 for a diverged one.
  std::vector<double> p_vs_best;
  std::vector<bool> indistinguishable;  ///< p_vs_best >= 0.05
  /// The strengths indistinguishable from the best, contiguous around it in l2 order.
  double interval_low = 0, interval_high = 0;
  /// The best is the lowest or the highest positive strength of the searched range.
  bool at_edge = false;
  /// l2 = 0 (no L2) was tried and is the best, or the paired test cannot tell it from the
  /// best: the answer is "no L2", and the search stops (widening the range towards 0 can
  /// never reach 0 itself).
  bool no_l2 = false;
  /// The strength to use: 0 when no_l2, else the best.
  double use = 0;
};

/// `points` strengths spaced evenly in log10 from `low` to `high`: the ends exactly, the
/// others rounded to 4 significant digits so that they read well in names and tables.
std::vector<double> log_grid(double low, double high, int points);

/// Best, 1se, the interval and whether the answer is "no L2" (a candidate of l2 = 0, the
/// unregularised control, tried next to the log grid). Needs at least one candidate with a
/// finite score and two seeds.
Analysis analyse(const std::vector<Candidate>& candidates, bool maximise);

/// The next round: new strengths between the nearest candidates outside the interval, or
/// none with the reason the search stops.
struct NextRound {
  std::vector<double> strengths;
  double low = 0, high = 0;  ///< the bracket the strengths span
  double spacing = 0;        ///< decades between the grid's strengths
  std::string stop_reason;   ///< set when `strengths` is empty
};
NextRound next_round(const std::vector<Candidate>& candidates, const Analysis& analysis,
                     const SearchSettings& settings, int rounds_done);

}  // namespace l2sweep::tune
