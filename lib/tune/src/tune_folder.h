#pragma once

// The folder of an `--l2 auto` search (tune_folder.cpp): private to the tune layer.

#include <filesystem>
#include <optional>
#include <string>

#include "l2sweep/base/file_lock.h"
#include "l2sweep/config/sweep_config.h"
#include "l2sweep/tune/search.h"

namespace l2sweep::tune {

/// Opens the search's folder: new (or empty), or on --resume one holding tuning.cfg with the
/// same settings (a folder that is missing or empty starts the search, so a requeued job can
/// always rerun its command). Holds its lock for the search's lifetime.
struct TuneFolder {
  std::filesystem::path path;
  std::optional<FileLock> lock;
  std::filesystem::path created;  ///< the highest folder this process created ("" when none)
  bool started = false;           ///< this process wrote tuning.cfg (a new search)
  std::string command_line;
  bool claimed = false;  ///< this process is recorded as the lock's holder

  /// Records this process as the lock's holder, once, before its first write: a --resume that
  /// finds the search finished writes nothing, the lock file included.
  void claim();

  /// Takes back what opening wrote, for a search refused before its first round started:
  /// tuning.cfg, the lock file and the folders created for it (when empty).
  void undo();
};

/// The search's folder for `config` (its --out, or a new one under runs/), locked and checked;
/// a new search's tuning.cfg written. Throws Error (having taken back what it wrote) when the
/// folder is another search's, not empty, or holds a search made with other settings.
TuneFolder open_tune_folder(const SweepConfig& config, const SearchSettings& search,
                            const std::string& command_line);

}  // namespace l2sweep::tune
