#include "l2sweep/experiment.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>

#include "l2sweep/checkpoint.h"
#include "l2sweep/console.h"
#include "l2sweep/data.h"
#include "l2sweep/outputs.h"
#include "l2sweep/report.h"
#include "l2sweep/stats.h"
#include "l2sweep/tensorboard.h"
#include "l2sweep/version.h"

namespace l2sweep {
namespace fs = std::filesystem;

bool ExperimentResult::any_diverged() const {
  return std::any_of(runs.begin(), runs.end(),
                     [](const RunResult& run) { return run.status == RunStatus::kDiverged; });
}

ExperimentResult run_experiment(const SweepConfig& config, const std::string& command_line,
                                std::FILE* console) {
  config.validate();
  const torch::Device device = resolve_device(config.device);
  const Datasets host_data = load_datasets({config.data_dir, config.val_size, config.train_size});

  ExperimentResult experiment;
  experiment.out_dir = config.out_dir.empty() ? default_output_folder() : fs::path(config.out_dir);
  if (config.resume) {
    check_resume_config(experiment.out_dir, config);
  } else {
    prepare_output_folder(experiment.out_dir);
    write_file_atomically(experiment.out_dir / kSweepConfigFile, sweep_config_text(config));
  }
  const CheckpointStore checkpoints(experiment.out_dir / "checkpoints");

  SweepContext context;
  context.config = config;
  context.out_dir = experiment.out_dir.string();
  context.device = device.str();
  context.command_line = command_line;
  context.started_at = utc_now("%Y-%m-%dT%H:%M:%SZ");
  context.train_examples = host_data.train.size();
  context.val_examples = host_data.val.size();
  context.test_examples = host_data.test.size();
  context.num_classes = host_data.num_classes;
  context.image_shape = host_data.image_shape;
  context.data_files = host_data.files;

  // On --resume, metrics.csv is rebuilt at once (atomically) from the checkpoints, so it
  // never lists fewer epochs than were completed, even if this process dies right away.
  std::vector<std::string> restored_rows;
  if (config.resume) {
    for (const RunSpec& run : plan_runs(config)) {
      if (const auto saved = checkpoints.progress(run)) {
        for (const EpochMetrics& m : saved->history)
          restored_rows.push_back(metrics_csv_row(run, m));
      }
    }
  }
  MetricsCsvWriter metrics_csv =
      config.resume ? MetricsCsvWriter(experiment.out_dir / "metrics.csv", restored_rows)
                    : MetricsCsvWriter(experiment.out_dir / "metrics.csv");
  SummaryJsonWriter summary(experiment.out_dir / "summary.json", context);
  TensorBoardWriter tensorboard(experiment.out_dir / "tensorboard");
  KerasCsvLogger keras_csv(experiment.out_dir / "tensorboard");
  // A progress bar per epoch only makes sense while one run trains at a time.
  const bool one_at_a_time = effective_jobs(config, device, plan_runs(config).size()) == 1;
  ConsoleReporter reporter(console, one_at_a_time && ::isatty(fileno(console)) == 1);
  ObserverList observers({&metrics_csv, &summary, &tensorboard, &keras_csv, &reporter});

  fmt::print(console,
             "l2sweep {} (LibTorch {}) on {}, {} run(s) at a time: {} train / {} val / {} test "
             "examples, {}\n",
             kVersion, libtorch_version(), device.str(),
             effective_jobs(config, device, plan_runs(config).size()), context.train_examples,
             context.val_examples, context.test_examples, config.data_dir);
  fmt::print(console, "writing {}\n", experiment.out_dir.string());

  Datasets data = host_data;
  data.train = host_data.train.to(device);
  data.val = host_data.val.to(device);
  data.test = host_data.test.to(device);
  experiment.runs = run_sweep(config, data, device, observers, &checkpoints);
  experiment.interrupted =
      stop_requested() ||
      std::any_of(experiment.runs.begin(), experiment.runs.end(),
                  [](const RunResult& run) { return run.status == RunStatus::kInterrupted; });
  if (experiment.interrupted) {
    fmt::print(console, "\ninterrupted: every completed epoch is saved in {}\n",
               experiment.out_dir.string());
    std::fflush(console);
    return experiment;
  }
  summary.finish();
  write_file_atomically(experiment.out_dir / "report.md",
                        report_markdown(context, experiment.runs));

  fmt::print(console, "\n{}", comparison_table(experiment.runs));
  if (config.seeds > 1) {
    fmt::print(console, "\nacross seeds (mean ± std):\n{}",
               strength_table(summarize_strengths(experiment.runs)));
  }
  fmt::print(console, "results in {}: metrics.csv, summary.json, report.md, tensorboard/\n",
             experiment.out_dir.string());
  std::fflush(console);
  return experiment;
}

}  // namespace l2sweep
