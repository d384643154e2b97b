#include "l2sweep/experiment/experiment.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

#include "l2sweep/base/clock.h"
#include "l2sweep/base/error.h"
#include "l2sweep/base/memory.h"
#include "l2sweep/config/plan.h"
#include "l2sweep/experiment/output_folder.h"
#include "l2sweep/outputs/console.h"
#include "l2sweep/outputs/keras_csv.h"
#include "l2sweep/outputs/metrics_csv.h"
#include "l2sweep/outputs/report.h"
#include "l2sweep/outputs/summary.h"
#include "l2sweep/outputs/tensorboard.h"
#include "l2sweep/sweep/runner.h"
#include "l2sweep/train/checkpoint.h"
#include "l2sweep/train/model.h"

namespace l2sweep {
namespace fs = std::filesystem;

bool ExperimentResult::any_diverged() const {
  return std::any_of(runs.begin(), runs.end(),
                     [](const RunResult& run) { return run.status == RunStatus::kDiverged; });
}

namespace {

/// Weights and buffers each weight of a member needs while it trains: the weight, its
/// gradient, Adam's two moments, and room for the step's temporaries.
constexpr double kBytesPerWeight = 6 * sizeof(float);

std::string gigabytes(double bytes) { return fmt::format("{:.1f} GB", bytes / 1e9); }

/// Refuses, before anything is written, a plan whose models this machine cannot hold: images
/// so large that the first layer of every run trained at once does not fit in memory.
void check_models_fit(const Plan& plan, const DatasetInfo& data) {
  const auto available = available_memory();
  if (!plan.device.is_cpu() || !available) return;
  std::vector<size_t> sizes;
  for (const Cohort& cohort : plan.cohorts) sizes.push_back(cohort.members.size());
  std::sort(sizes.rbegin(), sizes.rend());
  double members = 0;
  for (size_t i = 0; i < sizes.size() && i < static_cast<size_t>(plan.jobs); ++i) {
    members += static_cast<double>(sizes[i]);
  }
  const double features = static_cast<double>(data.input_features());
  const double weights = features * kHiddenUnits + kHiddenUnits +
                         static_cast<double>(kHiddenUnits * data.num_classes + data.num_classes);
  const double needed = members * weights * kBytesPerWeight;
  if (needed <= static_cast<double>(*available)) return;
  throw data_error(
      "{}: images of {}x{} pixels give each run {:.3g} weights; training {} run(s) at once needs "
      "about {} of memory and {} is available; expected images this machine can train on (or "
      "fewer --jobs)",
      data.files.empty() ? plan.config.data_dir : data.files.front(), data.image_shape.at(0),
      data.image_shape.at(1), weights, members, gigabytes(needed),
      gigabytes(static_cast<double>(*available)));
}

/// The progress every run of this process holds in its checkpoint, verified (checksum,
/// settings, engine, history), in plan order; throws before anything is written when one
/// cannot be continued.
std::vector<RunResult> checkpointed_progress(const Plan& plan, const CheckpointStore& checkpoints) {
  std::vector<RunResult> runs;
  for (const RunSpec& run : plan.runs) {
    if (auto saved = checkpoints.progress(run)) {
      saved->spec = run;
      runs.push_back(std::move(*saved));
    }
  }
  return runs;
}

/// The files one process writes. A shard writes only its runs' own files (checkpoints,
/// TensorBoard, Keras CSVs); the shared metrics.csv, summary.json and report.md come from
/// `l2sweep merge`.
class Writers {
 public:
  /// `restored`: the runs' progress in their checkpoints when the folder held a sweep.
  Writers(const Plan& plan, const fs::path& out_dir,
          const std::optional<std::vector<RunResult>>& restored, std::FILE* console)
      : tensorboard_(out_dir / "tensorboard"),
        keras_csv_(out_dir / "tensorboard"),
        console_(console, plan.jobs == 1 && ::isatty(fileno(console)) == 1) {
    if (!plan.config.shard) {
      // On --resume, metrics.csv is rebuilt at once (atomically) from the checkpoints, so it
      // never lists fewer epochs than were completed, even if this process dies right away.
      if (restored) {
        metrics_csv_.emplace(out_dir / "metrics.csv", *restored, training_order(plan));
      } else {
        metrics_csv_.emplace(out_dir / "metrics.csv");
      }
      summary_.emplace(out_dir / "summary.json");
      report_.emplace(out_dir / "report.md");
    }
  }

  /// Every writer, files first and the console last, so nothing is announced before it is
  /// written.
  ObserverList observers() {
    std::vector<SweepObserver*> list{&tensorboard_, &keras_csv_};
    if (metrics_csv_) list.push_back(&*metrics_csv_);
    if (summary_) list.push_back(&*summary_);
    if (report_) list.push_back(&*report_);
    list.push_back(&console_);
    return ObserverList(list);
  }

 private:
  TensorBoardWriter tensorboard_;
  KerasCsvLogger keras_csv_;
  std::optional<MetricsCsvWriter> metrics_csv_;
  std::optional<SummaryJsonWriter> summary_;
  std::optional<ReportWriter> report_;
  ConsoleReporter console_;
};

}  // namespace

ExperimentResult run_experiment(const SweepConfig& config, const std::string& command_line,
                                std::FILE* console, StopToken stop) {
  // Everything that can refuse comes before the first byte is written: the options, the
  // data, whether the models fit, the folder (its state, other writers, sweep.cfg) and every
  // checkpoint this process would continue.
  Plan plan = resolve_plan(config);
  const Datasets host_data = load_datasets({config.data_dir, config.val_size, config.train_size});
  plan.config.data_fingerprint = host_data.fingerprint;
  check_models_fit(plan, host_data.info());
  OutputFolder folder = OutputFolder::open_for_sweep(plan);

  ExperimentResult experiment;
  experiment.out_dir = folder.path();
  plan.config.out_dir = experiment.out_dir.string();
  const CheckpointStore checkpoints(experiment.out_dir / "checkpoints", plan.config, plan.engine);
  std::optional<std::vector<RunResult>> restored;
  if (folder.existed()) restored = checkpointed_progress(plan, checkpoints);
  folder.claim(command_line);
  Writers writers(plan, experiment.out_dir, restored, console);
  ObserverList observers = writers.observers();

  RunnerOptions options;
  options.checkpoints = &checkpoints;
  options.stop = stop;
  options.info = describe_sweep(plan, host_data.info());
  options.info->command_line = command_line;
  options.info->started_at = utc_now("%Y-%m-%dT%H:%M:%SZ");
  const SweepOutcome outcome = run_sweep(plan, host_data.to(plan.device), observers, options);
  experiment.runs = outcome.runs;
  experiment.interrupted = outcome.interrupted;
  return experiment;
}

}  // namespace l2sweep
