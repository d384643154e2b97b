#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "l2sweep/base/stop_token.h"
#include "l2sweep/outputs/recommendation.h"
#include "l2sweep/outputs/setting_summary.h"
#include "l2sweep/sweep/observer.h"

namespace l2sweep {

/// Prints the sweep as it runs, in lines of at most 100 columns. Runs are numbered in the
/// order they start ("[3/9]"), and each is named by its setting and seed when it starts and
/// ends.
/// - Plain (logs, pipes, Slurm): a line per run started, one per epoch, one per run ended.
/// - Live (`live`: stdout is a terminal): a line per run ended, and below them a block
///   redrawn in place: a line per running run (epoch, progress, latest metrics, time left)
///   and an overall line with the time left.
/// Both end with the comparison tables, the recommendation, and what to do next.
class ConsoleReporter : public SweepObserver {
 public:
  /// `stop`: in live mode the console says when a stop was requested (SIGINT), as the block
  /// would overwrite a line printed by anyone else.
  ConsoleReporter(std::FILE* out, bool live, StopToken stop = {})
      : out_(out), live_(live), stop_(stop) {}

  /// Whether `out` can show the live display: a terminal that moves its cursor (not
  /// TERM=dumb).
  static bool can_redraw(std::FILE* out);

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
  using Clock = std::chrono::steady_clock;
  /// What the console knows of one run of this process.
  struct RunState {
    RunSpec spec;
    int64_t number = 0;                   ///< 1-based, in the order runs started
    int64_t epochs_done = 0;              ///< restored or trained
    double done = 0;                      ///< share of its epochs done, batches included
    std::optional<double> done_at_start;  ///< `done` at its first batch in this process
    Clock::time_point start{};            ///< when that batch ended
    std::optional<EpochMetrics> last;     ///< its latest epoch
    bool running = true;
    bool header_printed = false;
  };

  /// Gives `run` the next number if it has none yet: runs are numbered as they start.
  void number(RunState& run);
  /// "[3/9]".
  std::string tag(const RunState& run) const;
  /// Plain mode: the run's "started" line, once, before its first trained epoch.
  void print_header(RunState& run);
  /// Prints `text` (whole lines) above the live block, which is then redrawn.
  void print_lines(const std::string& text);
  /// Live mode: once a stop is requested, says so above the block (once).
  void announce_stop();
  /// Live mode: erases the block and draws it again.
  void redraw();
  void erase_block();
  /// The block's lines (without their newlines), metrics only as far as `columns` allows.
  std::vector<std::string> block(size_t columns) const;
  /// The seconds left of a run, or overall; nullopt until there is a rate to go by.
  std::optional<double> seconds_left(const RunState& run, Clock::time_point now) const;
  std::optional<double> overall_seconds_left(Clock::time_point now) const;
  /// The closing lines: where the results are, and the commands that come next.
  std::string next_steps() const;

  /// Prints to out_, ignoring a failed write (a closed pipe, `l2sweep | head`): the console
  /// only reports, and the sweep and its files go on without it.
  void write(const std::string& text);

  std::FILE* out_;
  bool live_;
  StopToken stop_;
  bool stop_announced_ = false;
  SweepInfo sweep_;
  int64_t total_runs_ = 0;
  int64_t started_ = 0;
  int64_t ended_ = 0;
  std::map<int64_t, RunState> runs_;  ///< by plan index
  /// Whether a batch was trained in this process yet, and when the first was.
  bool batch_seen_ = false;
  Clock::time_point overall_start_{};
  int drawn_lines_ = 0;
  Clock::time_point last_draw_{};
};

/// Where the source tree's plot script is when this binary runs from its build folder
/// (build/bin/l2sweep), as a path to type from the current folder; empty elsewhere.
std::string plot_script();

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
