#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "l2sweep/base/files.h"
#include "l2sweep/sweep/observer.h"

namespace l2sweep {

/// Keras' CSVLogger header for this model: `epoch`, then its logs' keys, sorted.
std::string keras_csv_header();

/// One CSV per run, `folder/<run name>.csv`, in Keras' CSVLogger format (epochs counted
/// from 0), so tools written for Keras logs read it unchanged.
class KerasCsvLogger : public SweepObserver {
 public:
  explicit KerasCsvLogger(std::filesystem::path folder) : folder_(std::move(folder)) {}

  void on_run_start(const RunSpec& run, int64_t epochs) override;
  void on_epoch_end(const RunSpec& run, const EpochMetrics& metrics) override;
  void on_run_end(const RunResult& result) override;

 private:
  std::filesystem::path folder_;
  std::map<int64_t, std::unique_ptr<AppendOnlyFile>> files_;  ///< by RunSpec::index
};

}  // namespace l2sweep
