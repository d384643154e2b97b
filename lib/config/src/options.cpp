#include "l2sweep/config/options.h"

#include <fmt/format.h>

#include "l2sweep/base/error.h"
#include "l2sweep/base/parse.h"

namespace l2sweep {
namespace {

int64_t integer(const char* option, const std::string& text) {
  if (const auto value = parse_int64(text)) return *value;
  throw usage_error("--{} '{}': expected an integer", option, text);
}

double number(const char* option, const std::string& text) {
  if (const auto value = parse_double(text)) return *value;
  throw usage_error("--{} '{}': expected a number", option, text);
}

std::vector<double> numbers(const char* option, const std::string& text) {
  std::vector<double> values;
  for (size_t begin = 0;;) {
    const size_t comma = text.find(',', begin);
    values.push_back(number(option, text.substr(begin, comma - begin)));
    if (comma == std::string::npos) return values;
    begin = comma + 1;
  }
}

std::string text_of(const std::vector<double>& values) {
  std::string text;
  for (const double value : values) text += (text.empty() ? "" : ",") + fmt::format("{}", value);
  return text;
}

std::optional<EngineKind> engine_of(const std::string& text) {
  for (const EngineKind kind : {EngineKind::kFused, EngineKind::kDevice, EngineKind::kAutograd}) {
    if (text == to_string(kind)) return kind;
  }
  if (text == "auto") return std::nullopt;
  throw usage_error("--engine '{}': expected auto, fused, device or autograd", text);
}

Shard shard_of(const std::string& text) {
  const size_t slash = text.find('/');
  if (slash == std::string::npos) {
    throw usage_error("--shard '{}': expected INDEX/COUNT, e.g. 0/4", text);
  }
  return {integer("shard", text.substr(0, slash)), integer("shard", text.substr(slash + 1))};
}

std::vector<SweepOption> make_options() {
  // Each parse names its own option in its messages: "--epochs 'abc': expected an integer".
  std::vector<SweepOption> options;
  options.push_back(
      {"l2", "comma-separated L2 strengths (0 = unregularised control)", true, "l2",
       [](SweepConfig& c, const std::string& t) { c.l2_strengths = numbers("l2", t); },
       [](const SweepConfig& c) { return text_of(c.l2_strengths); },
       [](JsonWriter& json, const SweepConfig& c) {
         json.begin_array();
         for (const double l2 : c.l2_strengths) json.value(l2);
         json.end_array();
       }});
  options.push_back({"epochs", "epochs per run", true, "epochs",
                     [](SweepConfig& c, const std::string& t) { c.epochs = integer("epochs", t); },
                     [](const SweepConfig& c) { return fmt::format("{}", c.epochs); },
                     [](JsonWriter& json, const SweepConfig& c) { json.value(c.epochs); }});
  options.push_back(
      {"batch-size", "examples per Adam step", true, "batch_size",
       [](SweepConfig& c, const std::string& t) { c.batch_size = integer("batch-size", t); },
       [](const SweepConfig& c) { return fmt::format("{}", c.batch_size); },
       [](JsonWriter& json, const SweepConfig& c) { json.value(c.batch_size); }});
  options.push_back(
      {"lr", "Adam learning rate", true, "lr",
       [](SweepConfig& c, const std::string& t) { c.learning_rate = number("lr", t); },
       [](const SweepConfig& c) { return fmt::format("{}", c.learning_rate); },
       [](JsonWriter& json, const SweepConfig& c) { json.value(c.learning_rate); }});
  options.push_back({"seed", "seed for the initial weights and the shuffles", true, "seed",
                     [](SweepConfig& c, const std::string& t) {
                       const auto seed = parse_uint64(t);
                       if (!seed)
                         throw usage_error("--seed '{}': expected an integer from 0 to 2^64-1", t);
                       c.seed = *seed;
                     },
                     [](const SweepConfig& c) { return fmt::format("{}", c.seed); },
                     [](JsonWriter& json, const SweepConfig& c) { json.value(c.seed); }});
  options.push_back({"seeds", "train each strength with N seeds: seed .. seed+N-1", true, "seeds",
                     [](SweepConfig& c, const std::string& t) { c.seeds = integer("seeds", t); },
                     [](const SweepConfig& c) { return fmt::format("{}", c.seeds); },
                     [](JsonWriter& json, const SweepConfig& c) { json.value(c.seeds); }});
  options.push_back(
      {"val-size", "the last N training examples are the validation set", true, "val_size",
       [](SweepConfig& c, const std::string& t) { c.val_size = integer("val-size", t); },
       [](const SweepConfig& c) { return fmt::format("{}", c.val_size); },
       [](JsonWriter& json, const SweepConfig& c) { json.value(c.val_size); }});
  options.push_back(
      {"train-size", "train on only the first N training examples (default: all the rest)", true,
       "train_size",
       [](SweepConfig& c, const std::string& t) {
         c.train_size = t == "all" ? std::nullopt : std::optional(integer("train-size", t));
       },
       [](const SweepConfig& c) {
         return c.train_size ? fmt::format("{}", *c.train_size) : std::string("all");
       },
       [](JsonWriter& json, const SweepConfig& c) {
         c.train_size ? json.value(*c.train_size) : json.null();
       }});
  options.push_back({"data-dir", "folder with the four MNIST-style IDX files, raw or .gz", true,
                     "data_dir", [](SweepConfig& c, const std::string& t) { c.data_dir = t; },
                     [](const SweepConfig& c) { return c.data_dir; },
                     [](JsonWriter& json, const SweepConfig& c) { json.value(c.data_dir); }});
  options.push_back({"out", "output folder, new or empty (default: runs/<UTC timestamp>)", false,
                     "out",
                     [](SweepConfig& c, const std::string& t) {
                       if (t.empty())
                         throw usage_error("--out: expected a folder, got an empty path");
                       c.out_dir = t;
                     },
                     [](const SweepConfig& c) { return c.out_dir; },
                     [](JsonWriter& json, const SweepConfig& c) { json.value(c.out_dir); }});
  options.push_back({"device", "auto, cpu, cuda or cuda:N (auto picks CUDA when available)", true,
                     "device", [](SweepConfig& c, const std::string& t) { c.device = t; },
                     [](const SweepConfig& c) { return c.device; },
                     [](JsonWriter& json, const SweepConfig& c) { json.value(c.device); }});
  options.push_back(
      {"jobs",
       "cohorts (or slices of one) trained at once, each on one CPU thread and on a GPU its own "
       "stream (0: one per core; on a GPU one per core with the device engine, else 1)",
       false, "jobs", [](SweepConfig& c, const std::string& t) { c.jobs = integer("jobs", t); },
       [](const SweepConfig& c) { return fmt::format("{}", c.jobs); },
       [](JsonWriter& json, const SweepConfig& c) { json.value(c.jobs); }});
  options.push_back(
      {"engine",
       "auto, fused, device or autograd: how steps are computed (auto: fused on the CPU, device "
       "on a GPU)",
       true, "engine", [](SweepConfig& c, const std::string& t) { c.engine = engine_of(t); },
       [](const SweepConfig& c) { return std::string(c.engine ? to_string(*c.engine) : "auto"); },
       [](JsonWriter& json, const SweepConfig& c) {
         json.value(c.engine ? to_string(*c.engine) : "auto");
       }});
  SweepOption graphs{
      "cuda-graphs",
      "on or off: replay each step from a captured CUDA graph (GPU only; off with --engine auto "
      "trains the straightforward autograd loop)",
      true,
      "cuda_graphs",
      [](SweepConfig& c, const std::string& t) {
        if (t != "on" && t != "off") throw usage_error("--cuda-graphs '{}': expected on or off", t);
        c.cuda_graphs = t == "on";
      },
      [](const SweepConfig& c) { return std::string(c.cuda_graphs ? "on" : "off"); },
      [](JsonWriter& json, const SweepConfig& c) { json.value(c.cuda_graphs); }};
  // Written only when off, so that sweeps saved before the option existed still resume.
  graphs.unwritten_value = "on";
  options.push_back(graphs);
  SweepOption resume{"resume",
                     "continue the sweep in --out from its checkpoints",
                     false,
                     nullptr,
                     [](SweepConfig& c, const std::string&) { c.resume = true; },
                     [](const SweepConfig& c) { return std::string(c.resume ? "true" : ""); },
                     nullptr};
  resume.is_flag = true;
  options.push_back(resume);
  options.push_back(
      {"shard", "train only share INDEX/COUNT of the runs (default: from a Slurm array task)",
       false, nullptr, [](SweepConfig& c, const std::string& t) { c.shard = shard_of(t); },
       [](const SweepConfig& c) {
         return c.shard ? fmt::format("{}/{}", c.shard->index, c.shard->count) : std::string();
       },
       nullptr});
  return options;
}

}  // namespace

const std::vector<SweepOption>& sweep_options() {
  static const std::vector<SweepOption> options = make_options();
  return options;
}

const SweepOption* find_sweep_option(const std::string& name) {
  for (const SweepOption& option : sweep_options()) {
    if (name == option.name) return &option;
  }
  return nullptr;
}

}  // namespace l2sweep
