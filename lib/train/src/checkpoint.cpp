#include "l2sweep/train/checkpoint.h"

#include <fmt/format.h>
#include <torch/serialize/archive.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "l2sweep/base/error.h"
#include "l2sweep/base/files.h"

namespace l2sweep {
namespace fs = std::filesystem;
namespace {

/// Bumped whenever the layout of a checkpoint changes. Format 2 names the history's columns;
/// format 1 (l2sweep 0.1 before it) had the fixed columns kFormat1Columns.
constexpr int64_t kCheckpointFormat = 2;
constexpr const char* kFormat1Columns =
    "epoch,loss,accuracy,data_loss,val_loss,val_accuracy,val_data_loss,penalty,w1_norm,"
    "epoch_seconds";

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

}  // namespace

CheckpointStore::CheckpointStore(fs::path folder) : folder_(std::move(folder)) {
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
  archive.write("status", torch::tensor({static_cast<int64_t>(progress.status)}, torch::kInt64));
  archive.write("history", history_tensor(progress.history));
  archive.write("history_columns", c10::IValue(history_columns()));
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
  write_file_atomically(path_for(run), bytes.str());
}

std::optional<RunResult> CheckpointStore::load(const RunSpec& run, Trainer& trainer,
                                               size_t member) const {
  return read(run, &trainer, member);
}

std::optional<RunResult> CheckpointStore::progress(const RunSpec& run) const {
  return read(run, nullptr, 0);
}

std::optional<RunResult> CheckpointStore::read(const RunSpec& run, Trainer* trainer,
                                               size_t member) const {
  const fs::path path = path_for(run);
  if (!fs::exists(path)) {
    return std::nullopt;
  }
  RunResult result;
  result.spec = run;
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path.string());
    torch::Tensor format, l2, seed, status, history, train_seconds, test;
    archive.read("format", format);
    const auto version = format.item<int64_t>();
    if (version != kCheckpointFormat && version != 1) {
      throw data_error("{}: checkpoint format {}; expected 1 or {}", path.string(), version,
                       kCheckpointFormat);
    }
    archive.read("run.l2", l2);
    archive.read("run.seed", seed);
    if (l2.item<double>() != run.l2 || seed.item<int64_t>() != static_cast<int64_t>(run.seed)) {
      throw data_error("{}: checkpoint of another run; expected l2 {} seed {}", path.string(),
                       run.l2, run.seed);
    }
    archive.read("status", status);
    archive.read("history", history);
    archive.read("train_seconds", train_seconds);
    archive.read("test", test);
    std::string columns = kFormat1Columns;
    if (version > 1) {
      c10::IValue names;
      archive.read("history_columns", names);
      columns = names.toStringRef();
    }
    const auto code = status.item<int64_t>();
    TORCH_CHECK(code >= 0 && code <= static_cast<int64_t>(RunStatus::kInterrupted),
                "unknown run status ", code);
    result.status = static_cast<RunStatus>(code);
    result.history = history_rows(history, columns);
    result.train_seconds = train_seconds.item<double>();
    c10::IValue device;
    if (archive.try_read("device", device) && device.isString()) {
      result.device = device.toStringRef();
    }
    c10::IValue engine;
    if (archive.try_read("engine_description", engine) && engine.isString()) {
      result.engine = engine.toStringRef();
    }
    if (test[0].item<double>() != 0) {
      EvalMetrics metrics;
      metrics.loss = test[1].item<double>();
      metrics.data_loss = test[2].item<double>();
      metrics.penalty = test[3].item<double>();
      metrics.accuracy = test[4].item<double>();
      result.test = metrics;
    }
    if (trainer != nullptr) trainer->load_state(member, archive);
  } catch (const Error& e) {
    throw Error(e.kind(), fmt::format("{}: {}", path.string(), e.what()));
  } catch (const c10::Error& e) {
    std::string message = e.what_without_backtrace();
    message = message.substr(0, message.find('\n'));
    throw data_error("{}: damaged checkpoint ({}); delete it to retrain that run from scratch",
                     path.string(), message);
  }
  return result;
}

}  // namespace l2sweep
