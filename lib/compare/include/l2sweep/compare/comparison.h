#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "l2sweep/compare/curves.h"
#include "l2sweep/compare/statistics.h"

namespace l2sweep::compare {

/// What compare.md concludes for one strength, one source against the reference.
enum class Verdict {
  kIdentical,   ///< the same seeds, and every metric of every epoch the same bits
  kConsistent,  ///< the difference is within what the seed spread explains (p >= kAlpha)
  kDiffers,     ///< larger than the seed spread explains (p < kAlpha)
  kCannotTell,  ///< one run on each side: no spread to judge the difference against
};

const char* verdict_name(Verdict verdict);

/// One statistic of a group of runs, per run (final value, best value, its epoch).
struct GroupStatistic {
  const char* name;  ///< "final_val_accuracy", "best_val_accuracy", "best_val_accuracy_epoch"
  SeedStats stats;
};

/// One source's runs at one strength.
struct Group {
  size_t source = 0;  ///< index into Comparison::sources
  double l2 = 0;
  std::vector<const RunCurves*> runs;      ///< in seed order
  int64_t min_epochs = 0, max_epochs = 0;  ///< over its runs
  /// Runs left out of the statistics because the verdict metric's final value is not finite.
  std::vector<const RunCurves*> diverged;
  std::vector<GroupStatistic> statistics;  ///< kGroupStatistics' names, in order

  /// The statistic called `name`; a default (n = 0) one when absent.
  const SeedStats& statistic(const std::string& name) const;
};

/// The statistics each group gets, in compare.csv's and compare.md's order: the final value of
/// each kCurveMetrics metric, the best validation accuracy and lowest validation loss with the
/// epochs they came at.
std::vector<std::string> group_statistic_names();

/// "15", or "3 to 15" when a group's runs have different lengths.
std::string epochs_text(const Group& group);

/// A usage Error unless `metric` is one the verdicts can judge (kCurveMetrics).
void check_metric(const std::string& metric);

/// The verdict for one strength: `other` against `reference`.
struct StrengthVerdict {
  double l2 = 0;
  size_t reference = 0, other = 0;  ///< indexes into Comparison::groups
  Verdict verdict = Verdict::kCannotTell;
  std::string method;     ///< "bit for bit", "Welch's t-test", "z-score", "one run each"
  double difference = 0;  ///< other's mean minus reference's, of the verdict statistic
  TestResult test;        ///< when a test ran
  bool tested = false;
  /// Seeds per side that would detect a difference of this size (kPower, kAlpha), and which
  /// spread that assumes; nullopt when there is no difference or no spread to plan with.
  std::optional<int64_t> seeds_needed;
  double planning_std = 0;
  std::string planning_basis;  ///< where planning_std came from
};

/// Every source, every (source, strength) group, and the verdicts.
/// Groups point into `sources`: a Comparison moves, but is never copied.
struct Comparison {
  Comparison() = default;
  Comparison(Comparison&&) = default;
  Comparison& operator=(Comparison&&) = default;
  Comparison(const Comparison&) = delete;
  Comparison& operator=(const Comparison&) = delete;

  std::string metric;           ///< the curve metric the verdicts judge ("val_accuracy")
  std::string statistic;        ///< "final_" + metric
  std::vector<Source> sources;  ///< sources[0] is the reference
  std::vector<Group> groups;    ///< by source, then strength
  std::vector<StrengthVerdict> verdicts;
  std::vector<std::string> notes;  ///< what the reader should know (unpaired strengths, ...)
};

/// Groups the runs, computes the statistics and decides a verdict per strength for every
/// source against the first. A usage Error when a source shares no strength with the first
/// (its labels pair nothing), or has no `metric` in a run (data, naming the file).
Comparison compare_sources(std::vector<Source> sources, const std::string& metric);

}  // namespace l2sweep::compare
