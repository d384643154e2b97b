#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "l2sweep/base/files.h"
#include "l2sweep/sweep/observer.h"

namespace l2sweep {

/// One TFRecord: little-endian uint64 length, masked CRC of those 8 bytes, the payload and
/// the payload's masked CRC.
std::string tf_record(std::string_view payload);

/// A serialized tensorflow.Event that opens every event file (file_version "brain.Event:2").
std::string file_version_event(double wall_time);

/// A serialized tensorflow.Event holding one scalar summary value (Summary.Value.simple_value).
std::string scalar_event(double wall_time, int64_t step, std::string_view tag, float value);

/// A serialized tensorflow.Event holding one histogram (Summary.Value.histo, the
/// HistogramProto that tf.summary.histogram's readers accept).
std::string histogram_event(double wall_time, int64_t step, std::string_view tag,
                            const WeightHistogram& histogram);

/// The tag of W1's histogram: the path Keras gives the first Dense layer's kernel, with the
/// suffix its TensorBoard callback adds.
inline constexpr const char* kW1HistogramTag = "dense/kernel/histogram";

/// One TensorBoard event file, `events.out.tfevents.<time>.<host>.<pid>.<n>.v2`, in `folder`.
/// Every write is flushed so TensorBoard sees each epoch as soon as it ends.
class EventFileWriter {
 public:
  explicit EventFileWriter(const std::filesystem::path& folder);

  void add_scalar(std::string_view tag, int64_t step, double value);
  void add_histogram(std::string_view tag, int64_t step, const WeightHistogram& histogram);
  const std::filesystem::path& path() const { return file_.path(); }
  /// Flushes and closes the file (AppendOnlyFile::close).
  void close() { file_.close(); }

 private:
  static std::filesystem::path new_file_path(const std::filesystem::path& folder);

  AppendOnlyFile file_;
};

/// TensorBoard logs in the Keras TensorBoard callback's layout: `root/<run>/train` and
/// `root/<run>/validation`, each metric of kEpochMetricFields under its TensorBoard tag
/// (`epoch_loss`, `epoch_accuracy` and `epoch_data_loss` in both, `epoch_penalty` and `w1_norm`
/// in train), with step = epoch - 1 (Keras counts from 0), and W1's histogram at every epoch
/// in train under kW1HistogramTag (Keras' histogram_freq=1).
class TensorBoardWriter : public SweepObserver {
 public:
  explicit TensorBoardWriter(std::filesystem::path root);
  ~TensorBoardWriter() override;

  void on_run_start(const RunSpec& run, int64_t epochs) override;
  void on_epoch_end(const RunSpec& run, const EpochMetrics& metrics) override;
  void on_run_end(const RunResult& result) override;

 private:
  struct RunWriters {
    std::unique_ptr<EventFileWriter> train;
    std::unique_ptr<EventFileWriter> validation;
  };

  std::filesystem::path root_;
  std::map<int64_t, RunWriters> runs_;  ///< by RunSpec::index: runs may overlap (--jobs)
};

}  // namespace l2sweep
