#include "cli.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <cxxopts.hpp>
#include <optional>
#include <vector>

#include "l2sweep/error.h"
#include "l2sweep/version.h"

namespace l2sweep::cli {
namespace {

constexpr const char* kExitCodesHelp = R"(
Exit codes:
  0  every run completed
  1  internal error (a bug: please report it)
  2  bad option or value; nothing was created
  3  missing or corrupt data file; nothing was created
  4  the output folder cannot be created or written, or is not empty (see --resume)
  5  at least one run diverged (non-finite loss); the others completed
  6  merge: some runs are missing or unfinished; the others were merged
130  interrupted by SIGINT/SIGTERM; completed epochs are saved, rerun with --resume
)";

double parse_double(const std::string& option, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE) {
    throw usage_error("--{} '{}': expected a number", option, text);
  }
  return value;
}

int64_t parse_integer(const std::string& option, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE) {
    throw usage_error("--{} '{}': expected an integer", option, text);
  }
  return value;
}

uint64_t parse_seed(const std::string& text) {
  const bool digits_only =
      !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  errno = 0;
  const unsigned long long value = digits_only ? std::strtoull(text.c_str(), nullptr, 10) : 0;
  if (!digits_only || errno == ERANGE) {
    throw usage_error("--seed '{}': expected an integer from 0 to 2^64-1", text);
  }
  return value;
}

std::vector<double> parse_strengths(const std::string& text) {
  std::vector<double> strengths;
  size_t begin = 0;
  while (true) {
    const size_t comma = text.find(',', begin);
    strengths.push_back(parse_double("l2", text.substr(begin, comma - begin)));
    if (comma == std::string::npos) {
      break;
    }
    begin = comma + 1;
  }
  return strengths;
}

Shard parse_shard(const std::string& text) {
  const size_t slash = text.find('/');
  if (slash == std::string::npos) {
    throw usage_error("--shard '{}': expected INDEX/COUNT, e.g. 0/4", text);
  }
  Shard shard;
  shard.index = parse_integer("shard", text.substr(0, slash));
  shard.count = parse_integer("shard", text.substr(slash + 1));
  return shard;
}

std::string shell_quote(const std::string& word) {
  if (!word.empty() &&
      word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                             "-_=.,/:+") == std::string::npos) {
    return word;
  }
  std::string quoted = "'";
  for (const char c : word) {
    quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return quoted + "'";
}

/// cxxopts quotes names with typographic quotes; keep the one-line message plain ASCII.
std::string plain_quotes(std::string message) {
  for (const std::string& fancy : {std::string("\u2018"), std::string("\u2019")}) {
    for (size_t at = message.find(fancy); at != std::string::npos; at = message.find(fancy)) {
      message.replace(at, fancy.size(), "'");
    }
  }
  return message;
}

}  // namespace

CommandLine parse_command_line(int argc, const char* const* argv) {
  const SweepConfig defaults;
  cxxopts::Options options(
      "l2sweep",
      "Trains Flatten -> Dense(128, relu) -> Dense(10) once per L2 strength on the first Dense\n"
      "kernel with Keras' defaults, and logs every epoch's train and validation metrics.");
  // Every value is read as text and parsed here, so that errors can name option and value.
  // clang-format off
  options.add_options()
      ("l2", "comma-separated L2 strengths (0 = unregularised control)",
       cxxopts::value<std::string>()->default_value("0.0001,0.001,0.01"))
      ("epochs", "epochs per run", cxxopts::value<std::string>()->default_value("15"))
      ("batch-size", "examples per Adam step", cxxopts::value<std::string>()->default_value("32"))
      ("lr", "Adam learning rate", cxxopts::value<std::string>()->default_value("0.001"))
      ("seed", "seed for the initial weights and the shuffles",
       cxxopts::value<std::string>()->default_value("0"))
      ("seeds", "train each strength with N seeds: seed .. seed+N-1",
       cxxopts::value<std::string>()->default_value("1"))
      ("val-size", "the last N training examples are the validation set",
       cxxopts::value<std::string>()->default_value("10000"))
      ("train-size", "train on only the first N training examples (default: all the rest)",
       cxxopts::value<std::string>())
      ("data-dir", "folder with the four MNIST-style IDX files, raw or .gz",
       cxxopts::value<std::string>()->default_value(defaults.data_dir))
      ("out", "output folder, new or empty (default: runs/<UTC timestamp>)",
       cxxopts::value<std::string>())
      ("device", "auto, cpu, cuda or cuda:N (auto picks CUDA when available)",
       cxxopts::value<std::string>()->default_value("auto"))
      ("jobs", "runs trained at once, each on one CPU thread and on a GPU its own stream "
       "(default 0: one per core; on a GPU every run with the device engine, else 1)",
       cxxopts::value<std::string>()->default_value("0"))
      ("engine", "auto, fused, device or autograd: how steps are computed (auto: fused on the "
       "CPU, device on a GPU)", cxxopts::value<std::string>()->default_value("auto"))
      ("cuda-graphs", "on or off: replay each step from a captured CUDA graph (GPU only; off "
       "with --engine auto trains the straightforward autograd loop)",
       cxxopts::value<std::string>()->default_value("on"))
      ("resume", "continue the sweep in --out from its checkpoints")
      ("shard", "train only share INDEX/COUNT of the runs (default: from a Slurm array task)",
       cxxopts::value<std::string>())
      ("shard-count", "COUNT for a Kubernetes Indexed Job (INDEX from JOB_COMPLETION_INDEX)",
       cxxopts::value<std::string>())
      ("h,help", "print this help and exit")
      ("version", "print the version and exit")
      ("positional", "", cxxopts::value<std::vector<std::string>>());
  // clang-format on
  options.parse_positional({"positional"});
  options.positional_help("");

  CommandLine command;
  command.help =
      "usage: l2sweep [options]     train a sweep\n"
      "       l2sweep merge OUT     assemble metrics.csv, summary.json and report.md "
      "from the runs in OUT\n\n" +
      options.help({""}) + kExitCodesHelp;
  for (int i = 0; i < argc; ++i) {
    command.text += (i == 0 ? "" : " ") + shell_quote(argv[i]);
  }
  if (argc >= 2 && std::string(argv[1]) == "merge") {
    if (argc != 3 || std::string(argv[2]).empty() || argv[2][0] == '-') {
      throw usage_error("merge: expected l2sweep merge OUT (the sweep's output folder)");
    }
    command.action = CommandLine::Action::kMerge;
    command.merge_dir = argv[2];
    return command;
  }

  // A mutable copy of argv: cxxopts 2.2 takes `const char**`, 3.x `const char* const*`.
  std::vector<const char*> arguments(argv, argv + argc);
  const cxxopts::ParseResult result = [&] {
    try {
      return options.parse(argc, arguments.data());
    } catch (const std::exception& e) {
      throw usage_error("{}; see l2sweep --help", plain_quotes(e.what()));
    }
  }();
  if (result.count("positional") > 0) {
    throw usage_error("unexpected argument '{}'; options start with --, see l2sweep --help",
                      result["positional"].as<std::vector<std::string>>().front());
  }
  if (result.count("help") > 0) {
    command.action = CommandLine::Action::kHelp;
    return command;
  }
  if (result.count("version") > 0) {
    command.action = CommandLine::Action::kVersion;
    return command;
  }

  SweepConfig& config = command.config;
  config.l2_strengths = parse_strengths(result["l2"].as<std::string>());
  config.epochs = parse_integer("epochs", result["epochs"].as<std::string>());
  config.batch_size = parse_integer("batch-size", result["batch-size"].as<std::string>());
  config.learning_rate = parse_double("lr", result["lr"].as<std::string>());
  config.seed = parse_seed(result["seed"].as<std::string>());
  config.seeds = parse_integer("seeds", result["seeds"].as<std::string>());
  config.val_size = parse_integer("val-size", result["val-size"].as<std::string>());
  if (result.count("train-size") > 0) {
    config.train_size = parse_integer("train-size", result["train-size"].as<std::string>());
  }
  config.data_dir = result["data-dir"].as<std::string>();
  if (result.count("out") > 0) {
    config.out_dir = result["out"].as<std::string>();
    if (config.out_dir.empty()) {
      throw usage_error("--out: expected a folder, got an empty path");
    }
  }
  config.device = result["device"].as<std::string>();
  config.jobs = parse_integer("jobs", result["jobs"].as<std::string>());
  config.engine = result["engine"].as<std::string>();
  const std::string graphs = result["cuda-graphs"].as<std::string>();
  if (graphs != "on" && graphs != "off") {
    throw usage_error("--cuda-graphs '{}': expected on or off", graphs);
  }
  config.cuda_graphs = graphs == "on";
  config.resume = result.count("resume") > 0;
  std::optional<Shard> shard;
  if (result.count("shard") > 0) shard = parse_shard(result["shard"].as<std::string>());
  const int64_t shard_count =
      result.count("shard-count") > 0
          ? parse_integer("shard-count", result["shard-count"].as<std::string>())
          : 0;
  config.shard =
      resolve_shard(shard, shard_count, [](const char* name) { return std::getenv(name); });
  if (config.shard && config.out_dir.empty()) {
    throw usage_error("--shard {}/{}: expected --out naming the folder all shards share",
                      config.shard->index, config.shard->count);
  }
  config.validate();
  return command;
}

}  // namespace l2sweep::cli
