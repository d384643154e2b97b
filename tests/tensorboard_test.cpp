#include "l2sweep/outputs/tensorboard.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <numeric>

#include "l2sweep/base/crc32c.h"
#include "l2sweep/base/files.h"
#include "l2sweep/data/data.h"
#include "l2sweep/experiment/output_folder.h"
#include "l2sweep/outputs/keras_csv.h"
#include "l2sweep/outputs/metrics_csv.h"
#include "l2sweep/outputs/summary.h"
#include "l2sweep/sweep/runner.h"
#include "test_support.h"

namespace l2sweep {
namespace {

namespace fs = std::filesystem;

// ---- A minimal reader, written from the format description, to check what was written ----

struct Scalar {
  int64_t step = 0;
  std::string tag;
  float value = 0;
};

/// A HistogramProto as written (Summary.Value.histo).
struct Histogram {
  int64_t step = 0;
  std::string tag;
  double min = 0, max = 0, num = 0, sum = 0, sum_squares = 0;
  std::vector<double> limits, counts;
};

struct EventFile {
  std::string file_version;
  std::vector<Scalar> scalars;
  std::vector<Histogram> histograms;
};

template <typename T>
T little_endian(const std::string& bytes, size_t at) {
  T value;
  std::memcpy(&value, bytes.data() + at, sizeof(T));
  return value;
}

std::vector<double> packed_doubles(const std::string& bytes) {
  std::vector<double> values(bytes.size() / 8);
  for (size_t i = 0; i < values.size(); ++i) values[i] = little_endian<double>(bytes, 8 * i);
  return values;
}

uint64_t read_varint(const std::string& bytes, size_t& at) {
  uint64_t value = 0;
  for (int shift = 0;; shift += 7) {
    const auto byte = static_cast<uint8_t>(bytes.at(at++));
    value |= uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) return value;
  }
}

/// Calls `field(number, wire_type, payload_or_value_bytes)` for each field of a message.
template <typename Visit>
void for_each_field(const std::string& message, Visit visit) {
  size_t at = 0;
  while (at < message.size()) {
    const uint64_t key = read_varint(message, at);
    const auto number = static_cast<int>(key >> 3);
    switch (key & 7) {
      case 0: {
        const uint64_t value = read_varint(message, at);
        visit(number, 0, std::string(reinterpret_cast<const char*>(&value), 8));
        break;
      }
      case 1:
        visit(number, 1, message.substr(at, 8));
        at += 8;
        break;
      case 2: {
        const auto length = static_cast<size_t>(read_varint(message, at));
        visit(number, 2, message.substr(at, length));
        at += length;
        break;
      }
      case 5:
        visit(number, 5, message.substr(at, 4));
        at += 4;
        break;
      default:
        FAIL() << "unexpected wire type " << (key & 7);
        return;
    }
  }
}

/// Reads every record, checking both CRCs, and decodes the scalar events.
EventFile read_event_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  EventFile file;
  size_t at = 0;
  while (at < bytes.size()) {
    const std::string length_bytes = bytes.substr(at, 8);
    const auto length = static_cast<size_t>(little_endian<uint64_t>(bytes, at));
    EXPECT_EQ(little_endian<uint32_t>(bytes, at + 8), masked_crc32c(length_bytes));
    const std::string payload = bytes.substr(at + 12, length);
    EXPECT_EQ(little_endian<uint32_t>(bytes, at + 12 + length), masked_crc32c(payload));
    at += 12 + length + 4;

    Scalar scalar;
    Histogram histogram;
    bool has_summary = false;
    bool has_histogram = false;
    for_each_field(payload, [&](int number, int, const std::string& value) {
      if (number == 2) scalar.step = histogram.step = little_endian<int64_t>(value, 0);
      if (number == 3) file.file_version = value;
      if (number == 5) {
        has_summary = true;
        for_each_field(value, [&](int, int, const std::string& summary_value) {
          for_each_field(summary_value, [&](int field, int, const std::string& v) {
            if (field == 1) scalar.tag = histogram.tag = v;
            if (field == 2) scalar.value = little_endian<float>(v, 0);
            if (field == 5) {
              has_histogram = true;
              for_each_field(v, [&](int h, int, const std::string& x) {
                double* head[] = {&histogram.min, &histogram.max, &histogram.num, &histogram.sum,
                                  &histogram.sum_squares};
                if (h >= 1 && h <= 5) *head[h - 1] = little_endian<double>(x, 0);
                if (h == 6) histogram.limits = packed_doubles(x);
                if (h == 7) histogram.counts = packed_doubles(x);
              });
            }
          });
        });
      }
    });
    if (has_histogram) {
      file.histograms.push_back(histogram);
    } else if (has_summary) {
      file.scalars.push_back(scalar);
    }
  }
  EXPECT_EQ(at, bytes.size()) << "trailing partial record";
  return file;
}

fs::path only_event_file(const fs::path& folder) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(folder)) files.push_back(entry.path());
  EXPECT_EQ(files.size(), 1u) << folder;
  EXPECT_NE(files.at(0).filename().string().find("events.out.tfevents."), std::string::npos);
  return files.at(0);
}

TEST(Crc32c, MatchesTheStandardCheckValue) {
  EXPECT_EQ(crc32c("123456789"), 0xe3069283u);
  EXPECT_EQ(crc32c(""), 0u);
  // RFC 3720's test vectors: whole 8-byte words, as the CRC32 instruction takes them.
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8a9136aau);
  EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62a8ab43u);
}

TEST(Crc32c, ExtendsPieceByPieceToTheCrcOfTheWhole) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += static_cast<char>(i * 37 % 251);  // 8-byte words and tails
  for (const size_t cut : {size_t{0}, size_t{1}, size_t{9}, size_t{512}, size_t{999}}) {
    const std::string_view all(text);
    EXPECT_EQ(crc32c(all.substr(cut), crc32c(all.substr(0, cut))), crc32c(all)) << cut;
  }
  EXPECT_EQ(crc32c("56789", crc32c("1234")), 0xe3069283u);
}

TEST(Crc32c, MaskRotatesAndAddsTheDelta) {
  const uint32_t crc = crc32c("123456789");
  EXPECT_EQ(masked_crc32c("123456789"), ((crc >> 15) | (crc << 17)) + 0xa282ead8u);
}

TEST(TfRecord, FramesPayloadWithLengthAndTwoMaskedCrcs) {
  const std::string record = tf_record("abc");
  ASSERT_EQ(record.size(), 8u + 4 + 3 + 4);
  EXPECT_EQ(little_endian<uint64_t>(record, 0), 3u);
  EXPECT_EQ(little_endian<uint32_t>(record, 8), masked_crc32c(record.substr(0, 8)));
  EXPECT_EQ(record.substr(12, 3), "abc");
  EXPECT_EQ(little_endian<uint32_t>(record, 15), masked_crc32c("abc"));
}

TEST(ScalarEvent, EncodesWallTimeStepTagAndValue) {
  const std::string event = scalar_event(1234.5, 300, "epoch_loss", 0.25f);
  std::map<int, std::string> fields;
  for_each_field(event, [&](int number, int, const std::string& value) { fields[number] = value; });
  EXPECT_DOUBLE_EQ(little_endian<double>(fields.at(1), 0), 1234.5);
  EXPECT_EQ(little_endian<int64_t>(fields.at(2), 0), 300);
  ASSERT_EQ(fields.count(5), 1u);
}

TEST(TensorBoardWriter, WritesKerasLayoutWithEveryEpochsScalars) {
  testing::TempDir dir;
  SweepConfig config;
  config.l2_strengths = {0.001};
  config.seeds = 2;
  config.seed = 4;
  config.epochs = 3;
  config.train_size = 300;
  const Datasets data = load_datasets({testing::fixture_dir(), 200, int64_t{300}});
  TensorBoardWriter tensorboard(dir / "tensorboard");
  KerasCsvLogger keras_csv(dir / "tensorboard");
  ObserverList observers({&tensorboard, &keras_csv});
  const auto results = testing::sweep(config, data, torch::kCPU, observers);
  ASSERT_EQ(results.size(), 2u);

  for (const RunResult& run : results) {
    const fs::path folder = dir / "tensorboard" / run_name(run.spec);
    const EventFile train = read_event_file(only_event_file(folder / "train"));
    const EventFile validation = read_event_file(only_event_file(folder / "validation"));
    EXPECT_EQ(train.file_version, "brain.Event:2");
    EXPECT_EQ(validation.file_version, "brain.Event:2");
    std::map<std::pair<std::string, int64_t>, float> train_values, validation_values;
    for (const auto& s : train.scalars) train_values[{s.tag, s.step}] = s.value;
    for (const auto& s : validation.scalars) validation_values[{s.tag, s.step}] = s.value;
    EXPECT_EQ(train_values.size(), 7u * 3);
    EXPECT_EQ(validation_values.size(), 4u * 3);
    for (const EpochMetrics& m : run.history) {
      const int64_t step = m.epoch - 1;  // Keras counts epochs from 0
      EXPECT_EQ(train_values.at({"epoch_loss", step}), static_cast<float>(m.loss));
      EXPECT_EQ(train_values.at({"epoch_accuracy", step}), static_cast<float>(m.accuracy));
      EXPECT_EQ(train_values.at({"epoch_data_loss", step}), static_cast<float>(m.data_loss));
      EXPECT_EQ(train_values.at({"epoch_penalty", step}), static_cast<float>(m.penalty));
      EXPECT_EQ(train_values.at({"w1_norm", step}), static_cast<float>(m.w1_norm));
      EXPECT_EQ(train_values.at({"w1_small", step}), static_cast<float>(m.w1_small));
      EXPECT_EQ(train_values.at({"w1_zero", step}), static_cast<float>(m.w1_zero));
      EXPECT_EQ(validation_values.at({"dead_units", step}), static_cast<float>(m.dead_units));
      // W1's histogram, as Keras' histogram_freq=1 logs the first Dense kernel.
      const Histogram& h = train.histograms.at(static_cast<size_t>(step));
      EXPECT_EQ(h.tag, "dense/kernel/histogram");
      EXPECT_EQ(h.step, step);
      EXPECT_EQ(h.num, 784.0 * 128);
      ASSERT_EQ(h.counts.size(), 30u);
      ASSERT_EQ(h.limits.size(), 30u);
      EXPECT_EQ(std::accumulate(h.counts.begin(), h.counts.end(), 0.0), h.num);
      EXPECT_LT(h.min, 0);
      EXPECT_GT(h.max, 0);
      EXPECT_EQ(h.limits.back(), h.max);
      EXPECT_TRUE(std::is_sorted(h.limits.begin(), h.limits.end()));
      EXPECT_NEAR(std::sqrt(h.sum_squares), m.w1_norm, 1e-4 * m.w1_norm);
      EXPECT_EQ(validation_values.at({"epoch_loss", step}), static_cast<float>(m.val_loss));
      EXPECT_EQ(validation_values.at({"epoch_accuracy", step}), static_cast<float>(m.val_accuracy));
      EXPECT_EQ(validation_values.at({"epoch_data_loss", step}),
                static_cast<float>(m.val_data_loss));
    }

    // Keras' CSVLogger format beside the run's TensorBoard folder.
    std::ifstream csv(dir / "tensorboard" / (run_name(run.spec) + ".csv"));
    std::string line;
    std::getline(csv, line);
    EXPECT_EQ(line, "epoch,accuracy,loss,val_accuracy,val_loss");
    for (const EpochMetrics& m : run.history) {
      std::getline(csv, line);
      EXPECT_EQ(line, fmt::format("{},{},{},{},{}", m.epoch - 1, m.accuracy, m.loss, m.val_accuracy,
                                  m.val_loss));
    }
  }
  EXPECT_EQ(run_name(results[1].spec), "l2-0.001_seed-5");
}

}  // namespace
}  // namespace l2sweep
