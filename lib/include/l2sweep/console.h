#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "l2sweep/sweep.h"

namespace l2sweep {

/// Prints the sweep as it runs: a header per run, one line per epoch, a progress bar inside
/// each epoch when `progress_bar` is set (stdout is a terminal), and the test result per run.
class ConsoleReporter : public SweepObserver {
 public:
  ConsoleReporter(std::FILE* out, bool progress_bar) : out_(out), progress_bar_(progress_bar) {}

  void on_run_start(const RunSpec& run, int64_t epochs) override;
  void on_batch_end(const RunSpec& run, int64_t epoch, int64_t batch, int64_t batches) override;
  void on_epoch_end(const RunSpec& run, const EpochMetrics& metrics) override;
  void on_run_end(const RunResult& result) override;

 private:
  std::FILE* out_;
  bool progress_bar_;
  int64_t epochs_ = 0;
  bool bar_drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

/// The end-of-sweep table comparing the strengths: final train and validation loss and
/// accuracy, train minus validation accuracy, test accuracy and ||W1||; the run with the best
/// final validation accuracy is marked with '*'.
std::string comparison_table(const std::vector<RunResult>& results);

}  // namespace l2sweep
