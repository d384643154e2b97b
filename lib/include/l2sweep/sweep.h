#pragma once

#include <torch/types.h>

#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "l2sweep/config.h"
#include "l2sweep/data.h"
#include "l2sweep/metrics.h"

namespace l2sweep {

/// Which run of the sweep this is.
struct RunSpec {
  double l2 = 0;
  uint64_t seed = 0;
  int64_t index = 0;  ///< 0-based position in the sweep
  int64_t count = 0;  ///< runs in the sweep (0 in a RunResult whose run never started)
};

enum class RunStatus {
  kCompleted,    ///< trained every epoch and evaluated on the test set
  kDiverged,     ///< a loss or W1 became non-finite; training stopped after that epoch
  kInterrupted,  ///< stopped by a signal; its completed epochs are checkpointed
};

/// Asks every training loop to stop at its next batch boundary (async-signal-safe).
void request_stop();
/// Whether request_stop() was called.
bool stop_requested();

/// Thrown by a training loop at a batch boundary after request_stop().
class StopRequested : public std::exception {
 public:
  const char* what() const noexcept override { return "stop requested"; }
};

class CheckpointStore;

/// "completed", "diverged" or "interrupted", as written to summary.json.
const char* to_string(RunStatus status);

/// Everything one run produced.
struct RunResult {
  RunSpec spec;
  RunStatus status = RunStatus::kCompleted;
  std::vector<EpochMetrics> history;  ///< one entry per completed epoch, in order
  std::optional<EvalMetrics> test;    ///< after the last epoch; absent if the run diverged
  double train_seconds = 0;
  std::string device;  ///< where it trained, e.g. "cpu" or "cuda:0"

  /// The epoch with the highest val_accuracy (the first one on ties); null when no epoch ran.
  const EpochMetrics* best_epoch() const;
};

/// Hooks through which the console and the output files follow a sweep as it runs.
class SweepObserver {
 public:
  virtual ~SweepObserver() = default;
  virtual void on_run_start(const RunSpec& /*run*/, int64_t /*epochs*/) {}
  virtual void on_batch_end(const RunSpec& /*run*/, int64_t /*epoch*/, int64_t /*batch*/,
                            int64_t /*batches*/) {}
  virtual void on_epoch_end(const RunSpec& /*run*/, const EpochMetrics& /*metrics*/) {}
  /// An epoch of a resumed run, replayed from its checkpoint; by default like on_epoch_end.
  virtual void on_epoch_restored(const RunSpec& run, const EpochMetrics& metrics) {
    on_epoch_end(run, metrics);
  }
  virtual void on_run_end(const RunResult& /*result*/) {}
};

/// Forwards every hook to several observers, in order.
class ObserverList : public SweepObserver {
 public:
  explicit ObserverList(std::vector<SweepObserver*> observers) : observers_(std::move(observers)) {}
  void on_run_start(const RunSpec& run, int64_t epochs) override;
  void on_batch_end(const RunSpec& run, int64_t epoch, int64_t batch, int64_t batches) override;
  void on_epoch_end(const RunSpec& run, const EpochMetrics& metrics) override;
  void on_epoch_restored(const RunSpec& run, const EpochMetrics& metrics) override;
  void on_run_end(const RunResult& result) override;

 private:
  std::vector<SweepObserver*> observers_;
};

/// The folder and file stem of a run's own outputs, e.g. "l2-0.001_seed-0".
std::string run_name(const RunSpec& run);

/// The runs a configuration asks for, in the order they are trained: every seed of the
/// first strength, then every seed of the next.
std::vector<RunSpec> plan_runs(const SweepConfig& config);

/// Trains and evaluates one model: Keras init from the run's seed, `config.epochs` epochs of
/// Adam on the regularised loss, validation after every epoch, the test set once at the end.
/// `data` must already be on `device`.
/// With a `store`, the run resumes from its checkpoint when there is one (a finished run is
/// replayed to the observer, not trained again) and is checkpointed after every epoch.
RunResult train_run(const RunSpec& run, const SweepConfig& config, const Datasets& data,
                    const torch::Device& device, SweepObserver& observer,
                    const CheckpointStore* store = nullptr);

/// How many runs to train at once: config.jobs, or when it is 0 one per CPU core, except 1
/// for the autograd loop on a GPU; never more than there are runs.
int64_t effective_jobs(const SweepConfig& config, const torch::Device& device, size_t runs);

/// Trains every run of the sweep, `effective_jobs` at a time. On the CPU each run uses one
/// thread (LibTorch and OpenBLAS alike), so results are the same whatever the job count.
/// Observers are called under one lock, never concurrently; results come back in plan order.
/// A diverged run does not stop the rest; an exception in any run stops the sweep and is
/// rethrown once the runs in flight have finished.
/// After request_stop(), runs in flight end as kInterrupted and runs not yet started are left
/// out of the result.
std::vector<RunResult> run_sweep(const SweepConfig& config, const Datasets& data,
                                 const torch::Device& device, SweepObserver& observer,
                                 const CheckpointStore* store = nullptr);

}  // namespace l2sweep
