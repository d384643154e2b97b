#include "l2sweep/outputs/tensorboard.h"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "l2sweep/base/clock.h"
#include "l2sweep/base/crc32c.h"

namespace l2sweep {
namespace fs = std::filesystem;
namespace {

// ---- The few protobuf encodings a scalar Event needs ----

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

void put_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out += static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  out += static_cast<char>(value);
}

void put_key(std::string& out, uint32_t field, WireType type) {
  put_varint(out, (field << 3) | type);
}

template <typename T>
void put_little_endian(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));  // x86-64 and aarch64 are little-endian
  out.append(bytes, sizeof(T));
}

void put_bytes(std::string& out, uint32_t field, std::string_view bytes) {
  put_key(out, field, kLengthDelimited);
  put_varint(out, bytes.size());
  out.append(bytes);
}

/// tensorflow.Event fields: wall_time = 1 (double), step = 2 (int64), file_version = 3,
/// summary = 5. Summary: value = 1. Summary.Value: tag = 1, simple_value = 2 (float).
std::string event_prefix(double wall_time, int64_t step) {
  std::string event;
  put_key(event, 1, kFixed64);
  put_little_endian(event, wall_time);
  if (step != 0) {
    put_key(event, 2, kVarint);
    put_varint(event, static_cast<uint64_t>(step));
  }
  return event;
}

std::string hostname() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') {
    return "localhost";
  }
  return name;
}

}  // namespace

std::string tf_record(std::string_view payload) {
  std::string length;
  put_little_endian(length, static_cast<uint64_t>(payload.size()));
  std::string record = length;
  put_little_endian(record, masked_crc32c(length));
  record.append(payload);
  put_little_endian(record, masked_crc32c(payload));
  return record;
}

std::string file_version_event(double wall_time) {
  std::string event = event_prefix(wall_time, 0);
  put_bytes(event, 3, "brain.Event:2");
  return event;
}

std::string scalar_event(double wall_time, int64_t step, std::string_view tag, float value) {
  std::string summary_value;
  put_bytes(summary_value, 1, tag);
  put_key(summary_value, 2, kFixed32);
  put_little_endian(summary_value, value);
  std::string summary;
  put_bytes(summary, 1, summary_value);
  std::string event = event_prefix(wall_time, step);
  put_bytes(event, 5, summary);
  return event;
}

std::string histogram_event(double wall_time, int64_t step, std::string_view tag,
                            const WeightHistogram& histogram) {
  // HistogramProto: min = 1, max = 2, num = 3, sum = 4, sum_squares = 5 (doubles),
  // bucket_limit = 6 and bucket = 7 (packed doubles); bucket_limit[i] is bucket i's right edge.
  std::string histo;
  const double head[5] = {histogram.min, histogram.max, histogram.num, histogram.sum,
                          histogram.sum_squares};
  for (uint32_t field = 1; field <= 5; ++field) {
    put_key(histo, field, kFixed64);
    put_little_endian(histo, head[field - 1]);
  }
  std::string limits, counts;
  for (int i = 0; i < kHistogramBuckets; ++i) {
    put_little_endian(limits, histogram.limit(i));
    put_little_endian(counts, histogram.counts[static_cast<size_t>(i)]);
  }
  put_bytes(histo, 6, limits);
  put_bytes(histo, 7, counts);
  // Summary.Value: tag = 1, histo = 5.
  std::string summary_value;
  put_bytes(summary_value, 1, tag);
  put_bytes(summary_value, 5, histo);
  std::string summary;
  put_bytes(summary, 1, summary_value);
  std::string event = event_prefix(wall_time, step);
  put_bytes(event, 5, summary);
  return event;
}

fs::path EventFileWriter::new_file_path(const fs::path& folder) {
  // Two writers created in the same second in one process still get distinct names.
  static std::atomic<int> counter{0};
  create_folder(folder);
  return folder / fmt::format("events.out.tfevents.{}.{}.{}.{}.v2",
                              static_cast<int64_t>(unix_seconds()), hostname(), ::getpid(),
                              counter.fetch_add(1));
}

EventFileWriter::EventFileWriter(const fs::path& folder) : file_(new_file_path(folder)) {
  file_.append(tf_record(file_version_event(unix_seconds())));
}

void EventFileWriter::add_scalar(std::string_view tag, int64_t step, double value) {
  file_.append(tf_record(scalar_event(unix_seconds(), step, tag, static_cast<float>(value))));
}

void EventFileWriter::add_histogram(std::string_view tag, int64_t step,
                                    const WeightHistogram& histogram) {
  file_.append(tf_record(histogram_event(unix_seconds(), step, tag, histogram)));
}

TensorBoardWriter::TensorBoardWriter(fs::path root) : root_(std::move(root)) {}

TensorBoardWriter::~TensorBoardWriter() = default;

void TensorBoardWriter::on_run_start(const RunSpec& run, int64_t /*epochs*/) {
  const fs::path folder = root_ / run_name(run);
  // A resumed run replays its history into fresh files rather than appending duplicates.
  std::error_code ignored;
  fs::remove_all(folder, ignored);
  RunWriters& writers = runs_[run.index];
  writers.train = std::make_unique<EventFileWriter>(folder / "train");
  writers.validation = std::make_unique<EventFileWriter>(folder / "validation");
}

void TensorBoardWriter::on_epoch_end(const RunSpec& run, const EpochMetrics& m) {
  const int64_t step = m.epoch - 1;
  RunWriters& writers = runs_.at(run.index);
  for (const EpochMetricField& field : kEpochMetricFields) {
    if (field.tensorboard_writer == nullptr) continue;
    EventFileWriter& writer =
        std::strcmp(field.tensorboard_writer, "train") == 0 ? *writers.train : *writers.validation;
    writer.add_scalar(field.tensorboard_tag, step, m.*field.member);
  }
  // Keras' TensorBoard(histogram_freq=1) logs each weight at every epoch under its path; the
  // first Dense layer's kernel is "dense/kernel".
  if (m.w1_histogram.num > 0) {
    writers.train->add_histogram(kW1HistogramTag, step, m.w1_histogram);
  }
}

void TensorBoardWriter::on_run_end(const RunResult& result) {
  const auto run = runs_.find(result.spec.index);
  if (run == runs_.end()) return;
  RunWriters closing = std::move(run->second);
  runs_.erase(run);
  closing.train->close();
  closing.validation->close();
}

}  // namespace l2sweep
