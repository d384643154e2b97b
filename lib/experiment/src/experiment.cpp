#include "l2sweep/experiment/experiment.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

#include "l2sweep/base/clock.h"
#include "l2sweep/base/error.h"
#include "l2sweep/base/files.h"
#include "l2sweep/base/json.h"
#include "l2sweep/base/memory.h"
#include "l2sweep/experiment/output_folder.h"
#include "l2sweep/outputs/console.h"
#include "l2sweep/outputs/keras_csv.h"
#include "l2sweep/outputs/metrics_csv.h"
#include "l2sweep/outputs/report.h"
#include "l2sweep/outputs/summary.h"
#include "l2sweep/outputs/tensorboard.h"
#include "l2sweep/sweep/plan.h"
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
  for (const Cohort& cohort : plan.units) sizes.push_back(cohort.runs.size());
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
          const std::optional<std::vector<RunResult>>& restored, std::FILE* console, StopToken stop)
      : tensorboard_(out_dir / "tensorboard"),
        keras_csv_(out_dir / "tensorboard"),
        console_(console, ConsoleReporter::can_redraw(console), stop) {
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

/// What an earlier process of a resumed sweep left in summary.json: when the sweep started,
/// every command line so far, and the seconds trained. Nothing when there is no readable one
/// (a shard's folder, a process killed before its first run ended).
void carry_over_earlier_processes(const fs::path& out_dir, SweepInfo& info) {
  const std::optional<std::string> text = read_text_file(out_dir / "summary.json");
  if (!text) return;
  Json earlier;
  try {
    earlier = parse_json(*text, out_dir / "summary.json");
  } catch (const Error&) {
    return;  // a damaged summary is rewritten from the checkpoints; its history is lost
  }
  if (!earlier.is_object()) return;
  if (earlier.contains("started_at") && earlier["started_at"].is_string()) {
    info.started_at = earlier["started_at"].get<std::string>();
  }
  std::vector<std::string> lines;
  if (earlier.contains("command_lines") && earlier["command_lines"].is_array()) {
    for (const Json& line : earlier["command_lines"]) {
      if (line.is_string()) lines.push_back(line.get<std::string>());
    }
  } else if (earlier.contains("command_line") && earlier["command_line"].is_string()) {
    lines.push_back(earlier["command_line"].get<std::string>());
  }
  if (!lines.empty()) info.command_line = lines.front();
  lines.push_back(info.command_lines.back());
  info.command_lines = lines;
  if (earlier.contains("sweep_seconds") && earlier["sweep_seconds"].is_number()) {
    info.earlier_seconds = earlier["sweep_seconds"].get<double>();
  }
}

/// Whether a sweep whose runs are all complete still has every output whole, so that a
/// resume has nothing to do: metrics.csv exactly as the checkpoints give it, a finished
/// summary.json, report.md, and each run's TensorBoard folder and Keras CSV (a shard has only
/// those). A lost or cut output is rebuilt by the resume instead.
bool outputs_are_whole(const Plan& plan, const fs::path& out_dir,
                       const std::vector<RunResult>& restored) {
  for (const RunSpec& run : plan.runs) {
    const fs::path board = out_dir / "tensorboard" / run_name(run);
    std::error_code error;
    if (!fs::is_directory(board / "train", error) ||
        !fs::is_directory(board / "validation", error)) {
      return false;
    }
    // The run's Keras CSV: a header and one row per epoch its checkpoint holds.
    const std::optional<std::string> csv = read_text_file(board.string() + ".csv");
    const auto saved = std::find_if(restored.begin(), restored.end(),
                                    [&](const RunResult& r) { return r.spec.index == run.index; });
    if (!csv || saved == restored.end() ||
        std::count(csv->begin(), csv->end(), '\n') !=
            static_cast<std::ptrdiff_t>(saved->history.size()) + 1) {
      return false;
    }
  }
  if (plan.config.shard) return true;
  // The same rows in any order: units trained side by side (--jobs) interleave theirs.
  const auto sorted_lines = [](const std::string& text) {
    std::vector<std::string> lines;
    size_t start = 0;
    while (start < text.size()) {
      const size_t end = text.find('\n', start);
      if (end == std::string::npos) {
        lines.push_back(text.substr(start) + "(no newline)");
        break;
      }
      lines.push_back(text.substr(start, end - start));
      start = end + 1;
    }
    if (!lines.empty()) std::sort(lines.begin() + 1, lines.end());  // the header stays first
    return lines;
  };
  const std::optional<std::string> metrics = read_text_file(out_dir / "metrics.csv");
  if (!metrics ||
      sorted_lines(*metrics) != sorted_lines(metrics_csv_text(restored, training_order(plan)))) {
    return false;
  }
  // report.md as l2sweep writes it: its title first and its last section at the end.
  const std::optional<std::string> report = read_text_file(out_dir / "report.md");
  if (!report || report->rfind("# l2sweep report\n", 0) != 0 ||
      report->find("\n## How the verdicts are decided\n") == std::string::npos ||
      report->back() != '\n') {
    return false;
  }
  const std::optional<std::string> summary = read_text_file(out_dir / "summary.json");
  if (!summary) return false;
  try {
    const Json json = parse_json(*summary, out_dir / "summary.json");
    return json.is_object() && json.value("finished", false);
  } catch (const Error&) {
    return false;
  }
}

/// Says before training what a resumed sweep holds: one line per run that resumes or starts,
/// one for those already complete. True when every run of this process is complete (or
/// diverged): there is nothing to train.
bool announce_resume(const Plan& plan, const std::vector<RunResult>& restored, std::FILE* console) {
  int64_t complete = 0;
  std::string lines;
  for (const RunSpec& run : plan.runs) {
    const auto saved = std::find_if(restored.begin(), restored.end(),
                                    [&](const RunResult& r) { return r.spec.index == run.index; });
    if (saved == restored.end()) {
      lines +=
          fmt::format("starting {} seed {}: no checkpoint yet\n", setting_label(run), run.seed);
    } else if (saved->status == RunStatus::kInterrupted) {
      const auto done = static_cast<int64_t>(saved->history.size());
      lines += fmt::format("resuming {} seed {} at epoch {}/{} ({} restored)\n", setting_label(run),
                           run.seed, done + 1, plan.config.epochs, done);
    } else {
      ++complete;
    }
  }
  const auto runs = static_cast<int64_t>(plan.runs.size());
  if (complete == runs) {
    fmt::print(console, "all {} run{} {} complete: nothing to train\n", runs, runs == 1 ? "" : "s",
               runs == 1 ? "is" : "are");
  } else {
    if (complete > 0) {
      fmt::print(console, "{} of {} runs complete, restored from their checkpoints\n", complete,
                 runs);
    }
    fmt::print(console, "{}", lines);
  }
  std::fflush(console);
  return complete == runs;
}

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
  if (restored && announce_resume(plan, *restored, console) &&
      outputs_are_whole(plan, experiment.out_dir, *restored)) {
    // A resume that trains nothing changes nothing: no lock holder recorded, no file
    // rewritten. The tables and the recommendation come from the checkpoints.
    // Only the temporary files of killed writes go, as every writer removes them.
    folder.remove_stale_temporaries();
    fmt::print(console, "every output is whole: no file changed\n");
    experiment.runs = *restored;
    std::fputs(
        ("\n" + final_tables(experiment.runs, plan.config, host_data.info().num_classes)).c_str(),
        console);
    std::fflush(console);
    return experiment;
  }
  if (restored && restored->size() == plan.runs.size() &&
      std::none_of(restored->begin(), restored->end(),
                   [](const RunResult& r) { return r.status == RunStatus::kInterrupted; })) {
    fmt::print(console,
               "an output is missing or cut short: rebuilding them from the checkpoints\n");
  }
  folder.claim(command_line);
  Writers writers(plan, experiment.out_dir, restored, console, stop);
  ObserverList observers = writers.observers();

  RunnerOptions options;
  options.checkpoints = &checkpoints;
  options.stop = stop;
  options.info = describe_sweep(plan, host_data.info());
  options.info->command_line = command_line;
  options.info->command_lines = {command_line};
  options.info->started_at = utc_now("%Y-%m-%dT%H:%M:%SZ");
  if (restored) carry_over_earlier_processes(experiment.out_dir, *options.info);
  const SweepOutcome outcome = run_sweep(plan, host_data.to(plan.device), observers, options);
  experiment.runs = outcome.runs;
  experiment.interrupted = outcome.interrupted;
  return experiment;
}

}  // namespace l2sweep
