#include "l2sweep/sweep/runner.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "l2sweep/base/clock.h"
#include "l2sweep/train/engines/cuda_graph.h"
#include "l2sweep/train/trainer.h"

namespace l2sweep {
namespace {

/// Keep freed blocks up to this size in the heap instead of returning them to the kernel:
/// every step frees and reallocates W1-sized (400 KB) temporaries, and glibc's default of
/// mmap/munmap for them costs page faults on every step (about 2x on a whole step here).
constexpr int kKeepFreedBlocksBytes = 256 << 20;

/// Settings of the calling thread that training relies on.
void tune_this_thread() {
  // As L2 shrinks the weights, gradients and Adam's moments reach denormal floats, which
  // x86 CPUs process tens of times slower; flushing them to zero (as TensorFlow does on the CPU)
  // changes no reported digit but w1_zero, which counts the weights flushed so.
  at::globalContext().setFlushDenormal(true);
}

/// One thread per unit of work: LibTorch's intra-op pool and OpenBLAS' own pool both fight
/// over the cores when units go side by side, and the thread count must not change the results.
void use_one_cpu_thread_per_unit() {
  at::set_num_threads(1);
  // OpenBLAS (Debian's libopenblas0-pthread) spins its own threads regardless of LibTorch's
  // setting; the symbol is absent with other BLAS libraries.
  using SetThreads = void (*)(int);
  if (auto* set = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    set(1);
  }
  ::mallopt(M_MMAP_THRESHOLD, kKeepFreedBlocksBytes);
  ::mallopt(M_TRIM_THRESHOLD, 2 * kKeepFreedBlocksBytes);
}

/// Calls `work(k)` for every k in [0, count), on up to `threads` threads (this one among them;
/// fewer where no more can be started); once every call has returned, rethrows the exception of
/// the lowest k that threw.
void for_each_concurrently(size_t count, size_t threads, const std::function<void(size_t)>& work) {
  std::vector<std::exception_ptr> failures(count);
  std::atomic<size_t> next{0};
  const auto serve = [&] {
    for (size_t k = next.fetch_add(1); k < count; k = next.fetch_add(1)) {
      try {
        work(k);
      } catch (...) {
        failures[k] = std::current_exception();
      }
    }
  };
  std::vector<std::thread> helpers;
  try {
    helpers.reserve(std::min(count, threads));
    for (size_t t = 1; t < std::min(count, threads); ++t) helpers.emplace_back(serve);
  } catch (...) {
    // No more threads to be had: this one and those started take every k.
  }
  serve();
  for (std::thread& helper : helpers) helper.join();
  for (const std::exception_ptr& failure : failures) {
    if (failure) std::rethrow_exception(failure);
  }
}

/// Forwards hooks from concurrent units one at a time.
class SerializedObserver : public SweepObserver {
 public:
  explicit SerializedObserver(SweepObserver& inner) : inner_(inner) {}
  void on_sweep_begin(const SweepInfo& sweep) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    inner_.on_sweep_begin(sweep);
  }
  void on_run_start(const RunSpec& run, int64_t epochs) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    inner_.on_run_start(run, epochs);
  }
  void on_batch_end(const Cohort& cohort, int64_t epoch, int64_t step, int64_t steps) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    inner_.on_batch_end(cohort, epoch, step, steps);
  }
  void on_epoch_end(const RunSpec& run, const EpochMetrics& metrics) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    inner_.on_epoch_end(run, metrics);
  }
  void on_epoch_restored(const RunSpec& run, const EpochMetrics& metrics) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    inner_.on_epoch_restored(run, metrics);
  }
  void on_run_end(const RunResult& result) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    inner_.on_run_end(result);
  }
  void on_sweep_end(const SweepOutcome& outcome) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    inner_.on_sweep_end(outcome);
  }

 private:
  SweepObserver& inner_;
  std::mutex mutex_;
};

SteadyClock::time_point started_seconds_ago(double seconds) {
  return SteadyClock::now() -
         std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(seconds));
}

/// Members of one cohort that continue from the same epoch, and so share a data order.
class Group {
 public:
  Group(const Cohort& cohort, std::vector<size_t> indices, const Plan& plan, const Datasets& data,
        SweepObserver& observer, const RunnerOptions& options, std::vector<RunResult>& results)
      : indices_(std::move(indices)),
        plan_(plan),
        data_(data),
        observer_(observer),
        options_(options),
        results_(results),
        trainer_(make_members(cohort, plan, data), train_options(plan, cohort.seed), plan.device) {
    cohort_.seed = cohort.seed;
    for (const size_t i : indices_) cohort_.runs.push_back(results_[i].spec);
  }

  /// Restores every member from its checkpoint, then trains the remaining epochs.
  void run() {
    restore();
    active_.assign(indices_.size(), true);
    try {
      const auto first = static_cast<int64_t>(results_[indices_.front()].history.size()) + 1;
      for (int64_t epoch = first; epoch <= plan_.config.epochs && any_active(); ++epoch) {
        train_epoch(epoch);
      }
    } catch (const StopRequested&) {
      for (size_t k = 0; k < indices_.size(); ++k) {
        if (!active_[k]) continue;
        RunResult& result = results_[indices_[k]];
        result.status = RunStatus::kInterrupted;  // the partial epoch is dropped
        observer_.on_run_end(result);
      }
    }
  }

 private:
  bool any_active() const {
    return std::find(active_.begin(), active_.end(), true) != active_.end();
  }

  void restore() {
    starts_.clear();
    for (size_t k = 0; k < indices_.size(); ++k) {
      RunResult& result = results_[indices_[k]];
      if (options_.checkpoints != nullptr) {
        if (std::optional<RunResult> saved = options_.checkpoints->load(result.spec, trainer_, k)) {
          result = std::move(*saved);
          result.status = RunStatus::kCompleted;
          for (const EpochMetrics& m : result.history) observer_.on_epoch_restored(result.spec, m);
        }
      }
      starts_.push_back(started_seconds_ago(result.train_seconds));
    }
  }

  void train_epoch(int64_t epoch) {
    const auto epoch_start = SteadyClock::now();
    EpochControl control;
    control.active = active_;
    control.stop = options_.stop;
    control.epoch = epoch;  // the run's history decides the epoch, and so its Dropout masks
    control.on_batch = [&](int64_t step, int64_t steps) {
      observer_.on_batch_end(cohort_, epoch, step, steps);
    };
    const std::vector<TrainMetrics> train = trainer_.train_epoch(data_.train, control);
    const std::vector<EvalMetrics> val = trainer_.evaluate(data_.val, active_);
    const double seconds = seconds_since(epoch_start);

    std::vector<EpochMetrics> epoch_metrics(indices_.size());
    std::vector<bool> finished(indices_.size(), false);
    for (size_t k = 0; k < indices_.size(); ++k) {
      if (!active_[k]) continue;
      EpochMeasurements measured;
      measured.train = train[k];
      measured.val = val[k];
      measured.weights = trainer_.weight_statistics(k);
      measured.seconds = seconds;
      const EpochMetrics& m = epoch_metrics[k] = epoch_record(epoch, measured);
      RunResult& result = results_[indices_[k]];
      result.history.push_back(m);
      if (!m.finite() || !trainer_.finite(k)) result.status = RunStatus::kDiverged;
      result.train_seconds = seconds_since(starts_[k]);
      result.engine = trainer_.engine().description();
      finished[k] = epoch == plan_.config.epochs || result.status == RunStatus::kDiverged;
    }
    if (plan_.config.score_test) test_finished(finished);
    // The checkpoints first: the output files can always be rebuilt from them. On the CPU
    // each is serialised and made durable on a thread of its own (the cores are idle between
    // epochs); a GPU engine's state is read on the stream this thread set, so one at a time.
    if (options_.checkpoints != nullptr) {
      const size_t threads =
          plan_.device.is_cpu() ? std::max<size_t>(1, std::thread::hardware_concurrency()) : 1;
      for_each_concurrently(indices_.size(), threads, [&](size_t k) {
        if (!active_[k]) return;
        RunResult progress = results_[indices_[k]];
        if (!finished[k]) progress.status = RunStatus::kInterrupted;
        options_.checkpoints->save(progress.spec, progress, trainer_, k);
      });
    }
    for (size_t k = 0; k < indices_.size(); ++k) {
      if (!active_[k]) continue;
      RunResult& result = results_[indices_[k]];
      observer_.on_epoch_end(result.spec, epoch_metrics[k]);
      if (finished[k]) {
        active_[k] = false;
        observer_.on_run_end(result);
      }
    }
  }

  /// The test set, once, for the members that completed their last epoch.
  void test_finished(const std::vector<bool>& finished) {
    std::vector<bool> completed(indices_.size(), false);
    for (size_t k = 0; k < indices_.size(); ++k) {
      completed[k] = finished[k] && results_[indices_[k]].status == RunStatus::kCompleted;
    }
    if (std::find(completed.begin(), completed.end(), true) == completed.end()) return;
    const std::vector<EvalMetrics> test = trainer_.evaluate(data_.test, completed);
    for (size_t k = 0; k < indices_.size(); ++k) {
      if (completed[k]) results_[indices_[k]].test = test[k];
    }
  }

  std::vector<size_t> indices_;  ///< the group's members, as indices into the cohort
  const Plan& plan_;
  const Datasets& data_;
  SweepObserver& observer_;
  const RunnerOptions& options_;
  std::vector<RunResult>& results_;
  Cohort cohort_;
  Trainer trainer_;
  std::vector<bool> active_;
  std::vector<SteadyClock::time_point> starts_;
};

}  // namespace

void prepare_cpu_training() {
  use_one_cpu_thread_per_unit();
  tune_this_thread();
}

std::vector<RunResult> train_cohort(const Cohort& cohort, const Plan& plan, const Datasets& data,
                                    SweepObserver& observer, const RunnerOptions& options) {
  std::vector<RunResult> results(cohort.runs.size());
  // Unfinished members by the epoch their checkpoint reached; finished ones are replayed.
  std::map<size_t, std::vector<size_t>> groups;
  for (size_t i = 0; i < cohort.runs.size(); ++i) {
    RunResult& result = results[i];
    result.spec = cohort.runs[i];
    result.device = plan.device.str();
    observer.on_run_start(result.spec, plan.config.epochs);
    std::optional<RunResult> saved;
    if (options.checkpoints != nullptr) saved = options.checkpoints->progress(result.spec);
    if (saved && saved->status != RunStatus::kInterrupted) {
      result = std::move(*saved);
      for (const EpochMetrics& m : result.history) observer.on_epoch_restored(result.spec, m);
      observer.on_run_end(result);
      continue;
    }
    groups[saved ? saved->history.size() : 0].push_back(i);
  }
  for (auto& [epochs_done, indices] : groups) {
    if (options.stop.stop_requested()) {
      // Not started in this process: each keeps what its checkpoint holds.
      for (const size_t i : indices) {
        if (options.checkpoints != nullptr) {
          if (auto saved = options.checkpoints->progress(results[i].spec)) results[i] = *saved;
        }
        results[i].status = RunStatus::kInterrupted;
        observer.on_run_end(results[i]);
      }
      continue;
    }
    Cohort members{cohort.seed, {}};
    for (const size_t i : indices) members.runs.push_back(cohort.runs[i]);
    Group(members, std::move(indices), plan, data, observer, options, results).run();
  }
  return results;
}

namespace {

/// Trains `plan.units` on plan.jobs threads, each taking the next unit when it is free.
std::vector<std::vector<RunResult>> train_units_side_by_side(const Plan& plan, const Datasets& data,
                                                             SweepObserver& observer,
                                                             const RunnerOptions& options) {
  std::vector<std::vector<RunResult>> units(plan.units.size());
  SerializedObserver serialized(observer);
  StopSource failed;
  RunnerOptions worker_options = options;
  worker_options.stop = options.stop.also(failed);
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  std::vector<std::thread> workers;
  for (int64_t w = 0; w < plan.jobs; ++w) {
    workers.emplace_back([&] {
      tune_this_thread();
      // On a GPU, each worker's work goes to its own stream so that the units overlap.
      const DeviceStream stream(plan.device);
      for (size_t u = next++; u < units.size() && !worker_options.stop.stop_requested();
           u = next++) {
        try {
          units[u] = train_cohort(plan.units[u], plan, data, serialized, worker_options);
        } catch (...) {
          const std::lock_guard<std::mutex> lock(error_mutex);
          if (!error) error = std::current_exception();
          failed.request_stop();  // the other units stop at their next batch
        }
      }
    });
  }
  for (auto& worker : workers) worker.join();
  if (error) std::rethrow_exception(error);
  return units;
}

}  // namespace

SweepOutcome run_sweep(const Plan& plan, const Datasets& data, SweepObserver& observer,
                       const RunnerOptions& options) {
  observer.on_sweep_begin(options.info ? *options.info : describe_sweep(plan, data.info()));
  if (plan.device.is_cpu()) use_one_cpu_thread_per_unit();
  const auto start = SteadyClock::now();
  std::vector<std::vector<RunResult>> units;
  if (plan.jobs == 1) {
    tune_this_thread();
    const DeviceStream stream(plan.device);
    for (const Cohort& cohort : plan.units) {
      if (options.stop.stop_requested()) break;
      units.push_back(train_cohort(cohort, plan, data, observer, options));
    }
  } else {
    units = train_units_side_by_side(plan, data, observer, options);
  }

  SweepOutcome outcome;
  for (auto& unit : units) {
    for (auto& run : unit) outcome.runs.push_back(std::move(run));
  }
  std::sort(outcome.runs.begin(), outcome.runs.end(),
            [](const RunResult& a, const RunResult& b) { return a.spec.index < b.spec.index; });
  outcome.seconds = seconds_since(start);
  outcome.interrupted =
      options.stop.stop_requested() ||
      std::any_of(outcome.runs.begin(), outcome.runs.end(),
                  [](const RunResult& run) { return run.status == RunStatus::kInterrupted; });
  observer.on_sweep_end(outcome);
  return outcome;
}

}  // namespace l2sweep
