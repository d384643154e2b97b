#include "l2sweep/outputs/metrics_csv.h"

#include <fmt/format.h>

#include <algorithm>

namespace l2sweep {
namespace fs = std::filesystem;

std::string metrics_csv_header() {
  std::string header = "l2,seed,epoch";
  for (const EpochMetricField& field : kEpochMetricFields) header += std::string(",") + field.name;
  return header + "\n";
}

std::string metrics_csv_row(const RunSpec& run, const EpochMetrics& m) {
  std::string row = fmt::format("{},{},{}", run.l2, run.seed, m.epoch);
  for (const EpochMetricField& field : kEpochMetricFields)
    row += fmt::format(",{}", m.*field.member);
  return row + "\n";
}

std::string metrics_csv_text(const std::vector<RunResult>& runs) {
  // Each run's seed is its cohort; cohorts in the order their first run comes.
  std::vector<uint64_t> cohorts;
  size_t epochs = 0;
  for (const RunResult& run : runs) {
    if (std::find(cohorts.begin(), cohorts.end(), run.spec.seed) == cohorts.end()) {
      cohorts.push_back(run.spec.seed);
    }
    epochs = std::max(epochs, run.history.size());
  }
  std::string text = metrics_csv_header();
  for (const uint64_t seed : cohorts) {
    for (size_t epoch = 0; epoch < epochs; ++epoch) {
      for (const RunResult& run : runs) {
        if (run.spec.seed == seed && epoch < run.history.size()) {
          text += metrics_csv_row(run.spec, run.history[epoch]);
        }
      }
    }
  }
  return text;
}

MetricsCsvWriter::MetricsCsvWriter(fs::path path) : file_(std::move(path)) {
  file_.append(metrics_csv_header());
}

MetricsCsvWriter::MetricsCsvWriter(fs::path path, const std::vector<RunResult>& restored)
    : file_(
          [&] {
            write_file_atomically(path, metrics_csv_text(restored));
            return path;
          }(),
          /*append=*/true) {}

void MetricsCsvWriter::on_epoch_end(const RunSpec& run, const EpochMetrics& m) {
  // One whole row per write, flushed at once: a crash never leaves a partial epoch.
  file_.append(metrics_csv_row(run, m));
}

}  // namespace l2sweep
