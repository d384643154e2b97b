#include "l2sweep/train/checkpoint.h"

#include <fmt/format.h>
#include <torch/serialize/archive.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "l2sweep/base/crc32c.h"
#include "l2sweep/base/error.h"
#include "l2sweep/base/files.h"
#include "l2sweep/config/sweep_file.h"
#include "l2sweep/train/engine_registry.h"

namespace l2sweep {
namespace fs = std::filesystem;
namespace {

/// Bumped whenever the layout of a checkpoint changes. 4 records the run's Dropout rate and
/// weight decay, the epochs trained (the next epoch's dropout noise) and W1's histograms, and
/// may hold --adam keras state, which an older l2sweep must not continue with torch's update;
/// 3 wraps the archive in a checksummed header and records the run's settings; 2 named the
/// history's columns; 1 had the fixed columns kFormat1Columns. Formats 1 to 3 are still read
/// (their runs had no Dropout or weight decay).
constexpr int64_t kCheckpointFormat = 4;
constexpr const char* kFormat1Columns =
    "epoch,loss,accuracy,data_loss,val_loss,val_accuracy,val_data_loss,penalty,w1_norm,"
    "epoch_seconds";
/// The header: this text, then the payload's length (uint64) and CRC-32C (uint32), both
/// little-endian, then the payload (the LibTorch archive).
constexpr char kMagic[] = "l2sweep checkpoint\n";
constexpr size_t kMagicBytes = sizeof(kMagic) - 1;
constexpr size_t kHeaderBytes = kMagicBytes + sizeof(uint64_t) + sizeof(uint32_t);

/// "epoch" and then every metric of kEpochMetricFields, comma-separated: the history
/// tensor's columns.
std::string history_columns() {
  std::string columns = "epoch";
  for (const EpochMetricField& field : kEpochMetricFields) columns += std::string(",") + field.name;
  return columns;
}

std::vector<std::string> split_columns(const std::string& text) {
  std::vector<std::string> names;
  std::istringstream list(text);
  for (std::string name; std::getline(list, name, ',');) names.push_back(name);
  return names;
}

/// Each epoch's W1 histogram: min, max, num, sum, sum_squares, then the bucket counts.
constexpr int64_t kHistogramColumns = 5 + kHistogramBuckets;

torch::Tensor histogram_tensor(const std::vector<EpochMetrics>& history) {
  auto table =
      torch::zeros({static_cast<int64_t>(history.size()), kHistogramColumns}, torch::kFloat64);
  auto rows = table.accessor<double, 2>();
  for (size_t i = 0; i < history.size(); ++i) {
    const auto row = static_cast<int64_t>(i);
    const WeightHistogram& h = history[i].w1_histogram;
    const double head[5] = {h.min, h.max, h.num, h.sum, h.sum_squares};
    for (int64_t c = 0; c < 5; ++c) rows[row][c] = head[c];
    for (int b = 0; b < kHistogramBuckets; ++b) rows[row][5 + b] = h.counts[static_cast<size_t>(b)];
  }
  return table;
}

/// Puts the histograms of `table` (histogram_tensor's) into `history`.
void read_histograms(const torch::Tensor& table, std::vector<EpochMetrics>& history) {
  TORCH_CHECK(table.dim() == 2 && table.scalar_type() == torch::kFloat64 &&
                  table.size(0) == static_cast<int64_t>(history.size()) &&
                  table.size(1) == kHistogramColumns,
              "the weight histograms have the wrong shape");
  const auto rows = table.accessor<double, 2>();
  for (size_t i = 0; i < history.size(); ++i) {
    const auto row = static_cast<int64_t>(i);
    WeightHistogram& h = history[i].w1_histogram;
    h.min = rows[row][0];
    h.max = rows[row][1];
    h.num = rows[row][2];
    h.sum = rows[row][3];
    h.sum_squares = rows[row][4];
    for (int b = 0; b < kHistogramBuckets; ++b) h.counts[static_cast<size_t>(b)] = rows[row][5 + b];
  }
}

torch::Tensor history_tensor(const std::vector<EpochMetrics>& history) {
  const auto columns = static_cast<int64_t>(std::size(kEpochMetricFields)) + 1;
  auto table = torch::empty({static_cast<int64_t>(history.size()), columns}, torch::kFloat64);
  auto rows = table.accessor<double, 2>();
  for (size_t i = 0; i < history.size(); ++i) {
    const auto row = static_cast<int64_t>(i);
    rows[row][0] = static_cast<double>(history[i].epoch);
    int64_t column = 1;
    for (const EpochMetricField& field : kEpochMetricFields) {
      rows[row][column++] = history[i].*field.member;
    }
  }
  return table;
}

/// The history in `table`, whose columns are named by `column_names`. A metric the
/// checkpoint does not have (it was written before the metric existed) reads as NaN.
std::vector<EpochMetrics> history_rows(const torch::Tensor& table,
                                       const std::string& column_names) {
  const std::vector<std::string> names = split_columns(column_names);
  TORCH_CHECK(table.dim() == 2 && table.scalar_type() == torch::kFloat64 &&
                  table.size(1) == static_cast<int64_t>(names.size()) && !names.empty() &&
                  names[0] == "epoch",
              "the metrics table has the wrong shape");
  std::vector<EpochMetrics> history;
  const auto rows = table.accessor<double, 2>();
  for (int64_t i = 0; i < table.size(0); ++i) {
    EpochMetrics m;
    m.epoch = static_cast<int64_t>(rows[i][0]);
    for (const EpochMetricField& field : kEpochMetricFields) m.*field.member = std::nan("");
    for (size_t column = 1; column < names.size(); ++column) {
      if (const EpochMetricField* field = find_epoch_metric(names[column].c_str())) {
        m.*(field->member) = rows[i][static_cast<int64_t>(column)];
      }
    }
    history.push_back(m);
  }
  return history;
}

template <typename T>
void append_little_endian(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));  // x86-64 and aarch64 are little-endian
  out.append(bytes, sizeof(T));
}

template <typename T>
T read_little_endian(const std::string& in, size_t offset) {
  T value;
  std::memcpy(&value, in.data() + offset, sizeof(T));
  return value;
}

/// `payload` behind the checksummed header.
std::string with_header(const std::string& payload) {
  std::string bytes(kMagic, kMagicBytes);
  append_little_endian<uint64_t>(bytes, payload.size());
  append_little_endian<uint32_t>(bytes, crc32c(payload));
  return bytes + payload;
}

/// The archive in `bytes` after checking its header, and whether it had one (a file without
/// it is an archive of format 1 or 2, which had no checksum). Throws a data Error naming
/// `path`.
std::pair<std::string, bool> verified_payload(const std::string& bytes, const fs::path& path) {
  if (bytes.compare(0, kMagicBytes, kMagic) != 0) return {bytes, false};
  if (bytes.size() < kHeaderBytes) {
    throw data_error(
        "{}: damaged checkpoint (truncated header); delete it to retrain that run "
        "from scratch",
        path.string());
  }
  const auto length = read_little_endian<uint64_t>(bytes, kMagicBytes);
  const auto checksum = read_little_endian<uint32_t>(bytes, kMagicBytes + sizeof(uint64_t));
  if (length != bytes.size() - kHeaderBytes) {
    throw data_error(
        "{}: damaged checkpoint ({} bytes, its header says {}); delete it to retrain "
        "that run from scratch",
        path.string(), bytes.size(), length + kHeaderBytes);
  }
  std::string payload = bytes.substr(kHeaderBytes);
  if (crc32c(payload) != checksum) {
    throw data_error(
        "{}: damaged checkpoint (its CRC-32C does not match its bytes); delete it "
        "to retrain that run from scratch",
        path.string());
  }
  return {std::move(payload), true};
}

/// Refuses, before reading it whole, a checkpoint whose size is not the one its header
/// announces (a file grown or cut by something else).
void check_size_against_header(const fs::path& path) {
  std::error_code error;
  const auto size = fs::file_size(path, error);
  if (error)
    throw data_error("{}: cannot read the checkpoint ({})", path.string(), error.message());
  std::ifstream in(path, std::ios::binary);
  std::string header(kHeaderBytes, '\0');
  if (!in.read(header.data(), static_cast<std::streamsize>(kHeaderBytes)) ||
      header.compare(0, kMagicBytes, kMagic) != 0) {
    return;  // too short, or a format without the header: verified_payload says which
  }
  const auto length = read_little_endian<uint64_t>(header, kMagicBytes);
  if (length > size || length + kHeaderBytes != size) {
    const uint64_t announced = length > size ? length : length + kHeaderBytes;
    throw data_error(
        "{}: damaged checkpoint ({} bytes, its header says {}); delete it to retrain that run "
        "from scratch",
        path.string(), size, announced);
  }
}

int64_t read_integer(torch::serialize::InputArchive& archive, const char* key) {
  torch::Tensor value;
  archive.read(key, value);
  return value.item<int64_t>();
}

std::string read_string(torch::serialize::InputArchive& archive, const char* key) {
  c10::IValue value;
  if (!archive.try_read(key, value) || !value.isString()) return "";
  return value.toStringRef();
}

}  // namespace

CheckpointStore::CheckpointStore(fs::path folder, SweepConfig sweep, const EngineEntry* engine)
    : folder_(std::move(folder)),
      sweep_(std::move(sweep)),
      engine_(engine),
      legacy_sweep_(is_legacy_sweep_file(folder_.parent_path())) {
  create_folder(folder_);
}

fs::path CheckpointStore::path_for(const RunSpec& run) const {
  return folder_ / (run_name(run) + ".pt");
}

void CheckpointStore::save(const RunSpec& run, const RunResult& progress, const Trainer& trainer,
                           size_t member) const {
  torch::serialize::OutputArchive archive;
  archive.write("format", torch::tensor({kCheckpointFormat}, torch::kInt64));
  archive.write("run.l2", torch::tensor({run.l2}, torch::kFloat64));
  archive.write("run.seed", torch::tensor({static_cast<int64_t>(run.seed)}, torch::kInt64));
  archive.write("run.dropout", torch::tensor({run.dropout}, torch::kFloat64));
  archive.write("run.weight_decay", torch::tensor({run.weight_decay}, torch::kFloat64));
  archive.write("settings", c10::IValue(run_settings_text(sweep_)));
  archive.write("status", torch::tensor({static_cast<int64_t>(progress.status)}, torch::kInt64));
  archive.write("history", history_tensor(progress.history));
  archive.write("history_columns", c10::IValue(history_columns()));
  archive.write("w1_histograms", histogram_tensor(progress.history));
  archive.write("train_seconds", torch::tensor({progress.train_seconds}, torch::kFloat64));
  archive.write("device", c10::IValue(progress.device));
  archive.write("engine_description", c10::IValue(progress.engine));
  const EvalMetrics test = progress.test.value_or(EvalMetrics{});
  archive.write("test", torch::tensor({progress.test ? 1.0 : 0.0, test.loss, test.data_loss,
                                       test.penalty, test.accuracy},
                                      torch::kFloat64));
  trainer.save_state(member, archive);

  // Serialise in memory, then write with our own atomic writer: LibTorch's file writer
  // reports a failed write (a full disk) by throwing from a destructor, which aborts.
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomically(path_for(run), with_header(bytes.str()));
}

std::optional<RunResult> CheckpointStore::load(const RunSpec& run, Trainer& trainer,
                                               size_t member) const {
  return read(run, &trainer, member);
}

std::optional<RunResult> CheckpointStore::progress(const RunSpec& run) const {
  return read(run, nullptr, 0);
}

namespace {

/// The run's record in `archive` (format `version`), checked against the run and the sweep.
RunResult read_record(torch::serialize::InputArchive& archive, int64_t version, const RunSpec& run,
                      const SweepConfig& sweep) {
  torch::Tensor l2;
  archive.read("run.l2", l2);
  // Checkpoints from before --dropout and --weight-decay existed hold neither: both were 0.
  torch::Tensor dropout = torch::zeros({1}, torch::kFloat64);
  torch::Tensor decay = torch::zeros({1}, torch::kFloat64);
  archive.try_read("run.dropout", dropout);
  archive.try_read("run.weight_decay", decay);
  if (l2.item<double>() != run.l2 ||
      read_integer(archive, "run.seed") != static_cast<int64_t>(run.seed) ||
      dropout.item<double>() != run.dropout || decay.item<double>() != run.weight_decay) {
    throw data_error("checkpoint of another run; expected {} seed {}", setting_label(run),
                     run.seed);
  }
  if (version >= 3) {
    if (const auto difference = run_settings_difference(read_string(archive, "settings"), sweep)) {
      throw data_error("trained with {}; expected a checkpoint of this sweep", *difference);
    }
  }
  RunResult result;
  result.spec = run;
  const int64_t status = read_integer(archive, "status");
  TORCH_CHECK(status >= 0 && status <= static_cast<int64_t>(RunStatus::kInterrupted),
              "unknown run status ", status);
  result.status = static_cast<RunStatus>(status);
  torch::Tensor history, train_seconds, test;
  archive.read("history", history);
  result.history = history_rows(
      history, version > 1 ? read_string(archive, "history_columns") : kFormat1Columns);
  torch::Tensor histograms;
  if (archive.try_read("w1_histograms", histograms)) read_histograms(histograms, result.history);
  archive.read("train_seconds", train_seconds);
  result.train_seconds = train_seconds.item<double>();
  result.device = read_string(archive, "device");
  result.engine = read_string(archive, "engine_description");
  archive.read("test", test);
  TORCH_CHECK(test.numel() == 5, "the test metrics have the wrong shape");
  if (test[0].item<double>() != 0) {
    result.test = EvalMetrics{test[1].item<double>(), test[2].item<double>(),
                              test[3].item<double>(), test[4].item<double>()};
  }
  return result;
}

/// Throws a data Error unless `result`'s history agrees with its status for a sweep of
/// `epochs` epochs: epochs 1, 2, ... in order, all of them for a completed run (with its
/// test score when the sweep scores the test set), fewer for an interrupted one, at least one
/// for a diverged one.
void check_consistent(const RunResult& result, int64_t epochs, bool score_test) {
  const auto done = static_cast<int64_t>(result.history.size());
  for (int64_t i = 0; i < done; ++i) {
    if (result.history[static_cast<size_t>(i)].epoch != i + 1) {
      throw data_error("its epoch {} is numbered {}; expected a checkpoint written by l2sweep",
                       i + 1, result.history[static_cast<size_t>(i)].epoch);
    }
  }
  if (done > epochs) {
    throw data_error("it holds {} epochs, this sweep has {}; expected a checkpoint of this sweep",
                     done, epochs);
  }
  const bool consistent = result.status == RunStatus::kCompleted
                              ? done == epochs && result.test.has_value() == score_test
                          : result.status == RunStatus::kInterrupted ? done < epochs
                                                                     : done >= 1;
  if (!consistent) {
    throw data_error("it says {} after {} of {} epochs{}; expected a checkpoint of this sweep",
                     to_string(result.status), done, epochs,
                     result.status != RunStatus::kCompleted || done != epochs ? ""
                     : result.test                                            ? " with a test score"
                                   : " without a test score");
  }
}

}  // namespace

std::optional<RunResult> CheckpointStore::read(const RunSpec& run, Trainer* trainer,
                                               size_t member) const {
  const fs::path path = path_for(run);
  std::error_code error;
  if (!fs::exists(path, error)) return std::nullopt;
  check_size_against_header(path);
  const std::optional<std::string> bytes = read_text_file(path);
  if (!bytes) throw data_error("{}: cannot read the checkpoint", path.string());
  try {
    auto [bytes_read, checksummed] = verified_payload(*bytes, path);
    std::istringstream payload(std::move(bytes_read));
    torch::serialize::InputArchive archive;
    archive.load_from(payload);
    const int64_t version = read_integer(archive, "format");
    if (version < 1 || version > kCheckpointFormat) {
      throw data_error("checkpoint format {}; expected 1 to {}", version, kCheckpointFormat);
    }
    // Only a sweep begun by l2sweep 0.1 holds checkpoints without checksum and settings.
    if (!checksummed && (version >= 3 || !legacy_sweep_)) {
      throw data_error(
          "damaged checkpoint (format {} without its checksummed header{}); delete it to retrain "
          "that run from scratch",
          version, version >= 3 ? "" : ", in a sweep begun after checkpoints had one");
    }
    RunResult result = read_record(archive, version, run, sweep_);
    const std::string engine = read_string(archive, "engine");
    if (engine_ != nullptr && !engine.empty() && find_engine(engine) != engine_) {
      throw usage_error(
          "trained with --engine {}, but this command would continue it with --engine {}; resume "
          "with the --engine and --device the sweep started with",
          engine, engine_->name);
    }
    check_consistent(result, sweep_.epochs, sweep_.score_test);
    if (trainer != nullptr) trainer->load_state(member, archive);
    return result;
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.rfind(path.string(), 0) == 0) throw;
    throw Error(e.kind(), fmt::format("{}: {}", path.string(), what));
  } catch (const c10::Error& e) {
    std::string message = e.what_without_backtrace();
    message = message.substr(0, message.find('\n'));
    throw data_error("{}: damaged checkpoint ({}); delete it to retrain that run from scratch",
                     path.string(), message);
  } catch (const std::exception& e) {
    throw data_error("{}: damaged checkpoint ({}); delete it to retrain that run from scratch",
                     path.string(), e.what());
  }
}

}  // namespace l2sweep
