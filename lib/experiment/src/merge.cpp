#include "l2sweep/experiment/merge.h"

#include <fmt/format.h>

#include <set>

#include "l2sweep/base/clock.h"
#include "l2sweep/base/files.h"
#include "l2sweep/config/sweep_file.h"
#include "l2sweep/experiment/output_folder.h"
#include "l2sweep/outputs/console.h"
#include "l2sweep/outputs/metrics_csv.h"
#include "l2sweep/outputs/report.h"
#include "l2sweep/outputs/summary.h"
#include "l2sweep/sweep/observer.h"
#include "l2sweep/sweep/plan.h"
#include "l2sweep/train/checkpoint.h"

namespace l2sweep {
namespace fs = std::filesystem;
namespace {

/// The device the runs trained on, as a single-machine sweep reports it: one device, or
/// "mixed"; `planned` when no run says.
std::string device_of(const std::vector<RunResult>& runs, const std::string& planned) {
  std::set<std::string> devices;
  for (const RunResult& run : runs) {
    if (!run.device.empty()) devices.insert(run.device);
  }
  if (devices.empty()) return planned;
  return devices.size() == 1 ? *devices.begin() : "mixed";
}

}  // namespace

MergeResult merge_sweep(const fs::path& out_dir, const std::string& command_line,
                        std::FILE* console) {
  SweepConfig config = read_sweep_config(out_dir);
  const Datasets data = load_datasets({config.data_dir, config.val_size, config.train_size});
  const std::string started_with = config.data_fingerprint;
  config.data_fingerprint = data.fingerprint;
  check_same_data(started_with, config, out_dir);
  OutputFolder folder = OutputFolder::open_for_merge(out_dir);
  // Every checkpoint is verified (checksum, settings against sweep.cfg, history) before
  // anything is written.
  const CheckpointStore checkpoints(out_dir / "checkpoints", config);

  MergeResult merge;
  std::vector<RunResult> runs;
  const std::vector<RunSpec> planned = plan_runs(config);
  for (const RunSpec& run : planned) {
    std::optional<RunResult> saved = checkpoints.progress(run);
    if (!saved) {
      merge.missing.push_back(run_name(run));
      continue;
    }
    saved->spec = run;
    merge.any_diverged = merge.any_diverged || saved->status == RunStatus::kDiverged;
    if (saved->status == RunStatus::kInterrupted) {
      merge.incomplete.push_back(
          fmt::format("{} ({} of {} epochs)", run_name(run), saved->history.size(), config.epochs));
    }
    runs.push_back(std::move(*saved));
  }
  merge.complete = merge.missing.empty() && merge.incomplete.empty();

  // The runs record what trained them; the plan on their device speaks only for runs whose
  // checkpoints predate that record.
  const std::string device = device_of(runs, config.device);
  const bool cuda = device.rfind("cuda", 0) == 0;
  const Plan plan =
      make_plan(config, cuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU));
  SweepInfo sweep = describe_sweep(plan, data.info());
  sweep.device = device;
  sweep.command_line = command_line;
  sweep.started_at = utc_now("%Y-%m-%dT%H:%M:%SZ");
  folder.claim(command_line);
  folder.write_shared([&] {
    write_file_atomically(out_dir / "metrics.csv", metrics_csv_text(runs, training_order(plan)));
    write_file_atomically(out_dir / "summary.json", summary_json(sweep, runs, merge.complete));
    write_file_atomically(out_dir / "report.md", report_markdown(sweep, runs));
  });
  // fputs, not fmt::print: a closed pipe (`l2sweep merge OUT | head`) silences the report
  // without turning a finished merge into an error.
  std::string report = final_tables(runs, config, data.info().num_classes);
  report += fmt::format("merged {} of {} runs into {}: metrics.csv, summary.json, report.md\n",
                        runs.size() - merge.incomplete.size(), planned.size(), out_dir.string());
  for (const auto& name : merge.missing) report += fmt::format("missing: {}\n", name);
  for (const auto& name : merge.incomplete) report += fmt::format("incomplete: {}\n", name);
  std::fputs(report.c_str(), console);
  std::fflush(console);
  return merge;
}

}  // namespace l2sweep
