#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "l2sweep/outputs/setting_summary.h"
#include "l2sweep/sweep/observer.h"

namespace l2sweep {

/// Thresholds behind the report's verdicts, stated in the report itself.
/// Train minus validation accuracy above this is a large generalisation gap (overfitting).
inline constexpr double kOverfitAccuracyGap = 0.02;
/// val_data_loss trending up by more than this fraction over the second half of training,
/// while data_loss trends down, is validation loss growing as training loss falls
/// (overfitting). A trend, not the last epoch, so one noisy epoch does not decide it.
inline constexpr double kOverfitValLossRise = 0.02;
/// Final training accuracy this far below the best strength's is underfitting.
inline constexpr double kUnderfitAccuracyDeficit = 0.03;
// A paired t-test between two kinds of regulariser with p below kSignificance
// (l2sweep/stats/statistics.h) resolves their difference.

/// report.md: the comparison table (mean ± std over seeds), the strength with the best mean
/// validation accuracy and whether its lead over the next exceeds the seed spread, which
/// strengths overfit or underfit and why, the comparison with the unregularised control when
/// there is one, what the regularisers did to W1 and the hidden units, any diverged runs, and
/// with Dropout or weight decay in the sweep, each kind of regulariser at its best setting
/// against the others. Every sentence is computed from `runs`.
std::string report_markdown(const SweepInfo& sweep, const std::vector<RunResult>& runs);

/// Writes report.md (atomically) when the sweep ends, unless it was interrupted.
class ReportWriter : public SweepObserver {
 public:
  explicit ReportWriter(std::filesystem::path path) : path_(std::move(path)) {}

  void on_sweep_begin(const SweepInfo& sweep) override;
  void on_sweep_end(const SweepOutcome& outcome) override;

 private:
  std::filesystem::path path_;
  SweepInfo sweep_;
};

}  // namespace l2sweep
