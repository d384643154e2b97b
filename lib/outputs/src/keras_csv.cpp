#include "l2sweep/outputs/keras_csv.h"

#include <fmt/format.h>

namespace l2sweep {
namespace {

/// The metrics Keras' History holds for this model, in the order CSVLogger writes them
/// (sorted by name); their names are kEpochMetricFields', which are Keras' own.
constexpr double EpochMetrics::*kKerasColumns[] = {&EpochMetrics::accuracy, &EpochMetrics::loss,
                                                   &EpochMetrics::val_accuracy,
                                                   &EpochMetrics::val_loss};

const char* name_of(double EpochMetrics::*member) {
  for (const EpochMetricField& field : kEpochMetricFields) {
    if (field.member == member) return field.name;
  }
  return "?";
}

}  // namespace

std::string keras_csv_header() {
  std::string header = "epoch";
  for (const auto member : kKerasColumns) header += std::string(",") + name_of(member);
  return header;
}

void KerasCsvLogger::on_run_start(const RunSpec& run, int64_t /*epochs*/) {
  create_folder(folder_);
  auto& file = files_[run.index];
  file = std::make_unique<AppendOnlyFile>(folder_ / (run_name(run) + ".csv"));
  file->append(keras_csv_header() + "\n");
}

void KerasCsvLogger::on_epoch_end(const RunSpec& run, const EpochMetrics& m) {
  std::string row = fmt::format("{}", m.epoch - 1);
  for (const auto member : kKerasColumns) row += fmt::format(",{}", m.*member);
  files_.at(run.index)->append(row + "\n");
}

void KerasCsvLogger::on_run_end(const RunResult& result) {
  const auto file = files_.find(result.spec.index);
  if (file == files_.end()) return;
  const std::unique_ptr<AppendOnlyFile> closing = std::move(file->second);
  files_.erase(file);
  closing->close();
}

}  // namespace l2sweep
