#include "l2sweep/config/options.h"

#include <fmt/format.h>

#include <regex>

#include "l2sweep/base/error.h"
#include "l2sweep/base/parse.h"

namespace l2sweep {
namespace {

/// Whether `text` is written as people write decimals: digits, a sign, and for a number a
/// point and an exponent; not " 2", "0x10", "inf" or "nan", which the C parsers also read.
bool plain_decimal(const std::string& text, bool fraction) {
  return !text.empty() &&
         text.find_first_not_of(fraction ? "0123456789+-.eE" : "0123456789+-") == std::string::npos;
}

int64_t integer(const char* option, const std::string& text) {
  if (const auto value = parse_int64(text); value && plain_decimal(text, false)) return *value;
  throw usage_error("--{} '{}': expected an integer", option, text);
}

double number(const char* option, const std::string& text) {
  if (const auto value = parse_double(text); value && plain_decimal(text, true)) return *value;
  throw usage_error("--{} '{}': expected a number", option, text);
}

std::vector<double> numbers(const char* option, const std::string& text) {
  if (text.find(' ') != std::string::npos) {
    throw usage_error(
        "--{} '{}': a list takes no spaces; expected numbers separated by commas, "
        "e.g. 0.001,0.01",
        option, text);
  }
  std::vector<double> values;
  for (size_t begin = 0;;) {
    const size_t comma = text.find(',', begin);
    if (comma == begin || begin == text.size()) {
      throw usage_error(
          "--{} '{}': an empty item; expected numbers separated by single commas, e.g. "
          "0.001,0.01",
          option, text);
    }
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

/// What people read about an option: --help's line, the reference's text, and the default
/// when SweepConfig{}'s value is not the whole truth.
struct Text {
  const char* help;
  const char* reference;
  const char* default_text = nullptr;
};

SweepOption option(const char* name, const char* value_name, const Text& text, unsigned traits,
                   const char* summary_key, void (*parse)(SweepConfig&, const std::string&),
                   std::string (*format)(const SweepConfig&), Json (*record)(const SweepConfig&),
                   const char* unwritten_value = nullptr) {
  SweepOption o{name,
                value_name,
                text.help,
                text.reference,
                text.default_text,
                (traits & kDecidesNumbers) != 0,
                summary_key,
                parse,
                format,
                record};
  o.is_flag = (traits & kIsFlag) != 0;
  o.names_runs = (traits & kNamesRuns) != 0;
  o.unwritten_value = unwritten_value;
  return o;
}

/// An on|off option's value.
bool on_off(const char* option, const std::string& text) {
  if (text != "on" && text != "off") {
    throw usage_error("--{} '{}': expected on or off", option, text);
  }
  return text == "on";
}

std::vector<SweepOption> make_options() {
  // Each parse names its own option in its messages: "--epochs 'abc': expected an integer".
  // Links in the references are relative to docs/, where docs/options.md lists them.
  using C = SweepConfig;
  using T = const std::string&;
  return {
      option(
          "l2", "LIST",
          {"comma-separated L2 strengths on the first Dense kernel (0: the unregularised "
           "control), or auto[:LOW:HIGH] to search the best one (range 1e-6:0.1)",
           "comma-separated L2 strengths, one run each. `0` is an unregularised control. "
           "`auto` or `auto:LOW:HIGH` (default `1e-6:0.1`) searches the best strength instead "
           "(see [Tuning the strength](tuning.md))"},
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
          "dropout", "RATES",
          {"comma-separated Keras Dropout rates after the hidden layer (0: none); the sweep "
           "trains every combination of --l2, --dropout and --weight-decay",
           "comma-separated Keras `Dropout(rate)` rates after the hidden layer, each in [0, 1). "
           "`0` is no Dropout layer. The sweep trains every combination of `--l2`, `--dropout` "
           "and `--weight-decay`, each with every seed; masks come from the run's seed and "
           "epoch, so every engine, cohort and `--resume` draws the same ones (see [L2, Dropout "
           "and weight decay](regularisers.md))"},
          kDecidesNumbers | kNamesRuns, "dropout",
          [](C& c, T t) { c.dropout_rates = numbers("dropout", t); },
          [](const C& c) { return text_of(c.dropout_rates); },
          [](const C& c) -> Json { return c.dropout_rates; }, /*unwritten_value=*/"0"),
      option(
          "weight-decay", "LIST",
          {"comma-separated decoupled weight decays on the first Dense kernel, as AdamW's (0: "
           "none): the alternative to the L2 term in the loss",
           "comma-separated decoupled weight decays on the first layer's kernel, as Keras' "
           "`AdamW(weight_decay=...)` and `torch::optim::AdamW` apply them (the kernel shrinks "
           "by `lr * wd` each step, outside the loss): the alternative to the L2 term. `lr * "
           "wd` must be below 1"},
          kDecidesNumbers | kNamesRuns, "weight_decay",
          [](C& c, T t) { c.weight_decays = numbers("weight-decay", t); },
          [](const C& c) { return text_of(c.weight_decays); },
          [](const C& c) -> Json { return c.weight_decays; }, /*unwritten_value=*/"0"),
      option(
          "adam", "torch|keras",
          {"the Adam update: torch::optim::Adam's, or Keras' own (epsilon on the uncorrected "
           "sqrt(v), \"epsilon hat\")",
           "the Adam update: `torch::optim::Adam`'s, or Keras' own (epsilon added to the "
           "uncorrected `sqrt(v)`, \"epsilon hat\"; see [Keras' Adam](regularisers.md))"},
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
          "tune-metric", "METRIC",
          {"what --l2 auto optimises: val_accuracy (maximised) or val_data_loss (validation "
           "cross-entropy, minimised)",
           "what `--l2 auto` optimises: `val_accuracy` (final validation accuracy, maximised) "
           "or `val_data_loss` (final validation cross-entropy without the penalty, minimised)"},
          kRecorded, "tune_metric", [](C& c, T t) { c.tune_metric = t; },
          [](const C& c) { return c.tune_metric; },
          [](const C& c) -> Json { return c.tune_metric; }),
      option(
          "epochs", "N", {"epochs per run", "epochs per run (1 to 100000)"}, kDecidesNumbers,
          "epochs", [](C& c, T t) { c.epochs = integer("epochs", t); },
          [](const C& c) { return fmt::format("{}", c.epochs); },
          [](const C& c) -> Json { return c.epochs; }),
      option(
          "batch-size", "N",
          {"examples per Adam step", "examples per Adam step. The last partial batch is kept"},
          kDecidesNumbers, "batch_size", [](C& c, T t) { c.batch_size = integer("batch-size", t); },
          [](const C& c) { return fmt::format("{}", c.batch_size); },
          [](const C& c) -> Json { return c.batch_size; }),
      option(
          "lr", "RATE", {"Adam's learning rate", "Adam's learning rate (> 0)"}, kDecidesNumbers,
          "lr", [](C& c, T t) { c.learning_rate = number("lr", t); },
          [](const C& c) { return fmt::format("{}", c.learning_rate); },
          [](const C& c) -> Json { return c.learning_rate; }),
      option(
          "seed", "N",
          {"seed of the initial weights, batch orders and Dropout masks (the same for every "
           "setting)",
           "seeds the initial weights, the batch orders and the Dropout masks. Every setting "
           "uses the same seed, so runs differ only by the regularisation"},
          kDecidesNumbers | kNamesRuns, "seed",
          [](C& c, T t) {
            const auto seed = parse_uint64(t);
            if (!seed) throw usage_error("--seed '{}': expected an integer from 0 to 2^64-1", t);
            c.seed = *seed;
          },
          [](const C& c) { return fmt::format("{}", c.seed); },
          [](const C& c) -> Json { return c.seed; }),
      option(
          "shuffle", "each-epoch|once",
          {"each-epoch: a new batch order every epoch (Keras' fit unseeded, as the seed script "
           "runs); once: one order replayed every epoch (fit after set_random_seed)",
           "the batch order. `each-epoch` draws a new permutation every epoch, as Keras' "
           "`fit(shuffle=True)` does in the seed script, which sets no seed. `once` draws one "
           "permutation per run and replays it every epoch, as `fit` does once "
           "`keras.utils.set_random_seed` was called: use it to reproduce a seeded Keras run "
           "(see [Data order](comparing.md#data-order-seeded-and-unseeded-keras))"},
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
          "seeds", "N",
          {"train each setting with N seeds: seed .. seed+N-1",
           "train each setting with seeds `seed .. seed+N-1`, and report mean and standard "
           "deviation across them",
           "1; 3 with --l2 auto"},
          kDecidesNumbers | kNamesRuns, "seeds", [](C& c, T t) { c.seeds = integer("seeds", t); },
          [](const C& c) { return fmt::format("{}", c.seeds); },
          [](const C& c) -> Json { return c.seeds; }),
      option(
          "val-size", "N",
          {"the last N training examples are the validation set",
           "the last N training examples form the validation set"},
          kDecidesNumbers, "val_size", [](C& c, T t) { c.val_size = integer("val-size", t); },
          [](const C& c) { return fmt::format("{}", c.val_size); },
          [](const C& c) -> Json { return c.val_size; }),
      option(
          "train-size", "N",
          {"train on only the first N training examples (quick runs)",
           "train on only the first N training examples (for quick runs); `all`: every example "
           "before the validation set",
           "all the rest"},
          kDecidesNumbers, "train_size",
          [](C& c, T t) {
            c.train_size = t == "all" ? std::nullopt : std::optional(integer("train-size", t));
          },
          [](const C& c) {
            return c.train_size ? fmt::format("{}", *c.train_size) : std::string("all");
          },
          [](const C& c) -> Json { return c.train_size ? Json(*c.train_size) : Json(); }),
      option(
          "data-dir", "DIR",
          {"folder with the four MNIST-style IDX files, raw or .gz (without it, also Keras' "
           "cache ~/.keras/datasets/fashion-mnist)",
           "folder with `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, "
           "`t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each raw or `.gz`. MNIST "
           "and KMNIST load too, because image size and class count come from the files. "
           "Without `--data-dir`, when the default folder lacks the files, l2sweep uses Keras' "
           "own copy in `~/.keras/datasets/fashion-mnist` if it is there, and says so. A folder "
           "without the files but with a subfolder that has them is refused with that "
           "subfolder named"},
          kDecidesNumbers, "data_dir", [](C& c, T t) { c.data_dir = utf8_path("data-dir", t); },
          [](const C& c) { return c.data_dir; }, [](const C& c) -> Json { return c.data_dir; }),
      option(
          "out", "DIR",
          {"output folder, new or empty",
           "output folder. It must be new or empty: results are never overwritten",
           "runs/<UTC timestamp>"},
          kRecorded, "out",
          [](C& c, T t) {
            if (t.empty()) throw usage_error("--out: expected a folder, got an empty path");
            c.out_dir = utf8_path("out", t);
          },
          [](const C& c) { return c.out_dir; }, [](const C& c) -> Json { return c.out_dir; }),
      option(
          "device", "DEVICE",
          {"auto, cpu, cuda or cuda:N (auto: the first GPU when CUDA is available)",
           "`auto`, `cpu`, `cuda` or `cuda:N`. `auto` picks the first GPU when CUDA is "
           "available"},
          kDecidesNumbers, "device", [](C& c, T t) { c.device = t; },
          [](const C& c) { return c.device; }, [](const C& c) -> Json { return c.device; }),
      option(
          "jobs", "N",
          {"units trained at once (auto or 0: with the fused engine, whole cohorts balanced "
           "over the cores, a cohort's step spread over several when they do not divide evenly; "
           "otherwise one unit per core; on a GPU 1)",
           "units of work trained at once, each on one CPU thread unless `auto` spreads it "
           "over several (on a GPU, each on a CUDA stream of its own too). A unit is a cohort, or "
           "a slice of one, for the engines that "
           "step a cohort's runs together (fused, tensor), and a single run for the autograd "
           "loop (see [Cohorts](architecture.md#cohorts)). `auto` (or `0`): on the CPU with the "
           "fused engine, whole cohorts balanced by work: one per core at a time when the "
           "cohorts divide evenly over the cores (`--seeds 6` on two cores), else each "
           "cohort's step spread over the cores (two pieces per run: three runs on two cores "
           "take one step on both); with the others, one unit per core; on a GPU, one unit at "
           "a time. "
           "Results do not depend on it. Rows of `metrics.csv` from "
           "units side by side interleave; `--jobs 1` gives training order",
           "auto"},
          kRecorded, "jobs", [](C& c, T t) { c.jobs = t == "auto" ? 0 : integer("jobs", t); },
          [](const C& c) { return c.jobs == 0 ? std::string("auto") : fmt::format("{}", c.jobs); },
          [](const C& c) -> Json { return c.jobs; }),
      option(
          "engine", "ENGINE",
          {"{engines}: how steps are computed (auto: fused on the CPU, tensor on a GPU)",
           "`autograd`: autograd and `torch::optim::Adam`. `fused`: the fused CPU step, which "
           "stacks a cohort's runs into one step, equal up to float rounding and about 4x "
           "faster (CPU only). `tensor` (called `device` before; that name still works): a "
           "cohort stacked into one step (one product per member) with explicit gradients and "
           "Adam as tensor operations whose state (step count included) stays on the device; "
           "built for CUDA graphs, it runs anywhere. `auto`: fused on the CPU; on a GPU, "
           "tensor with CUDA graphs, or autograd with `--cuda-graphs off`"},
          kDecidesNumbers, "engine", [](C& c, T t) { c.engine = engine_of(t); },
          [](const C& c) { return c.engine; }, [](const C& c) -> Json { return c.engine; }),
      option(
          "cuda-graphs", "on|off",
          {"replay each step from a captured CUDA graph (GPU only; off with --engine auto "
           "trains the plain autograd loop)",
           "on a GPU, capture the tensor engine's step once as a CUDA graph and replay it for "
           "every batch. `off` with `--engine auto` trains the straightforward autograd loop; "
           "`--engine tensor --cuda-graphs off` launches the tensor engine's step eagerly. "
           "Ignored on the CPU"},
          kDecidesNumbers, "cuda_graphs",
          [](C& c, T t) { c.cuda_graphs = on_off("cuda-graphs", t); },
          [](const C& c) { return std::string(c.cuda_graphs ? "on" : "off"); },
          [](const C& c) -> Json { return c.cuda_graphs; },
          /*unwritten_value=*/"on"),
      option(
          "score-test", "on|off",
          {"score each run on the test set after its last epoch (--l2 auto: only its chosen "
           "strengths)",
           "score each run on the test set after its last epoch. `--l2 auto` turns it off for "
           "its search rounds (no peeking) and on for its chosen strengths"},
          kDecidesNumbers, "score_test", [](C& c, T t) { c.score_test = on_off("score-test", t); },
          [](const C& c) { return std::string(c.score_test ? "on" : "off"); },
          [](const C& c) -> Json { return c.score_test; },
          /*unwritten_value=*/"on"),
      option(
          "resume", nullptr,
          {"continue the sweep in --out from its checkpoints",
           "continue the sweep in `--out` from its checkpoints, bit for bit as if never "
           "stopped (see [Nothing lost](reliability.md))"},
          kIsFlag, nullptr, [](C& c, T) { c.resume = true; },
          [](const C& c) { return std::string(c.resume ? "true" : ""); }, nullptr),
      option(
          "shard", "I/N",
          {"train only the runs whose index modulo N is I, into a shared --out",
           "train only the runs whose plan index modulo N is I, into a shared `--out`. Without "
           "it, a Slurm array task (`SLURM_ARRAY_TASK_ID` with `SLURM_ARRAY_TASK_COUNT` or "
           "`_MIN`/`_MAX`, and `_STEP` for `--array=0-10:2`) or a Kubernetes Indexed Job "
           "(`JOB_COMPLETION_INDEX` with `--shard-count N`) picks the shard (see [Running on a "
           "cluster](reliability.md#running-on-a-cluster))",
           "from a Slurm array task"},
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

std::string default_text(const SweepOption& option) {
  if (option.default_text != nullptr) return option.default_text;
  return option.is_flag ? std::string() : option.format(SweepConfig{});
}

}  // namespace l2sweep
