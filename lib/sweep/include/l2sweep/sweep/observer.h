#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "l2sweep/data/data.h"
#include "l2sweep/sweep/plan.h"
#include "l2sweep/train/run_result.h"

namespace l2sweep {

/// What a sweep is, besides its runs: enough to reproduce it, as summary.json and report.md
/// record it.
struct SweepInfo {
  SweepConfig config;  ///< out_dir is the folder actually written
  std::string device;  ///< "cpu", "cuda:0", or "mixed" when merged shards trained on several
  std::string engine;  ///< the planned engine's description (runs record what actually ran)
  int64_t jobs = 1;
  int64_t unit_threads = 1;  ///< the threads each unit's step spreads over (Plan::unit_threads)
  /// How the runs share the cores, in words for the console ("2 cohorts at a time", "1 cohort
  /// at a time on 2 threads", "3 at a time").
  std::string pace;
  /// The runs this process trains or restores (a shard's share); 0 when unknown.
  int64_t runs = 0;
  std::string command_line;  ///< the process that started the sweep
  std::string started_at;    ///< when that process started it
  /// Every process that trained the sweep, the first and each --resume, in order.
  std::vector<std::string> command_lines;
  /// Training seconds of the earlier processes (sweep_seconds of the summary they left).
  double earlier_seconds = 0;
  DatasetInfo data;
};

/// SweepInfo for `plan` on data described by `data`; the caller adds the command line and
/// the start time.
SweepInfo describe_sweep(const Plan& plan, const DatasetInfo& data);

/// How a sweep ended.
struct SweepOutcome {
  std::vector<RunResult> runs;  ///< the runs that started, in plan order
  /// Wall time of training every run of this process (data already on the device), runs
  /// overlapping with --jobs > 1.
  double seconds = 0;
  /// A stop was requested: some runs are unfinished but checkpointed.
  bool interrupted = false;
};

/// Hooks through which the console and the output files follow a sweep (after Keras'
/// callbacks: the sweep's begin and end, each run's, each epoch's, and progress within an
/// epoch). The runner calls them one at a time, never concurrently.
class SweepObserver {
 public:
  virtual ~SweepObserver() = default;
  virtual void on_sweep_begin(const SweepInfo& /*sweep*/) {}
  virtual void on_run_start(const RunSpec& /*run*/, int64_t /*epochs*/) {}
  /// Progress inside an epoch of `cohort`: `step` of its `steps` Adam steps are done.
  virtual void on_batch_end(const Cohort& /*cohort*/, int64_t /*epoch*/, int64_t /*step*/,
                            int64_t /*steps*/) {}
  virtual void on_epoch_end(const RunSpec& /*run*/, const EpochMetrics& /*metrics*/) {}
  /// An epoch of a resumed run, replayed from its checkpoint; by default like on_epoch_end.
  virtual void on_epoch_restored(const RunSpec& run, const EpochMetrics& metrics) {
    on_epoch_end(run, metrics);
  }
  virtual void on_run_end(const RunResult& /*result*/) {}
  virtual void on_sweep_end(const SweepOutcome& /*outcome*/) {}
};

/// Forwards every hook to several observers, in order.
class ObserverList : public SweepObserver {
 public:
  explicit ObserverList(std::vector<SweepObserver*> observers) : observers_(std::move(observers)) {}
  void on_sweep_begin(const SweepInfo& sweep) override;
  void on_run_start(const RunSpec& run, int64_t epochs) override;
  void on_batch_end(const Cohort& cohort, int64_t epoch, int64_t step, int64_t steps) override;
  void on_epoch_end(const RunSpec& run, const EpochMetrics& metrics) override;
  void on_epoch_restored(const RunSpec& run, const EpochMetrics& metrics) override;
  void on_run_end(const RunResult& result) override;
  void on_sweep_end(const SweepOutcome& outcome) override;

 private:
  std::vector<SweepObserver*> observers_;
};

}  // namespace l2sweep
