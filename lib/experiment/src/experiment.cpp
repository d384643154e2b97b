#include "l2sweep/experiment/experiment.h"

#include <unistd.h>

#include <algorithm>
#include <optional>

#include "l2sweep/base/clock.h"
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

namespace l2sweep {
namespace fs = std::filesystem;

bool ExperimentResult::any_diverged() const {
  return std::any_of(runs.begin(), runs.end(),
                     [](const RunResult& run) { return run.status == RunStatus::kDiverged; });
}

namespace {

/// The progress every run's checkpoint holds, in plan order, for rebuilding metrics.csv.
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
  Writers(const Plan& plan, const fs::path& out_dir, const CheckpointStore& checkpoints,
          std::FILE* console)
      : tensorboard_(out_dir / "tensorboard"),
        keras_csv_(out_dir / "tensorboard"),
        console_(console, plan.jobs == 1 && ::isatty(fileno(console)) == 1) {
    if (!plan.config.shard) {
      // On --resume, metrics.csv is rebuilt at once (atomically) from the checkpoints, so it
      // never lists fewer epochs than were completed, even if this process dies right away.
      if (plan.config.resume) {
        metrics_csv_.emplace(out_dir / "metrics.csv", checkpointed_progress(plan, checkpoints));
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
  Plan plan = resolve_plan(config);
  const Datasets host_data = load_datasets({config.data_dir, config.val_size, config.train_size});

  ExperimentResult experiment;
  experiment.out_dir = config.out_dir.empty() ? default_output_folder() : fs::path(config.out_dir);
  plan.config.out_dir = experiment.out_dir.string();
  open_output_folder(plan.config, experiment.out_dir);
  const CheckpointStore checkpoints(experiment.out_dir / "checkpoints");
  Writers writers(plan, experiment.out_dir, checkpoints, console);
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
