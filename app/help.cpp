#include "help.h"

#include <fmt/format.h>

#include "l2sweep/base/exit_codes.h"
#include "l2sweep/base/text.h"
#include "l2sweep/config/options.h"
#include "l2sweep/train/engine_registry.h"

namespace l2sweep::cli {
namespace {

constexpr size_t kWidth = 80;
/// The column where an option's help starts.
constexpr size_t kHelpColumn = 26;

/// An exit code of a subcommand, with what it means there.
struct CodeMeaning {
  int code;
  const char* meaning;
};

constexpr CodeMeaning kCompareExitCodes[] = {
    {kExitOk, "compared: the verdicts are in compare.md, whatever they say"},
    {kExitInternal, "internal error (a bug: please report it)"},
    {kExitUsage, "bad option, label or pattern; nothing was created"},
    {kExitData, "a source cannot be read or is not what it claims; nothing was created"},
    {kExitOutput, "--out cannot be created or written, or is not empty"},
};

constexpr CodeMeaning kMergeExitCodes[] = {
    {kExitOk, "every run was complete; metrics.csv, summary.json and report.md written"},
    {kExitInternal, "internal error (a bug: please report it)"},
    {kExitUsage, "OUT holds no sweep, or its shards' options differ"},
    {kExitData, "the data or a checkpoint is missing, damaged or foreign"},
    {kExitOutput, "OUT cannot be written, or another l2sweep is writing it"},
    {kExitDiverged, "every run finished and at least one diverged"},
    {kExitIncomplete, "some runs are missing or unfinished (listed); the others were merged"},
};

/// "  --name VALUE" then the help, wrapped at kHelpColumn, on the same line when it fits.
std::string option_line(const std::string& flag, const std::string& help) {
  std::string line = "  " + flag;
  if (line.size() + 2 > kHelpColumn) {
    line += "\n" + std::string(kHelpColumn, ' ');
  } else {
    line += std::string(kHelpColumn - line.size(), ' ');
  }
  return line + wrap_words(help, kWidth, kHelpColumn, std::string(kHelpColumn, ' ')) + "\n";
}

std::string flag_of(const std::string& name, const char* value_name) {
  std::string flag = name.rfind("h,", 0) == 0 ? "-h, --" + name.substr(2) : "--" + name;
  if (value_name != nullptr) flag += std::string(" ") + value_name;
  return flag;
}

template <typename Codes>
std::string exit_code_lines(const Codes& codes) {
  std::string text = "Exit codes:\n";
  for (const auto& code : codes) {
    text += fmt::format("  {:>3}  {}\n", code.code,
                        wrap_words(code.meaning, kWidth, 7, std::string(7, ' ')));
  }
  return text;
}

/// Markdown table cells hold no bar and no line break.
std::string cell(std::string text) {
  for (size_t at = text.find('|'); at != std::string::npos; at = text.find('|', at + 2)) {
    text.replace(at, 1, "\\|");
  }
  return text;
}

}  // namespace

const std::vector<CommandOption>& command_options() {
  static const std::vector<CommandOption> options = {
      {"shard-count", "N", "N shards for a Kubernetes Indexed Job (I from JOB_COMPLETION_INDEX)",
       "N for a Kubernetes Indexed Job; without `JOB_COMPLETION_INDEX` in the environment it is "
       "an error (exit 2)"},
      {"quiet", nullptr, "print nothing but errors (for scripts; the files are the same)",
       "print nothing on the console but errors: for scripts, which read the output folder "
       "(and `L2SWEEP_OUT_DIR_FILE`, see [Building and running](building.md))"},
      {"list-metrics", nullptr,
       "print every metric (metrics.csv column, TensorBoard tag, summary.json statistic) and "
       "exit; with --json, as JSON",
       "print every metric (metrics.csv column, TensorBoard tag, summary.json statistic) with "
       "what it is, as [Outputs](outputs.md#metrics) lists them, or with `--json` as JSON for "
       "scripts, and exit"},
      {"list-options", nullptr,
       "print this reference as Markdown tables (docs/options.md) and exit",
       "print the options and exit codes as the Markdown tables of this page, and exit"},
      {"json", nullptr, "with --list-metrics: print JSON", "with `--list-metrics`: print JSON"},
      {"version", nullptr, "print the version and exit", "print the version and exit"},
      {"h,help", nullptr, "print this help and exit",
       "print the help and exit (`l2sweep compare --help` and `l2sweep merge --help` for the "
       "subcommands)"},
  };
  return options;
}

std::string sweep_help() {
  std::string text =
      "usage: l2sweep [OPTION...]        train a sweep (by default the seed experiment)\n"
      "       l2sweep compare SOURCE...  compare sweeps and Keras logs (compare --help)\n"
      "       l2sweep merge OUT          assemble a sharded sweep (merge --help)\n"
      "\n" +
      wrap_words(
          "Trains Flatten -> Dense(128, relu) -> Dense(10, softmax) with Adam on 28x28 images "
          "once per setting and seed, and logs every epoch's training and validation metrics "
          "into the output folder.",
          kWidth, 0, "") +
      "\n\nOptions:\n";
  for (const SweepOption& option : sweep_options()) {
    std::string help = with_engine_choices(option.help);
    const std::string value = default_text(option);
    if (!value.empty()) help += fmt::format(" (default: {})", value);
    text += option_line(flag_of(option.name, option.value_name), help);
  }
  for (const CommandOption& option : command_options()) {
    text += option_line(flag_of(option.name, option.value_name), option.help);
  }
  return text + "\nDocs: README.md and docs/ (docs/options.md has this in full).\n\n" +
         exit_code_lines(kExitCodes);
}

std::string compare_help() {
  return "usage: l2sweep compare [--out DIR] [--metric NAME] SOURCE [SOURCE ...]\n"
         "\n"
         "Compares two or more sources per L2 strength; the first is the reference.\n"
         "A SOURCE is:\n"
         "  an l2sweep output folder (its metrics.csv), a source of its own;\n"
         "  Keras runs, each a CSVLogger .csv, a History .json or a TensorBoard log\n"
         "  folder (train/, validation/), labelled with --label l2=X[,seed=N] just\n"
         "  before the path, or read from a path pattern such as\n"
         "  'keras/l2-{l2}_seed-{seed}.csv' (quote it).\n"
         "Keras runs join the source named by the last --source NAME, or one called\n"
         "keras.\n"
         "\n"
         "Options:\n" +
         option_line("--out DIR",
                     "new or empty folder for compare.md, compare.csv, curves.csv and "
                     "compare.json (default: runs/compare-<UTC timestamp>)") +
         option_line("--metric NAME",
                     "the final metric the verdicts judge: val_accuracy, val_loss, accuracy or "
                     "loss (default: val_accuracy)") +
         option_line("--source NAME", "name the source the following paths form") +
         option_line("--label l2=X[,seed=N][,KEY=VALUE...]",
                     "the settings of the Keras run that follows") +
         option_line("--setup KEY=VALUE[,...]",
                     "settings of every Keras run of the current --source (a --label overrides "
                     "them); KEY: data, train_size, val_size, batch_size, lr, adam, shuffle, "
                     "dropout, weight_decay, engine, device, jobs, shards. What a Keras source "
                     "does not state is assumed to be the seed experiment's (train_size 50000, "
                     "val_size 10000, batch_size 32, lr 0.001, adam keras, shuffle each-epoch: "
                     "reshuffled each epoch, as fit does unseeded; runs seeded with "
                     "keras.utils.set_random_seed replay one order: say shuffle=once), and the "
                     "assumption is printed") +
         option_line("--ignore KEY[,KEY...]",
                     "test sources whose KEY differs anyway (data, train_size, val_size, "
                     "batch_size, lr, adam or shuffle); their verdicts say they were forced. "
                     "Otherwise such verdicts read 'not comparable'") +
         option_line("-h, --help", "print this help and exit") +
         "\nExample:\n"
         "  l2sweep compare runs/A --source keras 'keras/csv/l2-{l2}_seed-{seed}.csv'\n"
         "\nDocs: docs/comparing.md.\n\n" +
         exit_code_lines(kCompareExitCodes);
}

std::string merge_help() {
  return "usage: l2sweep merge OUT\n\n" +
         wrap_words(
             "Assembles metrics.csv, summary.json and report.md in OUT from the checkpoints "
             "its shards wrote (--shard I/N, a Slurm array or a Kubernetes Indexed Job); run it "
             "once every shard has finished. Merging again gives the same files.",
             kWidth, 0, "") +
         "\n\nOptions:\n" + option_line("-h, --help", "print this help and exit") +
         "\nDocs: docs/reliability.md (Running on a cluster).\n\n" +
         exit_code_lines(kMergeExitCodes);
}

std::string options_reference() {
  std::string text = "| option | default | meaning |\n|---|---|---|\n";
  for (const SweepOption& option : sweep_options()) {
    const std::string value = default_text(option);
    text += fmt::format("| `{}` | {} | {} |\n", cell(flag_of(option.name, option.value_name)),
                        value.empty() ? "" : "`" + cell(value) + "`", cell(option.reference));
  }
  for (const CommandOption& option : command_options()) {
    text += fmt::format("| `{}` | | {} |\n", cell(flag_of(option.name, option.value_name)),
                        cell(option.reference));
  }
  text += "\n### Exit codes\n\n| code | meaning |\n|---|---|\n";
  for (const ExitCodeDoc& code : kExitCodes) {
    text += fmt::format("| {} | {} |\n", code.code, cell(code.detail));
  }
  text += "\n`l2sweep compare`:\n\n| code | meaning |\n|---|---|\n";
  for (const CodeMeaning& code : kCompareExitCodes) {
    text += fmt::format("| {} | {} |\n", code.code, cell(code.meaning));
  }
  text += "\n`l2sweep merge`:\n\n| code | meaning |\n|---|---|\n";
  for (const CodeMeaning& code : kMergeExitCodes) {
    text += fmt::format("| {} | {} |\n", code.code, cell(code.meaning));
  }
  return text;
}

}  // namespace l2sweep::cli
