#include "l2sweep/config/options.h"

#include <fmt/format.h>

#include <regex>

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
    // + 0.0 turns -0 into 0, so that "-0" is the unregularised control, named "0".
    values.push_back(number(option, text.substr(begin, comma - begin)) + 0.0);
    if (comma == std::string::npos) return values;
    begin = comma + 1;
  }
}

std::string text_of(const std::vector<double>& values) {
  std::string text;
  for (const double value : values) text += (text.empty() ? "" : ",") + fmt::format("{}", value);
  return text;
}

/// "auto" or "auto:LOW:HIGH" -> the search; nullopt for anything else (a list of strengths).
std::optional<L2Search> search_of(const std::string& text) {
  if (text.rfind("auto", 0) != 0) {
    if (text.find("auto") != std::string::npos) {
      throw usage_error(
          "--l2 '{}': auto is the whole value (auto or auto:LOW:HIGH), not part of "
          "a list",
          text);
    }
    return std::nullopt;
  }
  L2Search search;
  if (text == "auto") return search;
  const size_t colon = text.find(':', 5);
  const auto low =
      colon == std::string::npos ? std::nullopt : parse_double(text.substr(5, colon - 5));
  const auto high =
      colon == std::string::npos ? std::nullopt : parse_double(text.substr(colon + 1));
  if (text[4] != ':' || !low || !high) {
    throw usage_error(
        "--l2 '{}': expected auto or auto:LOW:HIGH with two numbers, e.g. "
        "auto:1e-6:0.1",
        text);
  }
  search.low = *low;
  search.high = *high;
  return search;
}

/// An --engine value: a name (resolve_plan checks it against the engines there are).
std::string engine_of(const std::string& text) {
  static const std::regex kName("[a-z][a-z0-9-]{0,31}");
  if (!std::regex_match(text, kName)) {
    throw usage_error("--engine '{}': expected auto or an engine's name (see --help)", text);
  }
  return text;
}

/// A path option's value; paths are recorded in JSON, which holds UTF-8 text.
std::string utf8_path(const char* option, const std::string& text) {
  if (!is_utf8(text))
    throw usage_error("--{}: the path is not UTF-8; expected a UTF-8 path", option);
  return text;
}

Shard shard_of(const std::string& text) {
  const size_t slash = text.find('/');
  if (slash == std::string::npos) {
    throw usage_error("--shard '{}': expected INDEX/COUNT, e.g. 0/4", text);
  }
  return {integer("shard", text.substr(0, slash)), integer("shard", text.substr(slash + 1))};
}

/// What an option is, besides its name and functions.
enum Traits : unsigned {
  kRecorded = 0,              ///< only in summary.json (or nowhere)
  kDecidesNumbers = 1U << 0,  ///< in sweep.cfg and in every checkpoint
  kNamesRuns = 1U << 1,       ///< with kDecidesNumbers: in sweep.cfg only
  kIsFlag = 1U << 2,          ///< a switch without a value
};

SweepOption option(const char* name, const char* help, unsigned traits, const char* summary_key,
                   void (*parse)(SweepConfig&, const std::string&),
                   std::string (*format)(const SweepConfig&), Json (*record)(const SweepConfig&),
                   const char* unwritten_value = nullptr) {
  SweepOption o{name, help, (traits & kDecidesNumbers) != 0, summary_key, parse, format, record};
  o.is_flag = (traits & kIsFlag) != 0;
  o.names_runs = (traits & kNamesRuns) != 0;
  o.unwritten_value = unwritten_value;
  return o;
}

std::vector<SweepOption> make_options() {
  // Each parse names its own option in its messages: "--epochs 'abc': expected an integer".
  using C = SweepConfig;
  using T = const std::string&;
  return {
      option(
          "l2",
          "comma-separated L2 strengths (0 = unregularised control), or auto[:LOW:HIGH] to "
          "search the best one (default range 1e-6:0.1)",
          kDecidesNumbers | kNamesRuns, "l2",
          [](C& c, T t) {
            c.l2_search = search_of(t);
            if (!c.l2_search) c.l2_strengths = numbers("l2", t);
          },
          [](const C& c) {
            return c.l2_search ? fmt::format("auto:{}:{}", c.l2_search->low, c.l2_search->high)
                               : text_of(c.l2_strengths);
          },
          [](const C& c) -> Json {
            if (c.l2_search) return fmt::format("auto:{}:{}", c.l2_search->low, c.l2_search->high);
            return c.l2_strengths;
          }),
      option(
          "dropout",
          "comma-separated Keras Dropout rates after the hidden layer (0 = none); the sweep "
          "trains every combination of --l2, --dropout and --weight-decay",
          kDecidesNumbers | kNamesRuns, "dropout",
          [](C& c, T t) { c.dropout_rates = numbers("dropout", t); },
          [](const C& c) { return text_of(c.dropout_rates); },
          [](const C& c) -> Json { return c.dropout_rates; }, /*unwritten_value=*/"0"),
      option(
          "weight-decay",
          "comma-separated decoupled weight decays on the first layer's kernel, as AdamW's "
          "(0 = none): an alternative to the L2 term in the loss",
          kDecidesNumbers | kNamesRuns, "weight_decay",
          [](C& c, T t) { c.weight_decays = numbers("weight-decay", t); },
          [](const C& c) { return text_of(c.weight_decays); },
          [](const C& c) -> Json { return c.weight_decays; }, /*unwritten_value=*/"0"),
      option(
          "adam",
          "torch or keras: torch::optim::Adam's update, or Keras' (epsilon added to the "
          "uncorrected sqrt(v), \"epsilon hat\")",
          kDecidesNumbers, "adam",
          [](C& c, T t) {
            if (t != "torch" && t != "keras") {
              throw usage_error("--adam '{}': expected torch or keras", t);
            }
            c.adam = t == "keras" ? AdamVariant::kKeras : AdamVariant::kTorch;
          },
          [](const C& c) { return std::string(to_string(c.adam)); },
          [](const C& c) -> Json { return to_string(c.adam); }, /*unwritten_value=*/"torch"),
      option(
          "tune-metric",
          "what --l2 auto optimises: val_accuracy (final, maximised) or val_data_loss (final "
          "validation cross-entropy, minimised)",
          kRecorded, "tune_metric", [](C& c, T t) { c.tune_metric = t; },
          [](const C& c) { return c.tune_metric; },
          [](const C& c) -> Json { return c.tune_metric; }),
      option(
          "epochs", "epochs per run", kDecidesNumbers, "epochs",
          [](C& c, T t) { c.epochs = integer("epochs", t); },
          [](const C& c) { return fmt::format("{}", c.epochs); },
          [](const C& c) -> Json { return c.epochs; }),
      option(
          "batch-size", "examples per Adam step", kDecidesNumbers, "batch_size",
          [](C& c, T t) { c.batch_size = integer("batch-size", t); },
          [](const C& c) { return fmt::format("{}", c.batch_size); },
          [](const C& c) -> Json { return c.batch_size; }),
      option(
          "lr", "Adam learning rate", kDecidesNumbers, "lr",
          [](C& c, T t) { c.learning_rate = number("lr", t); },
          [](const C& c) { return fmt::format("{}", c.learning_rate); },
          [](const C& c) -> Json { return c.learning_rate; }),
      option(
          "seed", "seed for the initial weights and the batch orders", kDecidesNumbers | kNamesRuns,
          "seed",
          [](C& c, T t) {
            const auto seed = parse_uint64(t);
            if (!seed) throw usage_error("--seed '{}': expected an integer from 0 to 2^64-1", t);
            c.seed = *seed;
          },
          [](const C& c) { return fmt::format("{}", c.seed); },
          [](const C& c) -> Json { return c.seed; }),
      option(
          "shuffle",
          "each-epoch or once: a new batch order every epoch (Keras' fit as the seed script "
          "runs it), or one order per run replayed every epoch (Keras' fit after "
          "keras.utils.set_random_seed)",
          kDecidesNumbers, "shuffle",
          [](C& c, T t) {
            if (t != to_string(Shuffle::kEachEpoch) && t != to_string(Shuffle::kOnce)) {
              throw usage_error("--shuffle '{}': expected each-epoch or once", t);
            }
            c.shuffle = t == to_string(Shuffle::kOnce) ? Shuffle::kOnce : Shuffle::kEachEpoch;
          },
          [](const C& c) { return std::string(to_string(c.shuffle)); },
          [](const C& c) -> Json { return to_string(c.shuffle); },
          /*unwritten_value=*/"each-epoch"),
      option(
          "seeds", "train each strength with N seeds: seed .. seed+N-1",
          kDecidesNumbers | kNamesRuns, "seeds", [](C& c, T t) { c.seeds = integer("seeds", t); },
          [](const C& c) { return fmt::format("{}", c.seeds); },
          [](const C& c) -> Json { return c.seeds; }),
      option(
          "val-size", "the last N training examples are the validation set", kDecidesNumbers,
          "val_size", [](C& c, T t) { c.val_size = integer("val-size", t); },
          [](const C& c) { return fmt::format("{}", c.val_size); },
          [](const C& c) -> Json { return c.val_size; }),
      option(
          "train-size", "train on only the first N training examples (default: all the rest)",
          kDecidesNumbers, "train_size",
          [](C& c, T t) {
            c.train_size = t == "all" ? std::nullopt : std::optional(integer("train-size", t));
          },
          [](const C& c) {
            return c.train_size ? fmt::format("{}", *c.train_size) : std::string("all");
          },
          [](const C& c) -> Json { return c.train_size ? Json(*c.train_size) : Json(); }),
      option(
          "data-dir", "folder with the four MNIST-style IDX files, raw or .gz", kDecidesNumbers,
          "data_dir", [](C& c, T t) { c.data_dir = utf8_path("data-dir", t); },
          [](const C& c) { return c.data_dir; }, [](const C& c) -> Json { return c.data_dir; }),
      option(
          "out", "output folder, new or empty (default: runs/<UTC timestamp>)", kRecorded, "out",
          [](C& c, T t) {
            if (t.empty()) throw usage_error("--out: expected a folder, got an empty path");
            c.out_dir = utf8_path("out", t);
          },
          [](const C& c) { return c.out_dir; }, [](const C& c) -> Json { return c.out_dir; }),
      option(
          "device", "auto, cpu, cuda or cuda:N (auto picks CUDA when available)", kDecidesNumbers,
          "device", [](C& c, T t) { c.device = t; }, [](const C& c) { return c.device; },
          [](const C& c) -> Json { return c.device; }),
      option(
          "jobs",
          "cohorts (or slices of one) trained at once, each on one CPU thread and on a GPU its "
          "own stream (0: one per core; on a GPU one at a time)",
          kRecorded, "jobs", [](C& c, T t) { c.jobs = integer("jobs", t); },
          [](const C& c) { return fmt::format("{}", c.jobs); },
          [](const C& c) -> Json { return c.jobs; }),
      option(
          "engine", "{engines}: how steps are computed (auto: fused on the CPU, tensor on a GPU)",
          kDecidesNumbers, "engine", [](C& c, T t) { c.engine = engine_of(t); },
          [](const C& c) { return c.engine; }, [](const C& c) -> Json { return c.engine; }),
      option(
          "cuda-graphs",
          "on or off: replay each step from a captured CUDA graph (GPU only; off with --engine "
          "auto trains the straightforward autograd loop)",
          kDecidesNumbers, "cuda_graphs",
          [](C& c, T t) {
            if (t != "on" && t != "off") {
              throw usage_error("--cuda-graphs '{}': expected on or off", t);
            }
            c.cuda_graphs = t == "on";
          },
          [](const C& c) { return std::string(c.cuda_graphs ? "on" : "off"); },
          [](const C& c) -> Json { return c.cuda_graphs; },
          /*unwritten_value=*/"on"),
      option(
          "score-test",
          "on or off: score each run on the test set after its last epoch (--l2 auto's search "
          "rounds are off: only its chosen strengths are scored, once)",
          kDecidesNumbers, "score_test",
          [](C& c, T t) {
            if (t != "on" && t != "off") {
              throw usage_error("--score-test '{}': expected on or off", t);
            }
            c.score_test = t == "on";
          },
          [](const C& c) { return std::string(c.score_test ? "on" : "off"); },
          [](const C& c) -> Json { return c.score_test; },
          /*unwritten_value=*/"on"),
      option(
          "resume", "continue the sweep in --out from its checkpoints", kIsFlag, nullptr,
          [](C& c, T) { c.resume = true; },
          [](const C& c) { return std::string(c.resume ? "true" : ""); }, nullptr),
      option(
          "shard", "train only share INDEX/COUNT of the runs (default: from a Slurm array task)",
          kRecorded, nullptr, [](C& c, T t) { c.shard = shard_of(t); },
          [](const C& c) {
            return c.shard ? fmt::format("{}/{}", c.shard->index, c.shard->count) : std::string();
          },
          nullptr),
  };
}

}  // namespace

std::string current_value(const std::string& option, const std::string& text) {
  for (const RenamedValue& renamed : kRenamedValues) {
    if (option == renamed.option && text == renamed.was) return renamed.now;
  }
  return text;
}

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
