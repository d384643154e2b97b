#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "l2sweep/config/sweep_config.h"
#include "l2sweep/outputs/setting_summary.h"

namespace l2sweep {

/// One setting's final validation accuracy against another's, paired over the seeds both
/// completed (a seed's settings share their initial weights and batches, so pairing removes
/// most of the seed-to-seed spread).
struct PairedDifference {
  size_t pairs = 0;
  double mean = std::numeric_limits<double>::quiet_NaN();  ///< mean of (a - b) per seed
  double std = std::numeric_limits<double>::quiet_NaN();   ///< their sample standard deviation
  /// Two-sided p of the paired t-test; NaN with fewer than two pairs or no spread.
  double p = std::numeric_limits<double>::quiet_NaN();
  bool identical = false;  ///< the same value on every shared seed
  /// Seeds that would resolve a difference of this size (paired_seeds_to_resolve), when the
  /// test did not and there is a spread to plan with.
  std::optional<int64_t> seeds_needed;

  /// p < kSignificance: more than the seed spread explains.
  bool resolved() const;
};

/// `a` against `b` by final validation accuracy over their shared seeds.
PairedDifference paired_difference(const SettingSummary& a, const SettingSummary& b);

/// The answer to "which setting should I use?", computed from the final validation accuracy
/// of every completed run of a sweep.
struct Recommendation {
  enum class Answer {
    kNothing,           ///< no run completed: nothing to recommend
    kUseBest,           ///< the best setting beats the unregularised control beyond the seed spread
    kNoRegularisation,  ///< no regularised setting beats the control: use l2 = 0
    kNotResolved,       ///< the best leads the control by less than the seed spread, or one seed
    kNoControl,         ///< the sweep has no control: the best of what it tried, and how to ask
  };
  Answer answer = Answer::kNothing;
  static constexpr size_t kNone = static_cast<size_t>(-1);
  /// Indexes into the strengths it was computed from (kNone when absent).
  size_t best = kNone;     ///< the highest mean final validation accuracy
  size_t one_se = kNone;   ///< the one-standard-error alternative, when it is not the best
  size_t control = kNone;  ///< no L2, Dropout or weight decay
  /// The setting the deciding test compares with the best: the control, or the best
  /// regularised setting when the control is the best, or the next best without a control.
  size_t other = kNone;
  /// The setting the headline says to use (kNone when nothing completed), and how the
  /// per-setting tables mark it.
  size_t recommended = kNone;
  std::string mark;
  PairedDifference test;              ///< best against `other`
  std::string headline;               ///< one sentence: what to use, or that it is not resolved
  std::vector<std::string> evidence;  ///< the numbers behind it, one sentence each
  /// Without a control: the sweep's command with l2 = 0 added, to ask whether regularisation
  /// helps at all (empty otherwise).
  std::string command;
};

/// "use_best", "no_regularisation", "not_resolved", "no_control", "nothing": summary.json's
/// recommendation.answer.
const char* answer_name(Recommendation::Answer answer);

/// The recommendation for a sweep's settings (summarize_settings' output, in plan order).
/// `config` is the sweep's, for the command that adds a control when it has none; `classes`
/// sets chance (1 / classes): a best not clearly above it recommends nothing.
Recommendation recommend(const std::vector<SettingSummary>& strengths, const SweepConfig& config,
                         int64_t classes = 10);

/// The block as report.md opens with it ("## Recommendation", the headline in bold, the
/// evidence as a list).
std::string recommendation_markdown(const Recommendation& recommendation);

/// The block as the console ends with it, each line at most about 100 columns.
std::string recommendation_text(const Recommendation& recommendation);

}  // namespace l2sweep
