#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "l2sweep/compare/curves.h"
#include "l2sweep/compare/setup.h"
#include "l2sweep/stats/statistics.h"

namespace l2sweep::compare {

/// What compare.md concludes for one strength, one source against the reference.
enum class Verdict {
  kIdentical,   ///< the same seeds, and every metric of every epoch the same bits
  kConsistent,  ///< the difference is within what the seed spread explains (p >= kSignificance)
  kDiffers,     ///< larger than the seed spread explains (p < kSignificance)
  kCannotTell,  ///< one run on each side: no spread to judge the difference against
  /// The sources trained with different data or optimiser settings (setup.h's blocking keys):
  /// no test is run unless --ignore names each such setting.
  kNotComparable,
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
  double dropout = 0, weight_decay = 0;    ///< with l2, the setting its runs share
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
  double dropout = 0, weight_decay = 0;
  size_t reference = 0, other = 0;  ///< indexes into Comparison::groups
  Verdict verdict = Verdict::kCannotTell;
  std::string method;     ///< "bit for bit", "Welch's t-test", "z-score", "one run each"
  double difference = 0;  ///< other's mean minus reference's, of the verdict statistic
  TestResult test;        ///< when a test ran
  bool tested = false;
  /// Seeds per side that would detect a difference of this size (kPower, kSignificance), and which
  /// spread that assumes; nullopt when there is no difference or no spread to plan with.
  std::optional<int64_t> seeds_needed;
  double planning_std = 0;
  std::string planning_basis;  ///< where planning_std came from
  /// The epoch the final values are taken at: the last both sources trained when their
  /// epochs differ (0: each run's own last epoch).
  int64_t at_epoch = 0;
  /// The judged statistic of each side at that epoch (their final one when at_epoch is 0):
  /// the numbers the difference and the test are computed from.
  SeedStats reference_stats, other_stats;
  /// What qualifies the verdict, for its line: "at epoch 3, the last both trained (keras: 15)",
  /// "forced: train_size 5000 vs 50000 ignored", or for kNotComparable the settings that
  /// differ ("train_size 5000 vs 50000 (assumed)").
  std::vector<std::string> conditions;
};

/// One row of the setups table: a setting's value in every source.
struct SetupRow {
  std::string key;
  std::vector<SettingValue> values;  ///< by source
  bool differs = false;              ///< two sources that state it differ
  bool blocks = false;               ///< SetupKey::blocks
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
  std::vector<std::string> notes;    ///< what the reader should know (unpaired strengths, ...)
  std::vector<SetupRow> setups;      ///< every setting of every source, in kSetupKeys order
  std::vector<std::string> ignored;  ///< --ignore: blocking settings tested anyway
  /// Per source (index 0, the reference, empty): its blocking settings that differ from the
  /// reference's ("train_size 5000 vs 50000"), and those of them --ignore forced.
  std::vector<std::vector<std::string>> blocking, forced;
  /// Keras sources' settings assumed from the seed experiment, per source ("" for none).
  std::vector<std::string> assumptions;
};

/// Whether two groups hold the same setting: l2 (as compare pairs strengths), Dropout and
/// weight decay.
bool same_setting(const Group& a, const Group& b);

/// "train_size 5000 (b) vs 50000 (a)": the other source's value first, each with its
/// source, and ", assumed" for an assumed value.
std::string difference_text(const std::string& key, const SettingValue& reference,
                            const std::string& reference_name, const SettingValue& other,
                            const std::string& other_name);

/// Groups the runs, computes the statistics and decides a verdict per strength for every
/// source against the first. A usage Error when a source shares no strength with the first
/// (its labels pair nothing), or has no `metric` in a run (data, naming the file).
/// Sources whose blocking settings differ from the reference's get kNotComparable verdicts,
/// unless `ignore` names every such setting (the verdicts then say they were forced); sources
/// that trained different epochs are compared at the last epoch both trained.
Comparison compare_sources(std::vector<Source> sources, const std::string& metric,
                           const std::vector<std::string>& ignore = {});

}  // namespace l2sweep::compare
