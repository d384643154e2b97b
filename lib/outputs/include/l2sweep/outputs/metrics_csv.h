#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "l2sweep/base/files.h"
#include "l2sweep/sweep/observer.h"

namespace l2sweep {

/// metrics.csv's header: the run's settings (l2, seed), then `epoch` and every metric of
/// kEpochMetricFields.
std::string metrics_csv_header();

/// One metrics.csv row (with its newline) for an epoch of a run.
std::string metrics_csv_row(const RunSpec& run, const EpochMetrics& metrics);

/// The whole metrics.csv of `runs`: the header, then every epoch of every run in the order one
/// job training `units` (training_order) writes them: unit by unit, and within a unit epoch
/// by epoch, its runs in order.
std::string metrics_csv_text(const std::vector<RunResult>& runs, const std::vector<Cohort>& units);

/// metrics.csv: one row per run and epoch, appended and flushed as each epoch ends, so the
/// file always holds exactly the epochs that completed.
class MetricsCsvWriter : public SweepObserver {
 public:
  /// A new metrics.csv with its header.
  explicit MetricsCsvWriter(std::filesystem::path path);

  /// Rewrites `path` atomically with the header and the epochs of `restored` (the runs'
  /// progress read from their checkpoints, for --resume) in the order of `units`, then
  /// appends to it; restored epochs replayed to the observer are not written again. At the
  /// sweep's end it is rewritten once more in the order of `units` (metrics_csv_text).
  MetricsCsvWriter(std::filesystem::path path, const std::vector<RunResult>& restored,
                   const std::vector<Cohort>& units);

  void on_epoch_end(const RunSpec& run, const EpochMetrics& metrics) override;
  void on_epoch_restored(const RunSpec& /*run*/, const EpochMetrics& /*metrics*/) override {}
  /// Closes metrics.csv, an output Error when its last writes fail there (before summary.json,
  /// later in the sweep's observers, calls the sweep finished).
  void on_sweep_end(const SweepOutcome& outcome) override;

 private:
  AppendOnlyFile file_;
  std::optional<std::vector<Cohort>> resumed_units_;  ///< a resume's units, in training order
  std::vector<RunResult> restored_;  ///< what the checkpoints held when the resume began
};

}  // namespace l2sweep
