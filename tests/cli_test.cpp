#include "cli.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>

#include "help.h"
#include "l2sweep/base/error.h"
#include "l2sweep/base/exit_codes.h"
#include "l2sweep/config/options.h"
#include "l2sweep/sweep/plan.h"
#include "test_support.h"

namespace l2sweep::cli {
namespace {

/// The command line as l2sweep takes it: parsed, then for a sweep resolved into its plan,
/// which checks every range and combination (and asks for the device) before anything runs.
CommandLine parse(std::vector<std::string> words) {
  words.insert(words.begin(), "l2sweep");
  std::vector<const char*> argv;
  for (const auto& word : words) argv.push_back(word.c_str());
  CommandLine command = parse_command_line(static_cast<int>(argv.size()), argv.data());
  if (command.action == CommandLine::Action::kRun) resolve_plan(command.config);
  return command;
}

TEST(CommandLine, DefaultsAreTheSeedExperiment) {
  const SweepConfig config = parse({}).config;
  EXPECT_EQ(config.l2_strengths, (std::vector<double>{0.0001, 0.001, 0.01}));
  EXPECT_EQ(config.epochs, 15);
  EXPECT_EQ(config.batch_size, 32);
  EXPECT_DOUBLE_EQ(config.learning_rate, 0.001);
  EXPECT_EQ(config.seed, 0u);
  EXPECT_EQ(config.seeds, 1);
  EXPECT_EQ(config.val_size, 10000);
  EXPECT_FALSE(config.train_size.has_value());
  EXPECT_EQ(config.data_dir, "/usr/share/datasets/fashion-mnist");
  EXPECT_EQ(config.out_dir, "");
  EXPECT_EQ(config.device, "auto");
  EXPECT_EQ(config.engine, "auto");
  EXPECT_TRUE(config.cuda_graphs);
}

TEST(CommandLine, ListsTheMetricsAsTextOrJson) {
  EXPECT_EQ(parse({"--list-metrics"}).action, CommandLine::Action::kListMetrics);
  EXPECT_FALSE(parse({"--list-metrics"}).json);
  EXPECT_TRUE(parse({"--list-metrics", "--json"}).json);
  EXPECT_THROW_WITH(parse({"--json"}), Error, "--json: expected --list-metrics with it");
}

TEST(CommandLine, ReadsTheEngineAndCudaGraphs) {
  const SweepConfig config = parse({"--engine", "tensor", "--cuda-graphs", "off"}).config;
  EXPECT_EQ(config.engine, "tensor");
  EXPECT_FALSE(config.cuda_graphs);
}

TEST(CommandLine, ReadsEveryOption) {
  const CommandLine command =
      parse({"--l2", "0,1e-3",     "--seeds", "4",     "--epochs",   "3",        "--batch-size",
             "64",   "--lr=0.01",  "--seed",  "9",     "--val-size", "500",      "--train-size",
             "1000", "--data-dir", "/d",      "--out", "o x",        "--device", "cpu"});
  const SweepConfig& config = command.config;
  EXPECT_EQ(command.action, CommandLine::Action::kRun);
  EXPECT_EQ(config.l2_strengths, (std::vector<double>{0.0, 0.001}));
  EXPECT_EQ(config.epochs, 3);
  EXPECT_EQ(config.batch_size, 64);
  EXPECT_DOUBLE_EQ(config.learning_rate, 0.01);
  EXPECT_EQ(config.seed, 9u);
  EXPECT_EQ(config.seeds, 4);
  EXPECT_EQ(config.val_size, 500);
  EXPECT_EQ(config.train_size, 1000);
  EXPECT_EQ(config.data_dir, "/d");
  EXPECT_EQ(config.out_dir, "o x");
  EXPECT_EQ(config.device, "cpu");
  EXPECT_NE(command.text.find("--out 'o x'"), std::string::npos) << command.text;
}

TEST(CommandLine, HelpAndVersionAreActions) {
  const CommandLine help = parse({"--help"});
  EXPECT_EQ(help.action, CommandLine::Action::kHelp);
  EXPECT_NE(help.help.find("--train-size"), std::string::npos);
  EXPECT_NE(help.help.find("Exit codes"), std::string::npos);
  EXPECT_EQ(parse({"--version"}).action, CommandLine::Action::kVersion);
  EXPECT_EQ(parse({"--list-options"}).action, CommandLine::Action::kListOptions);
  EXPECT_TRUE(parse({"--quiet"}).quiet);
  EXPECT_FALSE(parse({}).quiet);
}

TEST(CommandLine, HelpHasOneUsageBlockValueNamesAndTrueDefaults) {
  const std::string help = parse({"--help"}).help;
  EXPECT_EQ(help.find("Usage"), std::string::npos) << "a second usage block";
  EXPECT_EQ(help.find(" arg "), std::string::npos) << "a value without a name";
  EXPECT_NE(help.find("--l2 LIST"), std::string::npos);
  EXPECT_NE(help.find("--data-dir DIR"), std::string::npos);
  EXPECT_NE(help.find("(default: 1; 3 with --l2 auto)"), std::string::npos);
  EXPECT_NE(help.find("(default: auto)"), std::string::npos);  // --jobs
  size_t line_start = 0;
  while (line_start < help.size()) {
    const size_t end = help.find('\n', line_start);
    EXPECT_LE(end - line_start, 80U) << help.substr(line_start, end - line_start);
    line_start = end + 1;
  }
  for (const SweepOption& option : sweep_options()) {
    const std::string flag = std::string("--") + option.name +
                             (option.value_name ? std::string(" ") + option.value_name : "");
    EXPECT_TRUE(help.find("  " + flag + " ") != std::string::npos ||
                help.find("  " + flag + "\n") != std::string::npos)
        << flag;
  }
}

TEST(CommandLine, TheReferenceHasARowPerOptionAndExitCode) {
  const std::string reference = options_reference();
  for (const SweepOption& option : sweep_options()) {
    EXPECT_NE(reference.find(fmt::format("\n| `--{}", option.name)), std::string::npos)
        << option.name;
  }
  for (const CommandOption& option : command_options()) {
    const std::string name = option.name;
    EXPECT_NE(reference.find("--" + name.substr(name.rfind(',') + 1)), std::string::npos) << name;
  }
  for (const ExitCodeDoc& code : kExitCodes) {
    EXPECT_NE(reference.find(fmt::format("\n| {} | {} |", code.code, code.detail)),
              std::string::npos)
        << code.code;
  }
  EXPECT_NE(sweep_help().find("  130  interrupted"), std::string::npos);
}

TEST(CommandLine, JobsAutoIsZero) {
  EXPECT_EQ(parse({"--jobs", "auto"}).config.jobs, 0);
  EXPECT_EQ(parse({"--jobs", "3"}).config.jobs, 3);
}

TEST(CommandLine, MergeAndCompareHaveHelpWithTheirExitCodes) {
  for (const std::vector<std::string>& words :
       {std::vector<std::string>{"merge", "--help"}, {"merge", "-h"}, {"compare", "--help"}}) {
    const CommandLine command = parse(words);
    EXPECT_EQ(command.action, CommandLine::Action::kHelp) << words.front();
    EXPECT_NE(command.help.find("usage: l2sweep " + words.front()), std::string::npos);
    EXPECT_NE(command.help.find("Exit codes:"), std::string::npos) << command.help;
    EXPECT_NE(command.help.find("    4  "), std::string::npos) << command.help;
  }
  EXPECT_NE(parse({"merge", "--help"}).help.find("    6  "), std::string::npos);
}

struct BadOption {
  std::vector<std::string> words;
  std::string message;
};

// Names the case in test listings (CTest shows the parameter) by its command line.
void PrintTo(const BadOption& option, std::ostream* out) {
  for (const auto& word : option.words) *out << (&word == &option.words.front() ? "" : " ") << word;
}

class RejectsBadOption : public ::testing::TestWithParam<BadOption> {};

TEST_P(RejectsBadOption, WithAMessageNamingOptionAndValue) {
  try {
    parse(GetParam().words);
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
    EXPECT_EQ(std::string(e.what()), GetParam().message);
  }
}

INSTANTIATE_TEST_SUITE_P(
    CommandLine, RejectsBadOption,
    ::testing::Values(
        BadOption{{"--epochs", "abc"}, "--epochs 'abc': expected an integer"},
        BadOption{{"--epochs", "0"}, "--epochs 0: expected an integer from 1 to 100000"},
        BadOption{{"--epochs", "2.5"}, "--epochs '2.5': expected an integer"},
        BadOption{{"--epochs", "99999999999999999999"},
                  "--epochs '99999999999999999999': expected an integer"},
        BadOption{{"--batch-size", "-4"}, "--batch-size -4: expected an integer from 1 to 1048576"},
        BadOption{{"--lr", "0"}, "--lr 0: expected a finite learning rate > 0"},
        BadOption{{"--lr", "nan"}, "--lr 'nan': expected a number"},
        BadOption{{"--lr", "fast"}, "--lr 'fast': expected a number"},
        BadOption{
            {"--l2", "0.1,,0.2"},
            "--l2 '0.1,,0.2': an empty item; expected numbers separated by single commas, e.g. "
            "0.001,0.01"},
        BadOption{{"--l2", "-0.1"}, "--l2 -0.1: expected finite strengths >= 0"},
        BadOption{{"--l2", "inf"}, "--l2 'inf': expected a number"},
        BadOption{{"--l2", "0.1,0.1"}, "--l2: 0.1 is listed twice; expected each strength once"},
        BadOption{{"--dropout", "1"}, "--dropout 1: expected rates from 0 up to (not including) 1"},
        BadOption{{"--dropout", "-0.2"},
                  "--dropout -0.2: expected rates from 0 up to (not including) 1"},
        BadOption{{"--dropout", "0.2,0.2"},
                  "--dropout: 0.2 is listed twice; expected each rate once"},
        BadOption{{"--dropout", "half"}, "--dropout 'half': expected a number"},
        BadOption{{"--weight-decay", "-1"},
                  "--weight-decay -1: expected finite weight decays >= 0"},
        BadOption{
            {"--weight-decay", "1000", "--lr", "0.001"},
            "--weight-decay 1000 with --lr 0.001: expected lr * weight decay below 1 (each step "
            "multiplies the kernel by 1 - lr * weight decay)"},
        BadOption{{"--adam", "tf"}, "--adam 'tf': expected torch or keras"},
        BadOption{{"--shuffle", "never"}, "--shuffle 'never': expected each-epoch or once"},
        BadOption{
            {"--l2", "auto", "--dropout", "0,0.5"},
            "--l2 auto with a list of --dropout: the search tunes the L2 strength alone; expected "
            "one --dropout and one --weight-decay value, held fixed during the search"},
        BadOption{{"--seed", "-1"}, "--seed '-1': expected an integer from 0 to 2^64-1"},
        BadOption{{"--jobs", "-1"}, "--jobs -1: expected an integer from 0 to 1024"},
        BadOption{{"--seeds", "0"}, "--seeds 0: expected an integer from 1 to 10000"},
        BadOption{{"--seeds", "two"}, "--seeds 'two': expected an integer"},
        BadOption{{"--seed", "18446744073709551615", "--seeds", "2"},
                  "--seed 18446744073709551615 with --seeds 2: expected the last seed to fit in "
                  "64 bits"},
        BadOption{{"--val-size", "0"}, "--val-size 0: expected at least 1 validation example"},
        BadOption{{"--train-size", "0"}, "--train-size 0: expected at least 1 training example"},
        BadOption{{"--data-dir", ""}, "--data-dir: expected a folder, got an empty path"},
        BadOption{{"--out", ""}, "--out: expected a folder, got an empty path"},
        BadOption{{"--device", "tpu"}, "--device 'tpu': expected auto, cpu, cuda or cuda:N"},
        BadOption{{"--engine", "fast"},
                  "--engine 'fast': expected auto, fused, tensor or autograd"},
        BadOption{{"--cuda-graphs", "yes"}, "--cuda-graphs 'yes': expected on or off"},
        BadOption{{"--bogus"}, "--bogus: no such option; l2sweep --help lists them"},
        BadOption{{"--epoch", "3"},
                  "--epoch: no such option; did you mean --epochs? (l2sweep --help lists them)"},
        BadOption{{"--batchsize=8"},
                  "--batchsize: no such option; did you mean --batch-size? (l2sweep --help lists "
                  "them)"},
        BadOption{{"-x"}, "-x: no such option; l2sweep --help lists them"},
        BadOption{{"--seeds", "--epochs", "3"},
                  "--seeds: expected a value (N) after it, got --epochs"},
        BadOption{{"--epochs", "2", "--l2"}, "--l2: expected a value (LIST) after it"},
        BadOption{{"--l2", "0.001,", "0.01"},
                  "--l2 0.001, 0.01: a list takes no spaces; expected one word such as --l2 "
                  "0.001,0.01 (or quote it)"},
        BadOption{{"--dropout", "0", "0.2"},
                  "--dropout 0 0.2: a list takes no spaces; expected one word such as --dropout "
                  "0,0.2 (or quote it)"},
        BadOption{{"--resume=yes"}, "--resume: a switch; expected it without a value (got 'yes')"},
        BadOption{{"stray"},
                  "unexpected argument 'stray'; options start with --, see l2sweep --help"}));

TEST(CommandLine, ReadsMergeAndShard) {
  const auto merge = parse({"merge", "runs/x"});
  EXPECT_EQ(merge.action, CommandLine::Action::kMerge);
  EXPECT_EQ(merge.merge_dir, "runs/x");
  EXPECT_THROW_WITH(parse({"merge"}), Error, "merge: expected l2sweep merge OUT");
  const auto shard = parse({"--shard", "2/5", "--out", "o"});
  ASSERT_TRUE(shard.config.shard.has_value());
  EXPECT_EQ(shard.config.shard->index, 2);
  EXPECT_EQ(shard.config.shard->count, 5);
  EXPECT_THROW_WITH(parse({"--shard", "2-5", "--out", "o"}), Error,
                    "--shard '2-5': expected INDEX/COUNT");
  EXPECT_THROW_WITH(parse({"--shard", "0/2"}), Error, "expected --out naming the folder");
}

TEST(CommandLine, ReadsMinusZeroAsTheControlAndRefusesANonPositiveShardCount) {
  const SweepConfig config = parse({"--l2", "-0,0.001"}).config;
  EXPECT_FALSE(std::signbit(config.l2_strengths.at(0)));
  EXPECT_EQ(fmt::format("{}", config.l2_strengths.at(0)), "0");
  EXPECT_THROW_WITH(parse({"--shard-count", "-3"}), Error,
                    "--shard-count -3: expected an integer from 1");
}

TEST(CommandLine, RejectsCudaWhenThereIsNone) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a GPU is present";
  EXPECT_THROW_WITH(parse({"--device", "cuda"}), Error, "--device cuda: CUDA is not available");
  EXPECT_THROW_WITH(parse({"--device", "cuda:1"}), Error, "--device cuda:1: CUDA is not available");
}

}  // namespace
}  // namespace l2sweep::cli
