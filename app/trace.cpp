// l2sweep_trace: one run's first epochs, exported for a peer to replay step by step.
//
// scripts/keras_check.py feeds what this writes (the initial weights, each epoch's batch order,
// the weights after each of the first steps and after each epoch, and the epochs' metrics) to
// real Keras and checks that Keras' own Adam, AdamW and L2 updates land on the same weights,
// through train_on_batch step by step and through fit() epoch by epoch; and, for Dropout, whose
// masks come from another generator in Keras, the weights after the epoch under several mask
// streams, to compare as distributions. It trains with the library's Trainer and engines, as a
// sweep does.
#include <fmt/format.h>
#include <torch/torch.h>

#include <cstdio>
#include <cxxopts.hpp>
#include <exception>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "l2sweep/base/error.h"
#include "l2sweep/base/exit_codes.h"
#include "l2sweep/base/files.h"
#include "l2sweep/base/json.h"
#include "l2sweep/base/parse.h"
#include "l2sweep/base/publish.h"
#include "l2sweep/config/options.h"
#include "l2sweep/config/sweep_config.h"
#include "l2sweep/data/data.h"
#include "l2sweep/sweep/plan.h"
#include "l2sweep/train/data_order.h"
#include "l2sweep/train/dropout.h"
#include "l2sweep/train/model.h"
#include "l2sweep/train/trainer.h"

namespace {

namespace fs = std::filesystem;
using l2sweep::Json;

/// The model's four parameters (W1, b1, W2, b2, LibTorch's layout) as one float32 buffer.
torch::Tensor flat_parameters(const torch::nn::Sequential& model) {
  std::vector<torch::Tensor> pieces;
  for (const auto& p :
       {l2sweep::first_linear(model)->weight, l2sweep::first_linear(model)->bias,
        l2sweep::second_linear(model)->weight, l2sweep::second_linear(model)->bias}) {
    pieces.push_back(p.detach().to(torch::kCPU, torch::kFloat32).reshape({-1}));
  }
  return torch::cat(pieces);
}

/// A tensor's bytes, as a raw file of the trace holds them.
std::string raw_bytes(const torch::Tensor& tensor) {
  const torch::Tensor t = tensor.contiguous();
  return std::string(static_cast<const char*>(t.data_ptr()),
                     static_cast<size_t>(t.numel()) * t.element_size());
}

/// The options a sweep has too, read by the sweep's own table (l2sweep/config/options.h):
/// the same parsing, messages and ranges.
constexpr const char* kSharedOptions[] = {
    "l2",         "dropout",  "weight-decay", "adam",   "lr",     "seed",   "batch-size",
    "train-size", "val-size", "data-dir",     "engine", "epochs", "shuffle"};

/// What the command line asks this tool for.
struct TraceRequest {
  l2sweep::SweepConfig config;
  fs::path out;
  int64_t record_steps = 0;  ///< weights after each of the first N steps of epoch 1
  int64_t mask_seeds = 0;    ///< with Dropout: epoch 1 under N other mask streams
};

cxxopts::Options trace_options(const l2sweep::SweepConfig& defaults) {
  cxxopts::Options options("l2sweep_trace",
                           "Exports one run's first epochs for scripts/keras_check.py");
  auto adder = options.add_options();
  for (const char* name : kSharedOptions) {
    const l2sweep::SweepOption* option = l2sweep::find_sweep_option(name);
    adder(name, l2sweep::with_engine_choices(option->help),
          cxxopts::value<std::string>()->default_value(option->format(defaults)));
  }
  adder("out", "new or empty folder to write", cxxopts::value<std::string>())(
      "record-steps", "weights after each of the first N steps",
      cxxopts::value<std::string>()->default_value("0"))(
      "mask-seeds", "with Dropout: one epoch under each of N other mask streams",
      cxxopts::value<std::string>()->default_value("0"))("help", "print this and exit");
  return options;
}

/// The request on the command line, validated; nullopt after printing --help.
std::optional<TraceRequest> parse_request(int argc, char** argv) {
  TraceRequest request;
  l2sweep::SweepConfig& config = request.config;  // this tool's defaults: one run, 2,000
  config.l2_strengths = {0};                      // images, Keras' Adam, the fused engine
  config.train_size = 2000;
  config.adam = l2sweep::AdamVariant::kKeras;
  config.engine = "fused";
  config.epochs = 1;
  cxxopts::Options options = trace_options(config);
  cxxopts::ParseResult args;
  try {
    args = options.parse(argc, argv);
  } catch (const std::exception& e) {
    throw l2sweep::usage_error("{}; see l2sweep_trace --help", e.what());
  }
  if (args.count("help") != 0) {
    std::fputs(options.help().c_str(), stdout);
    return std::nullopt;
  }
  if (!args.unmatched().empty()) {
    throw l2sweep::usage_error("'{}': expected options only; see l2sweep_trace --help",
                               args.unmatched().front());
  }
  if (args.count("out") == 0 || args["out"].as<std::string>().empty()) {
    throw l2sweep::usage_error("--out: expected a new or empty folder");
  }
  request.out = args["out"].as<std::string>();
  for (const char* name : kSharedOptions) {
    if (args.count(name) != 0) {
      l2sweep::find_sweep_option(name)->parse(config, args[name].as<std::string>());
    }
  }
  const auto count = [&](const char* name) {
    const std::string text = args[name].as<std::string>();
    const auto value = l2sweep::parse_int64(text);
    if (!value || *value < 0) {
      throw l2sweep::usage_error("--{} '{}': expected a count >= 0", name, text);
    }
    return *value;
  };
  request.record_steps = count("record-steps");
  request.mask_seeds = count("mask-seeds");
  for (const auto& [name, values] :
       {std::pair{"l2", &config.l2_strengths}, std::pair{"dropout", &config.dropout_rates},
        std::pair{"weight-decay", &config.weight_decays}}) {
    if (values->size() != 1) {
      throw l2sweep::usage_error("--{}: expected one value (this tool traces one run)", name);
    }
  }
  if (config.l2_search) throw l2sweep::usage_error("--l2 auto: expected one strength");
  if (config.engine == "auto") config.engine = "fused";  // the CPU's engine
  config.validate();
  return request;
}

/// The files of a trace, collected before the folder is published whole.
class TraceFiles {
 public:
  void add_raw(const char* name, const torch::Tensor& tensor) {
    files_.emplace_back(name, raw_bytes(tensor));
  }
  void add_text(const char* name, std::string text) { files_.emplace_back(name, std::move(text)); }
  const std::vector<l2sweep::PublishedFile>& files() const { return files_; }

  /// Every file a trace may write, for check_publishable before training.
  static std::vector<l2sweep::PublishedFile> names() {
    return {{"initial.f32", ""}, {"order.i64", ""},       {"steps.f32", ""},    {"epochs.f32", ""},
            {"final.f32", ""},   {"mask_finals.f32", ""}, {"manifest.json", ""}};
  }

 private:
  std::vector<l2sweep::PublishedFile> files_;
};

/// What the epochs themselves gave: the steps recorded and each epoch's running metrics.
struct EpochTrace {
  int64_t recorded_steps = 0;
  Json epoch_metrics = Json::array();
};

/// The epochs as a sweep trains them: the initial weights, every epoch's order, the weights
/// after each of the first `record` steps of epoch 1 and after every epoch.
EpochTrace trace_epochs(const l2sweep::Plan& plan, const l2sweep::Datasets& data, int64_t record,
                        TraceFiles& files) {
  const l2sweep::Cohort& unit = plan.units.at(0);
  const l2sweep::TrainOptions train = l2sweep::train_options(plan, unit.seed);
  // The orders the Trainer draws, from a DataOrder of its own with the same seed and mode.
  l2sweep::DataOrder data_order(train.shuffle_seed, train.shuffle);
  std::vector<torch::Tensor> orders;
  for (int64_t epoch = 0; epoch < plan.config.epochs; ++epoch) {
    orders.push_back(data_order.next(data.train.size()));
  }
  std::vector<l2sweep::Member> members = l2sweep::make_members(unit, plan, data);
  torch::nn::Sequential model = members.at(0).model;
  files.add_raw("initial.f32", flat_parameters(model));
  files.add_raw("order.i64", torch::cat(orders));
  std::vector<torch::Tensor> steps;
  std::vector<torch::Tensor> after_epochs;
  EpochTrace trace;
  l2sweep::Trainer trainer(std::move(members), train, torch::kCPU);
  for (int64_t epoch = 1; epoch <= plan.config.epochs; ++epoch) {
    l2sweep::EpochControl control;
    control.on_batch = [&](int64_t done, int64_t) {
      if (epoch == 1 && done <= record) steps.push_back(flat_parameters(model));
    };
    const l2sweep::TrainMetrics metrics = trainer.train_epoch(data.train, control).at(0);
    after_epochs.push_back(flat_parameters(model));
    Json row = Json::object();
    row["loss"] = metrics.loss;
    row["accuracy"] = metrics.accuracy;
    trace.epoch_metrics.push_back(row);
  }
  files.add_raw("steps.f32", steps.empty() ? torch::empty({0}) : torch::stack(steps));
  files.add_raw("epochs.f32", torch::stack(after_epochs));
  files.add_raw("final.f32", flat_parameters(model));
  trace.recorded_steps = static_cast<int64_t>(steps.size());
  return trace;
}

/// Dropout under `mask_seeds` other mask streams: epoch 1 from the same weights and order.
void trace_mask_streams(const l2sweep::Plan& plan, const l2sweep::Datasets& data,
                        int64_t mask_seeds, TraceFiles& files) {
  const l2sweep::Cohort& unit = plan.units.at(0);
  const l2sweep::TrainOptions train = l2sweep::train_options(plan, unit.seed);
  std::vector<torch::Tensor> finals;
  for (int64_t m = 0; m < mask_seeds; ++m) {
    std::vector<l2sweep::Member> replicas = l2sweep::make_members(unit, plan, data);
    torch::nn::Sequential replica = replicas.at(0).model;
    l2sweep::Trainer again(std::move(replicas), train, torch::kCPU);
    l2sweep::EpochControl masks;
    masks.dropout_noise =
        l2sweep::dropout_noise(train.shuffle_seed + 1000 + static_cast<uint64_t>(m), 1,
                               data.train.size(), l2sweep::kHiddenUnits);
    again.train_epoch(data.train, masks);
    finals.push_back(flat_parameters(replica));
  }
  if (!finals.empty()) files.add_raw("mask_finals.f32", torch::stack(finals));
}

Json manifest_of(const l2sweep::Plan& plan, const l2sweep::Datasets& data, const EpochTrace& trace,
                 int64_t mask_seeds) {
  const l2sweep::SweepConfig& config = plan.config;
  Json manifest = Json::object();
  manifest["train_examples"] = data.train.size();
  manifest["val_examples"] = data.val.size();
  manifest["input_features"] = data.input_features();
  manifest["hidden_units"] = l2sweep::kHiddenUnits;
  manifest["classes"] = data.num_classes;
  manifest["seed"] = plan.units.at(0).seed;
  manifest["l2"] = config.l2_strengths[0];
  manifest["dropout"] = config.dropout_rates[0];
  manifest["weight_decay"] = config.weight_decays[0];
  manifest["adam"] = l2sweep::to_string(config.adam);
  manifest["engine"] = plan.engine->name;
  manifest["lr"] = config.learning_rate;
  manifest["batch_size"] = config.batch_size;
  manifest["recorded_steps"] = trace.recorded_steps;
  manifest["mask_seeds"] = mask_seeds;
  // mask_finals.f32: each stream trains from the initial weights over epoch 1 only.
  manifest["mask_epochs"] = 1;
  manifest["epochs"] = config.epochs;
  manifest["shuffle"] = l2sweep::to_string(config.shuffle);
  manifest["epoch_metrics"] = trace.epoch_metrics;  // per epoch: the running loss and accuracy
  manifest["epoch_loss"] = trace.epoch_metrics.front()["loss"];
  manifest["epoch_accuracy"] = trace.epoch_metrics.front()["accuracy"];
  manifest["layout"] =
      "float32 W1 [hidden, inputs], b1 [hidden], W2 [classes, hidden], b2 [classes], "
      "concatenated; order.i64: each epoch's example indices, epoch after epoch; epochs.f32: "
      "the weights after each epoch";
  return manifest;
}

int run(int argc, char** argv) {
  const std::optional<TraceRequest> request = parse_request(argc, argv);
  if (!request) return 0;
  // One unit of one run, planned on the CPU as a sweep plans it: the same options reach the
  // engine (train_options) and the same model is built (make_members).
  const l2sweep::Plan plan = l2sweep::make_plan(request->config, torch::kCPU);
  const l2sweep::SweepConfig& config = plan.config;
  const l2sweep::Datasets data =
      l2sweep::load_datasets({config.data_dir, config.val_size, config.train_size});
  // Every file is collected first and the folder published whole (publish_folder); a folder
  // that cannot take them is refused before training.
  l2sweep::check_publishable(request->out, TraceFiles::names());
  TraceFiles files;
  const EpochTrace trace = trace_epochs(plan, data, request->record_steps, files);
  const int64_t mask_seeds = config.dropout_rates[0] > 0 ? request->mask_seeds : 0;
  trace_mask_streams(plan, data, mask_seeds, files);
  files.add_text("manifest.json", l2sweep::json_text(manifest_of(plan, data, trace, mask_seeds)));
  std::string command = "l2sweep_trace";
  for (int i = 1; i < argc; ++i) command += std::string(" ") + argv[i];
  l2sweep::publish_folder(request->out, files.files(), command);
  std::printf("wrote %s\n", request->out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const l2sweep::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return l2sweep::exit_code(e.kind());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
