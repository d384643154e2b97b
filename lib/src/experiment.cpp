#include "l2sweep/experiment.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <set>

#include "l2sweep/checkpoint.h"
#include "l2sweep/console.h"
#include "l2sweep/data.h"
#include "l2sweep/error.h"
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

namespace {

SweepContext make_context(const SweepConfig& config, const fs::path& out_dir,
                          const std::string& device, const std::string& command_line,
                          const Datasets& data) {
  SweepContext context;
  context.config = config;
  context.out_dir = out_dir.string();
  context.device = device;
  context.command_line = command_line;
  context.started_at = utc_now("%Y-%m-%dT%H:%M:%SZ");
  context.train_examples = data.train.size();
  context.val_examples = data.val.size();
  context.test_examples = data.test.size();
  context.num_classes = data.num_classes;
  context.image_shape = data.image_shape;
  context.data_files = data.files;
  return context;
}

/// The output folder of a new sweep, a resumed one, or one shard of a sweep (which may
/// find other shards' files already there, and the same sweep.cfg).
void open_output_folder(const SweepConfig& config, const fs::path& out_dir) {
  const fs::path saved = out_dir / kSweepConfigFile;
  if (config.resume || (config.shard && fs::exists(saved))) {
    check_resume_config(out_dir, config);
    return;
  }
  if (!config.shard) prepare_output_folder(out_dir);
  std::error_code error;
  fs::create_directories(out_dir, error);
  if (error) {
    throw output_error("--out {}: cannot create folder ({})", out_dir.string(), error.message());
  }
  // Shards starting together write identical bytes, each by an atomic rename.
  write_file_atomically(saved, sweep_config_text(config));
}

/// metrics.csv rows of every epoch the checkpoints hold, in plan order.
std::vector<std::string> checkpointed_rows(const SweepConfig& config,
                                           const CheckpointStore& checkpoints) {
  std::vector<std::string> rows;
  for (const RunSpec& run : plan_runs(config)) {
    if (const auto saved = checkpoints.progress(run)) {
      for (const EpochMetrics& m : saved->history) rows.push_back(metrics_csv_row(run, m));
    }
  }
  return rows;
}

void print_tables(std::FILE* console, const SweepConfig& config,
                  const std::vector<RunResult>& runs) {
  fmt::print(console, "\n{}", comparison_table(runs));
  if (config.seeds > 1) {
    fmt::print(console, "\nacross seeds (mean ± std):\n{}",
               strength_table(summarize_strengths(runs)));
  }
}

}  // namespace

ExperimentResult run_experiment(const SweepConfig& config, const std::string& command_line,
                                std::FILE* console) {
  config.validate();
  const torch::Device device = resolve_device(config.device);
  const Datasets host_data = load_datasets({config.data_dir, config.val_size, config.train_size});

  ExperimentResult experiment;
  experiment.out_dir = config.out_dir.empty() ? default_output_folder() : fs::path(config.out_dir);
  open_output_folder(config, experiment.out_dir);
  const CheckpointStore checkpoints(experiment.out_dir / "checkpoints");
  const SweepContext context =
      make_context(config, experiment.out_dir, device.str(), command_line, host_data);

  // A shard writes only its runs' own files (checkpoints, TensorBoard, Keras CSVs); the
  // shared metrics.csv, summary.json and report.md come from `l2sweep merge`.
  std::optional<MetricsCsvWriter> metrics_csv;
  std::optional<SummaryJsonWriter> summary;
  if (!config.shard) {
    // On --resume, metrics.csv is rebuilt at once (atomically) from the checkpoints, so it
    // never lists fewer epochs than were completed, even if this process dies right away.
    if (config.resume) {
      metrics_csv.emplace(experiment.out_dir / "metrics.csv",
                          checkpointed_rows(config, checkpoints));
    } else {
      metrics_csv.emplace(experiment.out_dir / "metrics.csv");
    }
    summary.emplace(experiment.out_dir / "summary.json", context);
  }
  TensorBoardWriter tensorboard(experiment.out_dir / "tensorboard");
  KerasCsvLogger keras_csv(experiment.out_dir / "tensorboard");
  // A progress bar per epoch only makes sense while one run trains at a time.
  const int64_t jobs = effective_jobs(config, device, plan_runs(config).size());
  ConsoleReporter reporter(console, jobs == 1 && ::isatty(fileno(console)) == 1);
  std::vector<SweepObserver*> observer_list{&tensorboard, &keras_csv, &reporter};
  if (metrics_csv) observer_list.push_back(&*metrics_csv);
  if (summary) observer_list.push_back(&*summary);
  ObserverList observers(observer_list);

  fmt::print(console,
             "l2sweep {} (LibTorch {}) on {}, {} run(s) at a time: {} train / {} val / {} test "
             "examples, {}\n",
             kVersion, libtorch_version(), device.str(), jobs, context.train_examples,
             context.val_examples, context.test_examples, config.data_dir);
  if (config.shard) {
    fmt::print(console, "shard {}/{} of the sweep in {}\n", config.shard->index,
               config.shard->count, experiment.out_dir.string());
  } else {
    fmt::print(console, "writing {}\n", experiment.out_dir.string());
  }

  const Datasets data = host_data.to(device);
  const auto sweep_start = std::chrono::steady_clock::now();
  experiment.runs = run_sweep(config, data, device, observers, &checkpoints);
  const double sweep_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - sweep_start).count();
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
  print_tables(console, config, experiment.runs);
  fmt::print(console, "trained {} run(s) in {:.2f} s\n", experiment.runs.size(), sweep_seconds);
  if (config.shard) {
    fmt::print(console, "shard {}/{} done; once every shard is: l2sweep merge {}\n",
               config.shard->index, config.shard->count, experiment.out_dir.string());
  } else {
    summary->finish(sweep_seconds);
    write_file_atomically(experiment.out_dir / "report.md",
                          report_markdown(context, experiment.runs));
    fmt::print(console, "results in {}: metrics.csv, summary.json, report.md, tensorboard/\n",
               experiment.out_dir.string());
  }
  std::fflush(console);
  return experiment;
}

MergeResult merge_sweep(const fs::path& out_dir, const std::string& command_line,
                        std::FILE* console) {
  const SweepConfig config = read_sweep_config(out_dir);
  const Datasets data = load_datasets({config.data_dir, config.val_size, config.train_size});
  const CheckpointStore checkpoints(out_dir / "checkpoints");
  SweepContext context = make_context(config, out_dir, config.device, command_line, data);

  MergeResult merge;
  std::vector<RunResult> runs;
  for (const RunSpec& run : plan_runs(config)) {
    std::optional<RunResult> saved;
    if (fs::exists(checkpoints.path_for(run))) saved = checkpoints.progress(run);
    if (!saved) {
      merge.missing.push_back(run_name(run));
      continue;
    }
    saved->spec = run;
    if (saved->status == RunStatus::kInterrupted) {
      merge.incomplete.push_back(
          fmt::format("{} ({} of {} epochs)", run_name(run), saved->history.size(), config.epochs));
    }
    runs.push_back(std::move(*saved));
  }
  const bool complete = merge.missing.empty() && merge.incomplete.empty();
  // The device the runs trained on, as a single-machine sweep reports it.
  std::set<std::string> devices;
  for (const RunResult& run : runs) {
    if (!run.device.empty()) devices.insert(run.device);
  }
  if (devices.size() == 1) context.device = *devices.begin();
  if (devices.size() > 1) context.device = "mixed";
  std::string rows = fmt::format("{}\n", kMetricsCsvHeader);
  for (const RunResult& run : runs) {
    for (const EpochMetrics& m : run.history) rows += metrics_csv_row(run.spec, m);
  }
  write_file_atomically(out_dir / "metrics.csv", rows);
  write_file_atomically(out_dir / "summary.json", summary_json(context, runs, complete));
  write_file_atomically(out_dir / "report.md", report_markdown(context, runs));
  print_tables(console, config, runs);
  fmt::print(console, "merged {} of {} runs into {}: metrics.csv, summary.json, report.md\n",
             runs.size() - merge.incomplete.size(), plan_runs(config).size(), out_dir.string());
  for (const auto& name : merge.missing) fmt::print(console, "missing: {}\n", name);
  for (const auto& name : merge.incomplete) fmt::print(console, "incomplete: {}\n", name);
  std::fflush(console);
  merge.complete = complete;
  return merge;
}

}  // namespace l2sweep
