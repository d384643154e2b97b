#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "l2sweep/config/runs.h"
#include "l2sweep/train/run_result.h"
#include "l2sweep/train/trainer.h"

namespace l2sweep {

struct EngineEntry;

/// One checkpoint per run, `folder/<run name>.pt`, rewritten after every epoch: the model,
/// the optimizer's state, the shuffle generator's state, the metrics so far, and the settings
/// that decide the run's numbers. The bytes are a LibTorch archive behind a header with its
/// length and CRC-32C, written to a temporary file, flushed to disk and renamed, so a crash
/// leaves the old checkpoint or the new one, never a torn one, and a damaged one is noticed.
///
/// Every read verifies the file before anything is used: the checksum, the run it belongs
/// to, the settings against the sweep's (`sweep`), the engine (when `engine` is given), and
/// that its history agrees with its status (a run claiming completion has every epoch). A
/// checkpoint that fails is a data Error naming the file (a usage Error for another engine,
/// which the right --engine or --device resumes).
class CheckpointStore {
 public:
  explicit CheckpointStore(std::filesystem::path folder, SweepConfig sweep = {},
                           const EngineEntry* engine = nullptr);

  std::filesystem::path path_for(const RunSpec& run) const;

  /// Saves `progress` (its status kInterrupted while epochs remain) with the training state of
  /// `trainer`'s member `member`, which trains `run`.
  void save(const RunSpec& run, const RunResult& progress, const Trainer& trainer,
            size_t member = 0) const;

  /// The run's saved progress with `trainer`'s member `member` restored to the moment it was
  /// saved; nullopt when the run has no checkpoint.
  std::optional<RunResult> load(const RunSpec& run, Trainer& trainer, size_t member = 0) const;

  /// The run's saved progress alone (status, metrics so far), verified, without any training
  /// state; nullopt when the run has no checkpoint.
  std::optional<RunResult> progress(const RunSpec& run) const;

 private:
  std::optional<RunResult> read(const RunSpec& run, Trainer* trainer, size_t member) const;

  std::filesystem::path folder_;
  SweepConfig sweep_;
  const EngineEntry* engine_ = nullptr;
  /// The folder's sweep.cfg is l2sweep 0.1's: checkpoints without a checksum are its own.
  bool legacy_sweep_;
};

}  // namespace l2sweep
