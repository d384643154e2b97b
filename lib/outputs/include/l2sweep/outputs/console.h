#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "l2sweep/outputs/stats.h"
#include "l2sweep/sweep/observer.h"

namespace l2sweep {

/// Prints the sweep as it runs: a header, a line per run started, one line per epoch, a
/// progress bar inside each epoch when `progress_bar` is set (stdout is a terminal and one
/// unit trains at a time), the test result per run, and at the end the comparison tables and
/// where the results are.
class ConsoleReporter : public SweepObserver {
 public:
  ConsoleReporter(std::FILE* out, bool progress_bar) : out_(out), progress_bar_(progress_bar) {}

  void on_sweep_begin(const SweepInfo& sweep) override;
  void on_run_start(const RunSpec& run, int64_t epochs) override;
  void on_batch_end(const Cohort& cohort, int64_t epoch, int64_t step, int64_t steps) override;
  void on_epoch_end(const RunSpec& run, const EpochMetrics& metrics) override;
  void on_run_end(const RunResult& result) override;
  void on_sweep_end(const SweepOutcome& outcome) override;

 private:
  void erase_bar();

  /// Prints to out_, ignoring a failed write (a closed pipe, `l2sweep | head`): the console
  /// only reports, and the sweep and its files go on without it.
  template <typename... Args>
  void print(fmt::format_string<Args...> format, Args&&... args) {
    const std::string text = fmt::format(format, std::forward<Args>(args)...);
    if (std::fwrite(text.data(), 1, text.size(), out_) != text.size()) std::clearerr(out_);
  }

  std::FILE* out_;
  bool progress_bar_;
  SweepInfo sweep_;
  bool bar_drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

/// The end-of-sweep table comparing the runs: final train and validation loss and accuracy,
/// train minus validation accuracy, test accuracy and ||W1||; the run with the best final
/// validation accuracy is marked with '*'.
std::string comparison_table(const std::vector<RunResult>& results);

/// The end-of-sweep table of mean ± std per strength.
std::string strength_table(const std::vector<StrengthSummary>& strengths);

/// The comparison table, and with several seeds per strength the strength table.
std::string final_tables(const std::vector<RunResult>& runs, int64_t seeds);

}  // namespace l2sweep
