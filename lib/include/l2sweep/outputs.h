#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "l2sweep/config.h"
#include "l2sweep/sweep.h"

namespace l2sweep {

/// Columns of metrics.csv: Keras CSVLogger's names where Keras has one.
inline constexpr const char* kMetricsCsvHeader =
    "l2,seed,epoch,loss,accuracy,val_loss,val_accuracy,data_loss,val_data_loss,penalty,w1_norm,"
    "epoch_seconds";

/// The current UTC time formatted with strftime's `format`.
std::string utc_now(const char* format);

/// `runs/<UTC timestamp>`, the folder used when --out is not given.
std::filesystem::path default_output_folder();

/// Creates `folder` (and its parents). An existing non-empty folder is refused, so earlier
/// results are never overwritten; an uncreatable one is an output Error naming it.
void prepare_output_folder(const std::filesystem::path& folder);

/// Writes `content` to a temporary file beside `path`, flushes it to disk and renames it over
/// `path`, so a reader (or a crash) sees the old file or the new one, never half of one.
void write_file_atomically(const std::filesystem::path& path, const std::string& content);

/// A new file written in whole chunks, each flushed as soon as it is appended, so a crash
/// leaves every chunk written before it. Failures are output Errors naming the file.
class AppendOnlyFile {
 public:
  /// Creates (truncates) `path`, or with `append` adds to what it holds.
  explicit AppendOnlyFile(std::filesystem::path path, bool append = false);
  ~AppendOnlyFile();
  AppendOnlyFile(const AppendOnlyFile&) = delete;
  AppendOnlyFile& operator=(const AppendOnlyFile&) = delete;

  void append(std::string_view chunk);
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
};

/// metrics.csv: one row per run and epoch, appended and flushed as each epoch ends, so the
/// file always holds exactly the epochs that completed.
class MetricsCsvWriter : public SweepObserver {
 public:
  /// A new metrics.csv with its header.
  explicit MetricsCsvWriter(std::filesystem::path path);

  /// Rewrites `path` atomically with the header and `rows` (of the epochs restored from
  /// checkpoints), then appends to it; restored epochs are not written again.
  MetricsCsvWriter(std::filesystem::path path, const std::vector<std::string>& rows);

  void on_epoch_end(const RunSpec& run, const EpochMetrics& metrics) override;
  void on_epoch_restored(const RunSpec& /*run*/, const EpochMetrics& /*metrics*/) override {}

 private:
  AppendOnlyFile file_;
};

/// One metrics.csv row (with its newline) for an epoch of a run.
std::string metrics_csv_row(const RunSpec& run, const EpochMetrics& metrics);

/// Columns of Keras' CSVLogger for this model: its logs' keys, sorted, after `epoch`.
inline constexpr const char* kKerasCsvHeader = "epoch,accuracy,loss,val_accuracy,val_loss";

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

/// What summary.json records besides the runs: enough to reproduce the sweep.
struct SweepContext {
  SweepConfig config;
  std::string out_dir;
  std::string device;
  std::string command_line;
  std::string started_at;
  int64_t train_examples = 0;
  int64_t val_examples = 0;
  int64_t test_examples = 0;
  int64_t num_classes = 0;
  std::vector<int64_t> image_shape;
  std::vector<std::string> data_files;
  /// Wall time of training every run of this process (run_sweep, data already on the
  /// device), runs overlapping when --jobs > 1; set once the sweep finished.
  std::optional<double> sweep_seconds;
};

/// The summary.json document for the runs finished so far.
std::string summary_json(const SweepContext& context, const std::vector<RunResult>& runs,
                         bool finished);

/// Rewrites summary.json atomically after every run, so it always covers the finished runs.
class SummaryJsonWriter : public SweepObserver {
 public:
  SummaryJsonWriter(std::filesystem::path path, SweepContext context);

  void on_run_end(const RunResult& result) override;
  /// Writes the final document, marked finished, with the sweep's training wall time.
  void finish(std::optional<double> sweep_seconds = std::nullopt);

 private:
  std::filesystem::path path_;
  SweepContext context_;
  std::vector<RunResult> runs_;
};

}  // namespace l2sweep
