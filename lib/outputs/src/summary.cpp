#include "l2sweep/outputs/summary.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "l2sweep/base/files.h"
#include "l2sweep/base/json.h"
#include "l2sweep/base/version.h"
#include "l2sweep/config/options.h"
#include "l2sweep/outputs/stats.h"
#include "l2sweep/train/adam.h"
#include "l2sweep/train/model.h"

namespace l2sweep {
namespace {

void write_config(JsonWriter& json, const SweepInfo& sweep) {
  json.key("config").begin_object();
  for (const SweepOption& option : sweep_options()) {
    if (option.summary_key == nullptr) continue;
    json.key(option.summary_key);
    option.record(json, sweep.config);
  }
  json.end_object();
}

void write_experiment(JsonWriter& json, const SweepInfo& sweep,
                      const std::vector<RunResult>& runs) {
  // The fixed parts of the experiment, so that the output alone says what was computed.
  json.key("experiment").begin_object();
  json.key("model").value(fmt::format("Flatten -> Linear({}, {}) -> ReLU -> Linear({}, {})",
                                      sweep.data.input_features(), kHiddenUnits, kHiddenUnits,
                                      sweep.data.num_classes));
  json.key("init").value("glorot_uniform weights, zero biases (Keras Dense defaults)");
  json.key("loss").value(
      "mean cross-entropy on logits + l2 * sum(W1^2), W1 = first Linear weight only");
  json.key("optimizer").begin_object();
  json.key("name").value(engine_description(sweep.engine, runs));
  json.key("lr").value(sweep.config.learning_rate);
  json.key("beta_1").value(kAdamBeta1);
  json.key("beta_2").value(kAdamBeta2);
  json.key("epsilon").value(kAdamEpsilon);
  json.end_object();
  json.key("shuffle").value("reshuffled every epoch from the seed; last partial batch kept");
  json.key("validation").value("the last val_size training examples");
  json.key("pixel_scaling").value("x / 255");
  json.end_object();
}

void write_dataset(JsonWriter& json, const DatasetInfo& data) {
  json.key("dataset").begin_object();
  json.key("files").begin_array();
  for (const auto& file : data.files) json.value(file);
  json.end_array();
  json.key("image_shape").begin_array();
  for (const int64_t size : data.image_shape) json.value(size);
  json.end_array();
  json.key("num_classes").value(data.num_classes);
  json.key("train_examples").value(data.train_examples);
  json.key("val_examples").value(data.val_examples);
  json.key("test_examples").value(data.test_examples);
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
    for (const EpochMetricField& field : kEpochMetricFields) {
      if (field.in_summary) json.key(field.name).value(last.*field.member);
    }
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
  json.key("engine").value(run.engine);
  json.end_object();
}

void write_strength(JsonWriter& json, const StrengthSummary& s) {
  json.begin_object();
  json.key("l2").value(s.l2);
  json.key("runs").value(s.runs);
  json.key("completed").value(s.completed);
  json.key("diverged").value(s.diverged);
  for (const StrengthStatField& field : kStrengthStatFields) {
    const SeedStats& stats = s.*field.member;
    json.key(field.name).begin_object();
    json.key("mean").value(stats.mean);
    json.key("std").value(stats.std);
    json.key("n").value(stats.n);
    json.end_object();
  }
  json.end_object();
}

}  // namespace

std::string engine_description(const std::string& planned, const std::vector<RunResult>& runs) {
  std::set<std::string> engines;
  for (const RunResult& run : runs) {
    if (!run.engine.empty()) engines.insert(run.engine);
  }
  if (engines.empty()) return planned;
  std::string text;
  for (const auto& engine : engines) text += (text.empty() ? "" : "; ") + engine;
  return engines.size() == 1 ? text : "mixed: " + text;
}

std::string summary_json(const SweepInfo& sweep, const std::vector<RunResult>& runs, bool finished,
                         std::optional<double> sweep_seconds) {
  JsonWriter json;
  json.begin_object();
  json.key("l2sweep_version").value(kVersion);
  json.key("libtorch_version").value(libtorch_version());
  json.key("device").value(sweep.device);
  json.key("command_line").value(sweep.command_line);
  json.key("started_at").value(sweep.started_at);
  json.key("finished").value(finished);
  json.key("sweep_seconds");
  if (sweep_seconds) {
    json.value(*sweep_seconds);
  } else {
    json.null();
  }
  write_config(json, sweep);
  write_experiment(json, sweep, runs);
  write_dataset(json, sweep.data);
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

void SummaryJsonWriter::on_sweep_begin(const SweepInfo& sweep) {
  sweep_ = sweep;
  runs_.clear();
  write_file_atomically(path_, summary_json(sweep_, runs_, /*finished=*/false));
}

void SummaryJsonWriter::on_run_end(const RunResult& result) {
  // Runs may finish out of order (--jobs); list them in the order they were planned.
  runs_.insert(std::upper_bound(runs_.begin(), runs_.end(), result,
                                [](const RunResult& a, const RunResult& b) {
                                  return a.spec.index < b.spec.index;
                                }),
               result);
  write_file_atomically(path_, summary_json(sweep_, runs_, /*finished=*/false));
}

void SummaryJsonWriter::on_sweep_end(const SweepOutcome& outcome) {
  if (outcome.interrupted) return;
  write_file_atomically(path_, summary_json(sweep_, runs_, /*finished=*/true, outcome.seconds));
}

}  // namespace l2sweep
