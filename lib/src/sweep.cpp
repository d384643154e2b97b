#include "l2sweep/sweep.h"

#include <fmt/format.h>

#include <chrono>

#include "l2sweep/model.h"
#include "l2sweep/train.h"

namespace l2sweep {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

const char* to_string(RunStatus status) {
  switch (status) {
    case RunStatus::kCompleted:
      return "completed";
    case RunStatus::kDiverged:
      return "diverged";
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
                    const torch::Device& device, SweepObserver& observer) {
  RunResult result;
  result.spec = run;
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
  Trainer trainer(model, options, device);

  const auto run_start = Clock::now();
  for (int64_t epoch = 1; epoch <= config.epochs; ++epoch) {
    const auto epoch_start = Clock::now();
    const TrainMetrics train = trainer.train_epoch(data.train, [&](int64_t batch, int64_t batches) {
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
    observer.on_epoch_end(run, metrics);
    if (!metrics.finite()) {
      result.status = RunStatus::kDiverged;
      break;
    }
  }
  result.train_seconds = seconds_since(run_start);
  if (result.status == RunStatus::kCompleted) {
    result.test = trainer.evaluate(data.test);
  }
  observer.on_run_end(result);
  return result;
}

std::vector<RunResult> run_sweep(const SweepConfig& config, const Datasets& data,
                                 const torch::Device& device, SweepObserver& observer) {
  std::vector<RunResult> results;
  for (const RunSpec& run : plan_runs(config)) {
    results.push_back(train_run(run, config, data, device, observer));
  }
  return results;
}

}  // namespace l2sweep
