// l2sweep: the command line. Everything else lives in l2sweep::core.
#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <new>

#include "cli.h"
#include "help.h"
#include "l2sweep/base/error.h"
#include "l2sweep/base/exit_codes.h"
#include "l2sweep/base/files.h"
#include "l2sweep/base/json.h"
#include "l2sweep/base/stop_token.h"
#include "l2sweep/base/version.h"
#include "l2sweep/data/data.h"
#include "l2sweep/experiment/experiment.h"
#include "l2sweep/experiment/merge.h"
#include "l2sweep/outputs/console.h"
#include "l2sweep/outputs/metric_list.h"
#include "l2sweep/tune/tune.h"

namespace {

/// Set by SIGINT/SIGTERM; every training loop watches it through a StopToken.
l2sweep::StopSource stop_signal;
/// The console's live display says itself that a stop was requested (a line written to
/// stderr under it would be drawn over).
volatile sig_atomic_t console_says_stop = 0;

/// Prints `error: <message>` as one line (library messages may span several). It never
/// throws: a full disk may take stderr too, and the exit code must still come out.
void print_error(const std::string& prefix, std::string message) noexcept {
  std::replace(message.begin(), message.end(), '\n', ' ');
  std::fputs(("error: " + prefix + message + "\n").c_str(), stderr);
}

/// First signal: finish the current batch (or run of batches, at most tens of milliseconds),
/// keep every completed epoch, exit 130.
/// Second signal: leave at once; files are only ever replaced or appended whole, so nothing
/// is left half-written.
void on_stop_signal(int /*signal*/) {
  if (stop_signal.stop_requested()) {
    ::_exit(l2sweep::kExitInterrupted);
  }
  stop_signal.request_stop();
  if (console_says_stop != 0) return;
  constexpr char kMessage[] =
      "\nl2sweep: stopping at the next batch; press Ctrl-C again to quit at once\n";
  [[maybe_unused]] const auto written = ::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
}

void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  // Past a file-size limit, report the failed write (EFBIG) rather than die silently.
  std::signal(SIGXFSZ, SIG_IGN);
  // A closed pipe (`l2sweep | head`) only silences the console: the sweep and its files go on.
  std::signal(SIGPIPE, SIG_IGN);
}

/// A stream that takes every byte and writes none (fopencookie): --quiet's console, which
/// makes no system calls, so that a script's fault injection counts only file writes.
std::FILE* discarding_stream() {
  cookie_io_functions_t functions{};
  functions.write = [](void* /*cookie*/, const char* /*bytes*/, size_t size) -> ssize_t {
    return static_cast<ssize_t>(size);
  };
  std::FILE* stream = ::fopencookie(nullptr, "w", functions);
  return stream != nullptr ? stream : stdout;
}

std::string resume_command(const l2sweep::cli::CommandLine& command,
                           const std::filesystem::path& out_dir) {
  std::string text = command.text;
  if (command.config.out_dir.empty()) text += " --out " + out_dir.string();
  if (!command.config.resume) text += " --resume";
  return text;
}

/// For scripts that act on the results (scripts/run.sh plots them): the folder the sweep
/// wrote, into the file named by L2SWEEP_OUT_DIR_FILE when that is set.
void tell_scripts_the_output_folder(const std::filesystem::path& out_dir) {
  if (const char* file = std::getenv("L2SWEEP_OUT_DIR_FILE"); file != nullptr && *file != '\0') {
    l2sweep::write_file_atomically(file, out_dir.string() + "\n");
  }
}

/// Refuses, before anything runs, an L2SWEEP_OUT_DIR_FILE that cannot be written or that
/// lies inside the output folder `out` (it would overwrite a result, metrics.csv say).
void check_out_dir_file(const std::filesystem::path& out) {
  namespace fs = std::filesystem;
  const char* file = std::getenv("L2SWEEP_OUT_DIR_FILE");
  if (file == nullptr || *file == '\0') return;
  const fs::path path(file);
  const fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code error;
  if (fs::is_directory(path, error)) {
    throw l2sweep::usage_error(
        "L2SWEEP_OUT_DIR_FILE={}: a folder; expected a file to write the output folder's name "
        "into",
        file);
  }
  if (!out.empty()) {
    // Both as absolute paths through any links, without a trailing separator.
    const auto resolved = [&](const fs::path& p) {
      fs::path at = fs::weakly_canonical(fs::absolute(p, error), error);
      return at.has_filename() ? at : at.parent_path();
    };
    const fs::path folder = resolved(out);
    const fs::path target = resolved(path);
    const auto end =
        std::mismatch(folder.begin(), folder.end(), target.begin(), target.end()).first;
    if (!folder.empty() && end == folder.end()) {
      throw l2sweep::usage_error(
          "L2SWEEP_OUT_DIR_FILE={}: {} --out {}, where it would overwrite a result; expected a "
          "file outside the output folder",
          file, target == folder ? "is" : "inside", out.string());
    }
  }
  // Written atomically (a new file renamed over it): its folder must take new files.
  if (::access(parent.c_str(), W_OK) != 0) {
    throw l2sweep::usage_error(
        "L2SWEEP_OUT_DIR_FILE={}: cannot be written ({}); expected a file in a writable folder",
        file, std::strerror(errno));
  }
}

/// The folder the sweep reads its data from: --data-dir, or without it the default or Keras'
/// copy (said on the console, unless --quiet).
void locate_data_folder(l2sweep::cli::CommandLine& command) {
  l2sweep::SweepConfig& config = command.config;
  const l2sweep::DataFolder folder = l2sweep::locate_data(config.data_dir, command.data_dir_given);
  config.data_dir = folder.path;
  if (!folder.note.empty() && !command.quiet) fmt::print("{}\n", folder.note);
}

int run(l2sweep::cli::CommandLine command) {
  // Only a comparison and a sweep tell scripts their folder.
  if (command.action == l2sweep::cli::CommandLine::Action::kCompare) {
    check_out_dir_file(command.compare.out);
  } else if (command.action == l2sweep::cli::CommandLine::Action::kRun) {
    check_out_dir_file(command.config.out_dir);
    locate_data_folder(command);
  }
  switch (command.action) {
    case l2sweep::cli::CommandLine::Action::kHelp:
      fmt::print("{}", command.help);
      return l2sweep::kExitOk;
    case l2sweep::cli::CommandLine::Action::kListMetrics:
      fmt::print("{}", command.json ? l2sweep::json_text(l2sweep::metric_listing())
                                    : l2sweep::metric_listing_markdown());
      return l2sweep::kExitOk;
    case l2sweep::cli::CommandLine::Action::kListOptions:
      fmt::print("{}", l2sweep::cli::options_reference());
      return l2sweep::kExitOk;
    case l2sweep::cli::CommandLine::Action::kVersion:
      fmt::print("l2sweep {} (LibTorch {})\n", l2sweep::kVersion, l2sweep::libtorch_version());
      return l2sweep::kExitOk;
    case l2sweep::cli::CommandLine::Action::kMerge: {
      const auto merged = l2sweep::merge_sweep(command.merge_dir, command.text, stdout);
      if (!merged.complete) return l2sweep::kExitIncomplete;
      // As the sweep on one machine: every run finished, but one diverged.
      return merged.any_diverged ? l2sweep::kExitDiverged : l2sweep::kExitOk;
    }
    case l2sweep::cli::CommandLine::Action::kCompare:
      std::signal(SIGPIPE, SIG_IGN);
      tell_scripts_the_output_folder(
          l2sweep::compare::run_compare(command.compare, command.text, stdout).out_dir);
      return l2sweep::kExitOk;
    case l2sweep::cli::CommandLine::Action::kRun:
      break;
  }
  console_says_stop = !command.quiet && l2sweep::ConsoleReporter::can_redraw(stdout) ? 1 : 0;
  install_signal_handlers();
  // --quiet: the console goes nowhere, without a write call; errors still reach stderr.
  std::FILE* console = command.quiet ? discarding_stream() : stdout;
  if (command.config.l2_search) {
    const auto tuned =
        l2sweep::tune::tune_l2(command.config, command.text, console, stop_signal.token());
    tell_scripts_the_output_folder(tuned.out_dir);
    if (tuned.interrupted) {
      std::fputs(("to continue: " + resume_command(command, tuned.out_dir) + "\n").c_str(), stderr);
      return l2sweep::kExitInterrupted;
    }
    if (tuned.all_diverged) {
      std::fputs(("error: --l2 auto: every run of the first round diverged (non-finite loss); "
                  "expected a learning rate and range that train (see " +
                  tuned.out_dir.string() + "/round-1)\n")
                     .c_str(),
                 stderr);
      return l2sweep::kExitDiverged;
    }
    return l2sweep::kExitOk;
  }
  const auto result =
      l2sweep::run_experiment(command.config, command.text, console, stop_signal.token());
  tell_scripts_the_output_folder(result.out_dir);
  if (result.interrupted) {
    std::fputs(("to continue: " + resume_command(command, result.out_dir) + "\n").c_str(), stderr);
    return l2sweep::kExitInterrupted;
  }
  return result.any_diverged() ? l2sweep::kExitDiverged : l2sweep::kExitOk;
}

/// Ends the process with `code` once stdio is flushed, without the static destructors of the
/// libraries loaded: LibTorch unregisters its thousands of operators one by one, about 0.1 s
/// after the last file is written. Every file of l2sweep's is closed before main's work
/// returns (sanitizer builds exit normally, so that their checks at exit still run).
[[noreturn]] void leave(int code) {
  std::fflush(nullptr);
#if defined(__SANITIZE_ADDRESS__)
  std::exit(code);
#else
  std::_Exit(code);
#endif
}

int main_work(int argc, char** argv) {
  try {
    return run(l2sweep::cli::parse_command_line(argc, argv));
  } catch (const l2sweep::Error& e) {
    print_error("", e.what());
    return l2sweep::exit_code(e.kind());
  } catch (const std::bad_alloc&) {
    print_error("",
                "out of memory (std::bad_alloc) outside loading the data; expected a machine "
                "with more memory, or fewer --jobs");
  } catch (const c10::Error& e) {
    print_error("LibTorch: ", e.what_without_backtrace());
  } catch (const std::exception& e) {
    print_error("", e.what());
  }
  return l2sweep::kExitInternal;
}

}  // namespace

int main(int argc, char** argv) { leave(main_work(argc, argv)); }
