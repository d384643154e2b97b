#include "l2sweep/outputs.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include "l2sweep/error.h"
#include "l2sweep/json.h"
#include "l2sweep/model.h"
#include "l2sweep/stats.h"
#include "l2sweep/train.h"
#include "l2sweep/version.h"

namespace l2sweep {
namespace fs = std::filesystem;

std::string utc_now(const char* format) {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[64];
  const size_t length = std::strftime(text, sizeof(text), format, &utc);
  return {text, length};
}

fs::path default_output_folder() { return fs::path("runs") / utc_now("%Y%m%dT%H%M%SZ"); }

void prepare_output_folder(const fs::path& folder) {
  std::error_code error;
  if (fs::exists(folder, error)) {
    if (!fs::is_directory(folder, error)) {
      throw output_error("--out {}: exists and is not a folder; expected a new or empty folder",
                         folder.string());
    }
    if (!fs::is_empty(folder, error)) {
      throw output_error(
          "--out {}: folder is not empty; choose a new folder (results are never overwritten)",
          folder.string());
    }
  }
  fs::create_directories(folder, error);
  if (error) {
    throw output_error("--out {}: cannot create folder ({})", folder.string(), error.message());
  }
}

void write_file_atomically(const fs::path& path, const std::string& content) {
  // A temporary name of its own: shards of one sweep write the same sweep.cfg at once.
  static std::atomic<int> counter{0};
  const fs::path temporary =
      fmt::format("{}.tmp.{}.{}", path.string(), ::getpid(), counter.fetch_add(1));
  std::FILE* file = std::fopen(temporary.c_str(), "wb");
  if (file == nullptr) {
    throw output_error("{}: cannot write ({})", temporary.string(), std::strerror(errno));
  }
  const bool written = std::fwrite(content.data(), 1, content.size(), file) == content.size() &&
                       std::fflush(file) == 0 && ::fsync(fileno(file)) == 0;
  const int write_errno = errno;
  const bool closed = std::fclose(file) == 0;
  if (!written || !closed) {
    std::remove(temporary.c_str());
    throw output_error("{}: write failed ({})", path.string(),
                       std::strerror(written ? errno : write_errno));
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int rename_errno = errno;
    std::remove(temporary.c_str());
    throw output_error("{}: cannot replace ({})", path.string(), std::strerror(rename_errno));
  }
}

AppendOnlyFile::AppendOnlyFile(fs::path path, bool append) : path_(std::move(path)) {
  file_ = std::fopen(path_.c_str(), append ? "ab" : "wb");
  if (file_ == nullptr) {
    throw output_error("{}: cannot create ({})", path_.string(), std::strerror(errno));
  }
}

AppendOnlyFile::~AppendOnlyFile() { std::fclose(file_); }

void AppendOnlyFile::append(std::string_view chunk) {
  if (std::fwrite(chunk.data(), 1, chunk.size(), file_) != chunk.size() ||
      std::fflush(file_) != 0) {
    throw output_error("{}: write failed ({})", path_.string(), std::strerror(errno));
  }
}

MetricsCsvWriter::MetricsCsvWriter(fs::path path) : file_(std::move(path)) {
  file_.append(fmt::format("{}\n", kMetricsCsvHeader));
}

MetricsCsvWriter::MetricsCsvWriter(fs::path path, const std::vector<std::string>& rows)
    : file_(
          [&] {
            std::string content = fmt::format("{}\n", kMetricsCsvHeader);
            for (const auto& row : rows) content += row;
            write_file_atomically(path, content);
            return path;
          }(),
          /*append=*/true) {}

std::string metrics_csv_row(const RunSpec& run, const EpochMetrics& m) {
  return fmt::format("{},{},{},{},{},{},{},{},{},{},{},{}\n", run.l2, run.seed, m.epoch, m.loss,
                     m.accuracy, m.val_loss, m.val_accuracy, m.data_loss, m.val_data_loss,
                     m.penalty, m.w1_norm, m.epoch_seconds);
}

void MetricsCsvWriter::on_epoch_end(const RunSpec& run, const EpochMetrics& m) {
  // One whole row per write, flushed at once: a crash never leaves a partial epoch.
  file_.append(metrics_csv_row(run, m));
}

void KerasCsvLogger::on_run_start(const RunSpec& run, int64_t /*epochs*/) {
  auto& file = files_[run.index];
  file = std::make_unique<AppendOnlyFile>(folder_ / (run_name(run) + ".csv"));
  file->append(fmt::format("{}\n", kKerasCsvHeader));
}

void KerasCsvLogger::on_epoch_end(const RunSpec& run, const EpochMetrics& m) {
  files_.at(run.index)->append(
      fmt::format("{},{},{},{},{}\n", m.epoch - 1, m.accuracy, m.loss, m.val_accuracy, m.val_loss));
}

void KerasCsvLogger::on_run_end(const RunResult& result) { files_.erase(result.spec.index); }

namespace {

void write_config(JsonWriter& json, const SweepContext& context) {
  const SweepConfig& config = context.config;
  json.key("config").begin_object();
  json.key("l2").begin_array();
  for (const double l2 : config.l2_strengths) json.value(l2);
  json.end_array();
  json.key("epochs").value(config.epochs);
  json.key("batch_size").value(config.batch_size);
  json.key("lr").value(config.learning_rate);
  json.key("seed").value(config.seed);
  json.key("seeds").value(config.seeds);
  json.key("val_size").value(config.val_size);
  json.key("train_size");
  if (config.train_size) {
    json.value(*config.train_size);
  } else {
    json.null();
  }
  json.key("data_dir").value(config.data_dir);
  json.key("out").value(context.out_dir);
  json.key("device").value(config.device);
  json.key("jobs").value(config.jobs);
  json.key("engine").value(config.engine);
  json.key("cuda_graphs").value(config.cuda_graphs);
  json.end_object();
}

void write_experiment(JsonWriter& json, const SweepContext& context) {
  // The fixed parts of the experiment, so that the output alone says what was computed.
  int64_t input_features = 1;
  for (const int64_t size : context.image_shape) input_features *= size;
  json.key("experiment").begin_object();
  json.key("model").value(fmt::format("Flatten -> Linear({}, {}) -> ReLU -> Linear({}, {})",
                                      input_features, kHiddenUnits, kHiddenUnits,
                                      context.num_classes));
  json.key("init").value("glorot_uniform weights, zero biases (Keras Dense defaults)");
  json.key("loss").value(
      "mean cross-entropy on logits + l2 * sum(W1^2), W1 = first Linear weight only");
  json.key("optimizer").begin_object();
  // Every engine performs torch::optim::Adam's update (config.h, --engine).
  // context.device is "cpu", "cuda:N", or "mixed" for shards merged from both.
  const torch::Device device(context.device.rfind("cuda", 0) == 0 ? torch::kCUDA : torch::kCPU);
  json.key("name").value(describe(resolve_engine(context.config, device)));
  json.key("lr").value(context.config.learning_rate);
  json.key("beta_1").value(kAdamBeta1);
  json.key("beta_2").value(kAdamBeta2);
  json.key("epsilon").value(kAdamEpsilon);
  json.end_object();
  json.key("shuffle").value("reshuffled every epoch from the seed; last partial batch kept");
  json.key("validation").value("the last val_size training examples");
  json.key("pixel_scaling").value("x / 255");
  json.end_object();

  json.key("dataset").begin_object();
  json.key("files").begin_array();
  for (const auto& file : context.data_files) json.value(file);
  json.end_array();
  json.key("image_shape").begin_array();
  for (const int64_t size : context.image_shape) json.value(size);
  json.end_array();
  json.key("num_classes").value(context.num_classes);
  json.key("train_examples").value(context.train_examples);
  json.key("val_examples").value(context.val_examples);
  json.key("test_examples").value(context.test_examples);
  json.end_object();
}

void write_run(JsonWriter& json, const RunResult& run) {
  json.begin_object();
  json.key("l2").value(run.spec.l2);
  json.key("seed").value(run.spec.seed);
  json.key("status").value(to_string(run.status));
  json.key("epochs_completed").value(static_cast<int64_t>(run.history.size()));
  json.key("diverged_at_epoch");
  if (run.status == RunStatus::kDiverged) {
    json.value(run.history.back().epoch);
  } else {
    json.null();
  }
  if (!run.history.empty()) {
    const EpochMetrics& last = run.history.back();
    json.key("loss").value(last.loss);
    json.key("accuracy").value(last.accuracy);
    json.key("val_loss").value(last.val_loss);
    json.key("val_accuracy").value(last.val_accuracy);
    json.key("data_loss").value(last.data_loss);
    json.key("val_data_loss").value(last.val_data_loss);
    json.key("penalty").value(last.penalty);
    json.key("w1_norm").value(last.w1_norm);
    json.key("train_minus_val_accuracy").value(last.accuracy - last.val_accuracy);
  }
  if (const EpochMetrics* best = run.best_epoch()) {
    json.key("best_val_accuracy").value(best->val_accuracy);
    json.key("best_val_accuracy_epoch").value(best->epoch);
  }
  const EvalMetrics test = run.test.value_or(EvalMetrics{});
  json.key("test_loss").value(test.loss);
  json.key("test_data_loss").value(test.data_loss);
  json.key("test_accuracy").value(test.accuracy);
  json.key("train_seconds").value(run.train_seconds);
  json.end_object();
}

void write_stats(JsonWriter& json, const char* name, const SeedStats& stats) {
  json.key(name).begin_object();
  json.key("mean").value(stats.mean);
  json.key("std").value(stats.std);
  json.key("n").value(stats.n);
  json.end_object();
}

void write_strength(JsonWriter& json, const StrengthSummary& s) {
  json.begin_object();
  json.key("l2").value(s.l2);
  json.key("runs").value(s.runs);
  json.key("completed").value(s.completed);
  json.key("diverged").value(s.diverged);
  write_stats(json, "accuracy", s.accuracy);
  write_stats(json, "val_accuracy", s.val_accuracy);
  write_stats(json, "test_accuracy", s.test_accuracy);
  write_stats(json, "train_minus_val_accuracy", s.train_minus_val_accuracy);
  write_stats(json, "w1_norm", s.w1_norm);
  write_stats(json, "data_loss", s.data_loss);
  write_stats(json, "val_data_loss", s.val_data_loss);
  json.end_object();
}

}  // namespace

std::string summary_json(const SweepContext& context, const std::vector<RunResult>& runs,
                         bool finished) {
  JsonWriter json;
  json.begin_object();
  json.key("l2sweep_version").value(kVersion);
  json.key("libtorch_version").value(libtorch_version());
  json.key("device").value(context.device);
  json.key("command_line").value(context.command_line);
  json.key("started_at").value(context.started_at);
  json.key("finished").value(finished);
  json.key("sweep_seconds");
  if (context.sweep_seconds) {
    json.value(*context.sweep_seconds);
  } else {
    json.null();
  }
  write_config(json, context);
  write_experiment(json, context);
  json.key("runs").begin_array();
  for (const RunResult& run : runs) write_run(json, run);
  json.end_array();
  // Final-epoch statistics across seeds, per strength; std is the sample standard deviation
  // (n - 1), null with fewer than two completed seeds.
  json.key("strengths").begin_array();
  for (const StrengthSummary& strength : summarize_strengths(runs)) write_strength(json, strength);
  json.end_array();
  json.end_object();
  return json.str();
}

SummaryJsonWriter::SummaryJsonWriter(fs::path path, SweepContext context)
    : path_(std::move(path)), context_(std::move(context)) {
  write_file_atomically(path_, summary_json(context_, runs_, /*finished=*/false));
}

void SummaryJsonWriter::on_run_end(const RunResult& result) {
  // Runs may finish out of order (--jobs); list them in the order they were planned.
  runs_.insert(std::upper_bound(runs_.begin(), runs_.end(), result,
                                [](const RunResult& a, const RunResult& b) {
                                  return a.spec.index < b.spec.index;
                                }),
               result);
  write_file_atomically(path_, summary_json(context_, runs_, /*finished=*/false));
}

void SummaryJsonWriter::finish(std::optional<double> sweep_seconds) {
  context_.sweep_seconds = sweep_seconds;
  write_file_atomically(path_, summary_json(context_, runs_, /*finished=*/true));
}

}  // namespace l2sweep
