#pragma once

#include <optional>
#include <vector>

#include "l2sweep/base/stop_token.h"
#include "l2sweep/data/data.h"
#include "l2sweep/sweep/observer.h"
#include "l2sweep/sweep/plan.h"
#include "l2sweep/train/checkpoint.h"
#include "l2sweep/train/run_result.h"

namespace l2sweep {

/// What a sweep runs with besides its plan and data.
struct RunnerOptions {
  /// With checkpoints, each run resumes from its checkpoint when there is one (a finished run
  /// is replayed to the observer, not trained again) and is checkpointed after every epoch.
  const CheckpointStore* checkpoints = nullptr;
  /// Asks every run to stop at its next batch boundary; their completed epochs are kept.
  StopToken stop;
  /// What on_sweep_begin receives; describe_sweep(plan, data) when empty.
  std::optional<SweepInfo> info;
};

/// What run_sweep sets up on the CPU before training, and what a direct train_cohort call
/// needs to get the same numbers: one LibTorch and OpenBLAS thread (results must not depend
/// on how many units run side by side), glibc keeping freed blocks, and denormals flushed to
/// zero on the calling thread. Call it from the thread that trains.
void prepare_cpu_training();

/// Trains the members of `cohort` together: Keras initialisation from the cohort's seed,
/// plan.config.epochs epochs of Adam on the regularised loss through one engine, validation
/// after every epoch, the test set once at the end. Members restored from checkpoints at
/// different epochs train as separate groups, each sharing its data order. A member that
/// diverges stops; the others go on. `data` must already be on plan.device. Returns the
/// members' results in the cohort's order.
std::vector<RunResult> train_cohort(const Cohort& cohort, const Plan& plan, const Datasets& data,
                                    SweepObserver& observer, const RunnerOptions& options = {});

/// Trains every unit of plan.units, plan.jobs at a time, calling on_sweep_begin first and
/// on_sweep_end last. On the CPU each unit uses one thread (LibTorch and OpenBLAS alike), so
/// results are the same whatever the job count. Observers are called under one lock, never
/// concurrently; results come back in plan order. A diverged run does not stop the rest; an
/// exception in any unit stops the sweep and is rethrown once the units in flight have
/// finished (on_sweep_end is then not called). After a stop request, runs in flight end as
/// kInterrupted and runs not yet started are left out of the outcome.
SweepOutcome run_sweep(const Plan& plan, const Datasets& data, SweepObserver& observer,
                       const RunnerOptions& options = {});

}  // namespace l2sweep
