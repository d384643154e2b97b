#pragma once

#include <string>

#include "l2sweep/base/error.h"

namespace l2sweep {

/// Process exit codes: main returns them, `l2sweep --help` and README.md ("Exit codes") list
/// them with the meanings below.
inline constexpr int kExitOk = 0;
inline constexpr int kExitInternal = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitData = 3;
inline constexpr int kExitOutput = 4;
/// At least one run of the sweep diverged (non-finite loss); the others completed.
inline constexpr int kExitDiverged = 5;
/// `l2sweep merge` found runs that are missing or unfinished; it merged the rest.
inline constexpr int kExitIncomplete = 6;
/// Stopped by SIGINT or SIGTERM, as shells report a SIGINT death (128 + 2).
inline constexpr int kExitInterrupted = 130;

/// One documented exit code.
struct ExitCodeDoc {
  int code;
  const char* meaning;
};

/// Every exit code with its meaning, in numeric order.
inline constexpr ExitCodeDoc kExitCodes[] = {
    {kExitOk, "every run completed"},
    {kExitInternal, "internal error (a bug: please report it)"},
    {kExitUsage, "bad option or value; nothing was created"},
    {kExitData, "missing or corrupt data file; nothing was created"},
    {kExitOutput, "the output folder cannot be created or written, or is not empty (see --resume)"},
    {kExitDiverged,
     "at least one run diverged (a loss, W1 or Adam's state not finite); the others completed"},
    {kExitIncomplete, "merge: some runs are missing or unfinished; the others were merged"},
    {kExitInterrupted,
     "interrupted by SIGINT/SIGTERM; completed epochs are saved, rerun with --resume"},
};

/// The exit code of an Error of `kind`.
int exit_code(ErrorKind kind);

/// The "Exit codes:" section of --help, one line per code.
std::string exit_codes_help();

}  // namespace l2sweep
