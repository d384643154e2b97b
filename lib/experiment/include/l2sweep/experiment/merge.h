#pragma once

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace l2sweep {

/// What `l2sweep merge` found.
struct MergeResult {
  bool complete = false;                ///< every planned run finished
  bool any_diverged = false;            ///< a run diverged (exit 5, as the sweep would)
  std::vector<std::string> missing;     ///< runs with no checkpoint
  std::vector<std::string> incomplete;  ///< runs with some epochs still to train
};

/// `l2sweep merge OUT`: assembles metrics.csv, summary.json and report.md of the sweep in
/// `out_dir` (its sweep.cfg says which) from every run's checkpoint, whichever shard or
/// machine trained it, and lists the runs that are missing or incomplete. With every run
/// finished the files equal those of the same sweep on one machine (plan order).
MergeResult merge_sweep(const std::filesystem::path& out_dir, const std::string& command_line,
                        std::FILE* console);

}  // namespace l2sweep
