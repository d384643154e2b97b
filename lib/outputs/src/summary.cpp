#include "l2sweep/outputs/summary.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "l2sweep/base/files.h"
#include "l2sweep/base/json.h"
#include "l2sweep/base/version.h"
#include "l2sweep/config/options.h"
#include "l2sweep/outputs/recommendation.h"
#include "l2sweep/outputs/setting_summary.h"
#include "l2sweep/train/adam.h"
#include "l2sweep/train/model.h"

namespace l2sweep {
namespace {

Json experiment_json(const SweepInfo& sweep, const std::vector<RunResult>& runs) {
  // The fixed parts of the experiment, so that the output alone says what was computed.
  Json json = Json::object();
  json["model"] =
      fmt::format("Flatten -> Linear({}, {}) -> ReLU -> Linear({}, {})",
                  sweep.data.input_features(), kHiddenUnits, kHiddenUnits, sweep.data.num_classes);
  json["init"] = "glorot_uniform weights, zero biases (Keras Dense defaults)";
  json["loss"] = "mean cross-entropy on logits + l2 * sum(W1^2), W1 = first Linear weight only";
  Json optimizer = Json::object();
  optimizer["name"] = engine_description(sweep.engine, runs);
  optimizer["lr"] = sweep.config.learning_rate;
  optimizer["beta_1"] = kAdamBeta1;
  optimizer["beta_2"] = kAdamBeta2;
  optimizer["epsilon"] = kAdamEpsilon;
  json["optimizer"] = optimizer;
  json["shuffle"] = sweep.config.shuffle == Shuffle::kOnce
                        ? "one order per run drawn from the seed, replayed every epoch (as a "
                          "seeded Keras fit does); last partial batch kept"
                        : "reshuffled every epoch from the seed; last partial batch kept";
  json["validation"] = "the last val_size training examples";
  json["pixel_scaling"] = "x / 255";
  return json;
}

Json dataset_json(const DatasetInfo& data) {
  Json json = Json::object();
  json["files"] = data.files;
  json["image_shape"] = data.image_shape;
  json["num_classes"] = data.num_classes;
  json["train_examples"] = data.train_examples;
  json["val_examples"] = data.val_examples;
  json["test_examples"] = data.test_examples;
  json["fingerprint"] = data.fingerprint;
  return json;
}

Json run_json(const RunResult& run) {
  Json json = Json::object();
  json["name"] = run_name(run.spec);
  json["l2"] = run.spec.l2;
  json["dropout"] = run.spec.dropout;
  json["weight_decay"] = run.spec.weight_decay;
  json["seed"] = run.spec.seed;
  json["status"] = to_string(run.status);
  json["epochs_completed"] = run.history.size();
  json["diverged_at_epoch"] =
      run.status == RunStatus::kDiverged ? Json(run.history.back().epoch) : Json();
  if (!run.history.empty()) {
    const EpochMetrics& last = run.history.back();
    for (const EpochMetricField& field : kEpochMetricFields) {
      if (field.in_summary) json[field.name] = json_number(last.*field.member);
    }
    json["train_minus_val_accuracy"] = json_number(last.accuracy - last.val_accuracy);
  }
  if (const EpochMetrics* best = run.best_epoch()) {
    json["best_val_accuracy"] = json_number(best->val_accuracy);
    json["best_val_accuracy_epoch"] = best->epoch;
  }
  const EvalMetrics test = run.test.value_or(EvalMetrics{});
  json["test_loss"] = json_number(test.loss);
  json["test_data_loss"] = json_number(test.data_loss);
  json["test_accuracy"] = json_number(test.accuracy);
  json["train_seconds"] = json_number(run.train_seconds);
  json["engine"] = run.engine;
  return json;
}

Json setting_json(const SettingSummary& s) {
  Json json = Json::object();
  json["setting"] = setting_label(s.setting());
  json["l2"] = s.l2;
  json["dropout"] = s.dropout;
  json["weight_decay"] = s.weight_decay;
  json["runs"] = s.runs;
  json["completed"] = s.completed;
  json["diverged"] = s.diverged;
  for (const SettingStatField& field : kSettingStatFields) {
    if (!field.in_summary) continue;
    const SeedStats& stats = s.*field.member;
    Json entry = Json::object();
    entry["mean"] = json_number(stats.mean);
    entry["std"] = json_number(stats.std);
    entry["n"] = stats.n;
    json[field.name] = entry;
  }
  return json;
}

/// The recommendation for scripts: the answer, the setting to use, and the test behind it.
Json recommendation_json(const Recommendation& r, const std::vector<SettingSummary>& strengths) {
  const auto setting = [&](size_t index) -> Json {
    if (index == Recommendation::kNone) return Json();
    Json json = Json::object();
    json["l2"] = json_number(strengths[index].l2);
    json["dropout"] = json_number(strengths[index].dropout);
    json["weight_decay"] = json_number(strengths[index].weight_decay);
    json["name"] = setting_label(strengths[index].setting());
    return json;
  };
  Json json = Json::object();
  json["answer"] = answer_name(r.answer);
  json["headline"] = r.headline;
  json["use"] = setting(r.recommended);
  json["best"] = setting(r.best);
  json["one_se"] = setting(r.one_se);
  json["control"] = setting(r.control);
  json["compared_with"] = setting(r.other);
  Json test = Json::object();
  test["metric"] = "final val_accuracy, paired by seed";
  test["pairs"] = static_cast<int64_t>(r.test.pairs);
  test["difference"] = json_number(r.test.mean);
  test["p"] = json_number(r.test.p);
  test["seeds_needed"] = r.test.seeds_needed ? Json(*r.test.seeds_needed) : Json();
  json["test"] = test;
  json["evidence"] = r.evidence;
  json["command_with_control"] = r.command.empty() ? Json() : Json(r.command);
  return json;
}

}  // namespace

Json config_json(const SweepConfig& config) {
  Json json = Json::object();
  for (const SweepOption& option : sweep_options()) {
    if (option.summary_key != nullptr) json[option.summary_key] = option.record(config);
  }
  return json;
}

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
  Json json = Json::object();
  json["l2sweep_version"] = kVersion;
  json["libtorch_version"] = libtorch_version();
  json["device"] = sweep.device;
  json["command_line"] = sweep.command_line;
  json["command_lines"] = sweep.command_lines.empty() ? std::vector<std::string>{sweep.command_line}
                                                      : sweep.command_lines;
  json["started_at"] = sweep.started_at;
  json["finished"] = finished;
  json["sweep_seconds"] = sweep_seconds ? json_number(*sweep_seconds) : Json();
  json["config"] = config_json(sweep.config);
  json["experiment"] = experiment_json(sweep, runs);
  json["dataset"] = dataset_json(sweep.data);
  json["runs"] = Json::array();
  for (const RunResult& run : runs) json["runs"].push_back(run_json(run));
  // Final-epoch statistics across seeds, per setting (l2, dropout, weight decay); std is the sample
  // standard deviation (n - 1), null with fewer than two completed seeds.
  json["strengths"] = Json::array();
  const std::vector<SettingSummary> strengths = summarize_settings(runs);
  for (const SettingSummary& strength : strengths) {
    json["strengths"].push_back(setting_json(strength));
  }
  json["recommendation"] =
      recommendation_json(recommend(strengths, sweep.config, sweep.data.num_classes), strengths);
  return json_text(json);
}

std::optional<double> SummaryJsonWriter::earlier() const {
  // While a resumed sweep trains, the seconds of the processes before it, so that a process
  // killed outright loses only its own.
  return sweep_.earlier_seconds > 0 ? std::optional<double>(sweep_.earlier_seconds) : std::nullopt;
}

void SummaryJsonWriter::on_sweep_begin(const SweepInfo& sweep) {
  sweep_ = sweep;
  runs_.clear();
  write_file_atomically(path_, summary_json(sweep_, runs_, /*finished=*/false, earlier()));
}

void SummaryJsonWriter::on_run_end(const RunResult& result) {
  // Runs may finish out of order (--jobs); list them in the order they were planned.
  runs_.insert(std::upper_bound(runs_.begin(), runs_.end(), result,
                                [](const RunResult& a, const RunResult& b) {
                                  return a.spec.index < b.spec.index;
                                }),
               result);
  write_file_atomically(path_, summary_json(sweep_, runs_, /*finished=*/false, earlier()));
}

void SummaryJsonWriter::on_sweep_end(const SweepOutcome& outcome) {
  // Interrupted too: the training time so far, which a --resume adds its own to.
  write_file_atomically(path_, summary_json(sweep_, runs_, /*finished=*/!outcome.interrupted,
                                            sweep_.earlier_seconds + outcome.seconds));
}

}  // namespace l2sweep
