#include "l2sweep/sweep.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <fmt/format.h>
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <thread>

#include "l2sweep/checkpoint.h"
#include "l2sweep/cuda_graph.h"
#include "l2sweep/model.h"
#include "l2sweep/train.h"

namespace l2sweep {
namespace {

using Clock = std::chrono::steady_clock;

/// Keep freed blocks up to this size in the heap instead of returning them to the kernel:
/// every step frees and reallocates W1-sized (400 KB) temporaries, and glibc's default of
/// mmap/munmap for them costs page faults on every step (about 2x on a whole step here).
constexpr int kKeepFreedBlocksBytes = 256 << 20;

/// Settings of the calling thread that training relies on.
void tune_this_thread() {
  // As L2 shrinks the weights, gradients and Adam's moments reach denormal floats, which
  // x86 CPUs process tens of times slower; flushing them to zero changes no reported digit.
  at::globalContext().setFlushDenormal(true);
}

/// One thread per run: LibTorch's intra-op pool and OpenBLAS' own pool both fight over the
/// cores when runs go side by side, and the thread count must not change the results.
void use_one_cpu_thread_per_run() {
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

/// The runs that started (a stop request leaves later ones untouched), in plan order.
std::vector<RunResult> started(std::vector<RunResult> results) {
  results.erase(std::remove_if(results.begin(), results.end(),
                               [](const RunResult& r) { return r.spec.count == 0; }),
                results.end());
  return results;
}

/// Forwards hooks from concurrent runs one at a time.
class SerializedObserver : public SweepObserver {
 public:
  explicit SerializedObserver(SweepObserver& inner) : inner_(inner) {}
  void on_run_start(const RunSpec& run, int64_t epochs) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    inner_.on_run_start(run, epochs);
  }
  void on_batch_end(const RunSpec& run, int64_t epoch, int64_t batch, int64_t batches) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    inner_.on_batch_end(run, epoch, batch, batches);
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

 private:
  SweepObserver& inner_;
  std::mutex mutex_;
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

namespace {
std::atomic<bool> stop_flag{false};
static_assert(std::atomic<bool>::is_always_lock_free, "request_stop() runs in a signal handler");
}  // namespace

void request_stop() { stop_flag.store(true); }

bool stop_requested() { return stop_flag.load(std::memory_order_relaxed); }

const char* to_string(RunStatus status) {
  switch (status) {
    case RunStatus::kCompleted:
      return "completed";
    case RunStatus::kDiverged:
      return "diverged";
    case RunStatus::kInterrupted:
      return "interrupted";
  }
  return "unknown";
}

const EpochMetrics* RunResult::best_epoch() const {
  const EpochMetrics* best = nullptr;
  for (const auto& metrics : history) {
    if (best == nullptr || metrics.val_accuracy > best->val_accuracy) {
      best = &metrics;
    }
  }
  return best;
}

void ObserverList::on_run_start(const RunSpec& run, int64_t epochs) {
  for (auto* observer : observers_) observer->on_run_start(run, epochs);
}

void ObserverList::on_batch_end(const RunSpec& run, int64_t epoch, int64_t batch, int64_t batches) {
  for (auto* observer : observers_) observer->on_batch_end(run, epoch, batch, batches);
}

void ObserverList::on_epoch_end(const RunSpec& run, const EpochMetrics& metrics) {
  for (auto* observer : observers_) observer->on_epoch_end(run, metrics);
}

void ObserverList::on_epoch_restored(const RunSpec& run, const EpochMetrics& metrics) {
  for (auto* observer : observers_) observer->on_epoch_restored(run, metrics);
}

void ObserverList::on_run_end(const RunResult& result) {
  for (auto* observer : observers_) observer->on_run_end(result);
}

std::string run_name(const RunSpec& run) { return fmt::format("l2-{}_seed-{}", run.l2, run.seed); }

std::vector<RunSpec> plan_runs(const SweepConfig& config) {
  std::vector<RunSpec> runs;
  const auto count = static_cast<int64_t>(config.l2_strengths.size()) * config.seeds;
  for (const double l2 : config.l2_strengths) {
    for (int64_t offset = 0; offset < config.seeds; ++offset) {
      const auto index = static_cast<int64_t>(runs.size());
      runs.push_back({l2, config.seed + static_cast<uint64_t>(offset), index, count});
    }
  }
  return runs;
}

RunResult train_run(const RunSpec& run, const SweepConfig& config, const Datasets& data,
                    const torch::Device& device, SweepObserver& observer,
                    const CheckpointStore* store) {
  // On a GPU, each run's work goes to its own stream so that concurrent runs overlap.
  const RunStream stream(device);
  RunResult result;
  result.spec = run;
  result.device = device.str();
  observer.on_run_start(run, config.epochs);

  // Every strength starts from the same weights and sees the same batch order for a given
  // seed, so differences between runs come from the penalty alone.
  at::Generator init_generator = make_cpu_generator(run.seed);
  torch::nn::Sequential model =
      make_model(data.input_features(), kHiddenUnits, data.num_classes, init_generator);
  model->to(device);
  TrainOptions options;
  options.l2 = run.l2;
  options.learning_rate = config.learning_rate;
  options.batch_size = config.batch_size;
  options.shuffle_seed = run.seed;
  const EngineChoice engine = resolve_engine(config, device);
  options.engine = engine.engine;
  options.cuda_graph = engine.cuda_graph;
  Trainer trainer(model, options, device);

  if (store != nullptr) {
    if (std::optional<RunResult> saved = store->load(run, trainer)) {
      result = std::move(*saved);
      for (const EpochMetrics& metrics : result.history) observer.on_epoch_restored(run, metrics);
      if (result.status != RunStatus::kInterrupted) {
        observer.on_run_end(result);
        return result;
      }
      result.status = RunStatus::kCompleted;
    }
  }

  const auto run_start = Clock::now() - std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(result.train_seconds));
  try {
    for (auto epoch = static_cast<int64_t>(result.history.size()) + 1; epoch <= config.epochs;
         ++epoch) {
      const auto epoch_start = Clock::now();
      const TrainMetrics train =
          trainer.train_epoch(data.train, [&](int64_t batch, int64_t batches) {
            observer.on_batch_end(run, epoch, batch, batches);
          });
      const EvalMetrics val = trainer.evaluate(data.val);

      EpochMetrics metrics;
      metrics.epoch = epoch;
      metrics.loss = train.loss;
      metrics.accuracy = train.accuracy;
      metrics.data_loss = train.data_loss;
      metrics.val_loss = val.loss;
      metrics.val_accuracy = val.accuracy;
      metrics.val_data_loss = val.data_loss;
      metrics.penalty = val.penalty;
      metrics.w1_norm = trainer.w1_norm();
      metrics.epoch_seconds = seconds_since(epoch_start);
      result.history.push_back(metrics);
      if (!metrics.finite()) result.status = RunStatus::kDiverged;
      result.train_seconds = seconds_since(run_start);
      const bool last = epoch == config.epochs || result.status == RunStatus::kDiverged;
      if (last && result.status == RunStatus::kCompleted) {
        result.test = trainer.evaluate(data.test);
      }
      // The checkpoint first: the output files can always be rebuilt from it.
      if (store != nullptr) {
        RunResult progress = result;
        if (!last) progress.status = RunStatus::kInterrupted;
        store->save(run, progress, trainer);
      }
      observer.on_epoch_end(run, metrics);
      if (last) break;
    }
  } catch (const StopRequested&) {
    result.status = RunStatus::kInterrupted;  // the partial epoch is dropped
  }
  observer.on_run_end(result);
  return result;
}

int64_t effective_jobs(const SweepConfig& config, const torch::Device& device, size_t runs) {
  int64_t jobs = config.jobs;
  const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
  if (jobs == 0) {
    // On a GPU the device engine's runs each keep one core busy launching; one run cannot
    // fill the GPU, so they all go at once (up to a core each). The autograd loop stays 1.
    const bool device_engine = resolve_engine(config, device).engine == StepEngine::kDevice;
    jobs = device.is_cpu() || device_engine ? cores : 1;
  }
  return std::max<int64_t>(1, std::min<int64_t>(jobs, static_cast<int64_t>(runs)));
}

std::vector<RunResult> run_sweep(const SweepConfig& config, const Datasets& data,
                                 const torch::Device& device, SweepObserver& observer,
                                 const CheckpointStore* store) {
  std::vector<RunSpec> runs = plan_runs(config);
  if (config.shard) {
    runs.erase(std::remove_if(runs.begin(), runs.end(),
                              [&](const RunSpec& run) {
                                return run.index % config.shard->count != config.shard->index;
                              }),
               runs.end());
  }
  const int64_t jobs = effective_jobs(config, device, runs.size());
  if (device.is_cpu()) use_one_cpu_thread_per_run();
  std::vector<RunResult> results(runs.size());
  if (jobs == 1) {
    tune_this_thread();
    for (size_t i = 0; i < runs.size(); ++i) {
      if (stop_requested()) break;
      results[i] = train_run(runs[i], config, data, device, observer, store);
    }
    return started(std::move(results));
  }

  SerializedObserver serialized(observer);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  std::vector<std::thread> workers;
  for (int64_t w = 0; w < jobs; ++w) {
    workers.emplace_back([&] {
      tune_this_thread();
      for (size_t i = next++; i < runs.size() && !failed && !stop_requested(); i = next++) {
        try {
          results[i] = train_run(runs[i], config, data, device, serialized, store);
        } catch (...) {
          const std::lock_guard<std::mutex> lock(error_mutex);
          if (!error) error = std::current_exception();
          failed = true;
          request_stop();  // the other runs stop at their next batch, not their last epoch
        }
      }
    });
  }
  for (auto& worker : workers) worker.join();
  if (error) std::rethrow_exception(error);
  return started(std::move(results));
}

}  // namespace l2sweep
