// l2sweep: the command line. Everything else lives in l2sweep::core.
#include <c10/util/Exception.h>
#include <fmt/format.h>

#include <algorithm>
#include <exception>

#include "cli.h"
#include "l2sweep/error.h"
#include "l2sweep/experiment.h"
#include "l2sweep/version.h"

namespace {

/// Error messages are one line; library messages may span several.
std::string one_line(std::string message) {
  std::replace(message.begin(), message.end(), '\n', ' ');
  return message;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const auto command = l2sweep::cli::parse_command_line(argc, argv);
    switch (command.action) {
      case l2sweep::cli::CommandLine::Action::kHelp:
        fmt::print("{}", command.help);
        return l2sweep::kExitOk;
      case l2sweep::cli::CommandLine::Action::kVersion:
        fmt::print("l2sweep {} (LibTorch {})\n", l2sweep::kVersion, l2sweep::libtorch_version());
        return l2sweep::kExitOk;
      case l2sweep::cli::CommandLine::Action::kRun:
        break;
    }
    const auto result = l2sweep::run_experiment(command.config, command.text, stdout);
    return result.any_diverged() ? l2sweep::kExitDiverged : l2sweep::kExitOk;
  } catch (const l2sweep::Error& e) {
    fmt::print(stderr, "error: {}\n", one_line(e.what()));
    return l2sweep::exit_code(e.kind());
  } catch (const c10::Error& e) {
    fmt::print(stderr, "error: LibTorch: {}\n", one_line(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", one_line(e.what()));
  }
  return l2sweep::kExitInternal;
}
