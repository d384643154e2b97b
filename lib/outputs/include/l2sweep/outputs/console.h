#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "l2sweep/outputs/recommendation.h"
#include "l2sweep/outputs/setting_summary.h"
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
  /// Epochs restored from a checkpoint are not printed as if trained: run_experiment says
  /// before training which runs resume at which epoch.
  void on_epoch_restored(const RunSpec& run, const EpochMetrics& metrics) override;
  void on_run_end(const RunResult& result) override;
  void on_sweep_end(const SweepOutcome& outcome) override;

 private:
  void erase_bar();
  /// Prints run `index`'s "== run" header if it has not been printed yet.
  void print_header(int64_t index);

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
  /// Each run's header, printed with its first trained epoch (a run restored whole from its
  /// checkpoint gets one line instead), and how many of its epochs were restored.
  std::map<int64_t, std::string> pending_headers_;
  std::map<int64_t, int64_t> restored_epochs_;
  std::chrono::steady_clock::time_point last_draw_{};
};

/// The end-of-sweep table comparing the runs: final train and validation loss and accuracy,
/// train minus validation accuracy, test accuracy and ||W1||. No run is marked: a single
/// run's luck is no recommendation (the per-setting table and the recommendation are).
std::string comparison_table(const std::vector<RunResult>& results);

/// The end-of-sweep table of mean ± std per setting, the recommended one marked.
std::string strength_table(const std::vector<SettingSummary>& strengths,
                           const Recommendation& recommendation);

/// The comparison table, with several seeds per setting the per-setting table, and the
/// recommendation block (recommend()).
std::string final_tables(const std::vector<RunResult>& runs, const SweepConfig& config,
                         int64_t classes = 10);

}  // namespace l2sweep
