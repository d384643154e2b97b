#include "l2sweep/outputs/metrics_csv.h"

#include <fmt/format.h>

#include <algorithm>

namespace l2sweep {
namespace fs = std::filesystem;

std::string metrics_csv_header() {
  std::string header = "l2,dropout,weight_decay,seed,epoch";
  for (const EpochMetricField& field : kEpochMetricFields) header += std::string(",") + field.name;
  return header + "\n";
}

std::string metrics_csv_row(const RunSpec& run, const EpochMetrics& m) {
  std::string row =
      fmt::format("{},{},{},{},{}", run.l2, run.dropout, run.weight_decay, run.seed, m.epoch);
  for (const EpochMetricField& field : kEpochMetricFields)
    row += fmt::format(",{}", m.*field.member);
  return row + "\n";
}

std::string metrics_csv_text(const std::vector<RunResult>& runs, const std::vector<Cohort>& units) {
  std::string text = metrics_csv_header();
  for (const Cohort& unit : units) {
    std::vector<const RunResult*> members;
    size_t epochs = 0;
    for (const RunSpec& spec : unit.runs) {
      for (const RunResult& run : runs) {
        if (run.spec.index == spec.index) {
          members.push_back(&run);
          epochs = std::max(epochs, run.history.size());
        }
      }
    }
    for (size_t epoch = 0; epoch < epochs; ++epoch) {
      for (const RunResult* run : members) {
        if (epoch < run->history.size()) text += metrics_csv_row(run->spec, run->history[epoch]);
      }
    }
  }
  return text;
}

MetricsCsvWriter::MetricsCsvWriter(fs::path path) : file_(std::move(path)) {
  file_.append(metrics_csv_header());
}

MetricsCsvWriter::MetricsCsvWriter(fs::path path, const std::vector<RunResult>& restored,
                                   const std::vector<Cohort>& units)
    : file_(
          [&] {
            write_file_atomically(path, metrics_csv_text(restored, units));
            return path;
          }(),
          /*append=*/true),
      resumed_units_(units),
      restored_(restored) {}

void MetricsCsvWriter::on_epoch_end(const RunSpec& run, const EpochMetrics& m) {
  // One whole row per write, flushed at once: a crash never leaves a partial epoch.
  file_.append(metrics_csv_row(run, m));
}

void MetricsCsvWriter::on_sweep_end(const SweepOutcome& outcome) {
  file_.close();
  // A resume appends its rows as its units train, and members that had reached different
  // epochs catch up first: rewritten in training order, the file is the one a sweep never
  // interrupted (or merge) writes.
  if (!resumed_units_) return;
  // Every epoch there is: the runs this process trained or replayed, and those restored that
  // it never reached (stopped before their unit started).
  std::vector<RunResult> runs = outcome.runs;
  for (const RunResult& saved : restored_) {
    const auto trained = std::find_if(runs.begin(), runs.end(), [&](const RunResult& run) {
      return run.spec.index == saved.spec.index;
    });
    if (trained == runs.end()) {
      runs.push_back(saved);
    } else if (trained->history.size() < saved.history.size()) {
      *trained = saved;
    }
  }
  write_file_atomically(file_.path(), metrics_csv_text(runs, *resumed_units_));
}

}  // namespace l2sweep
