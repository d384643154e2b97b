#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "l2sweep/base/json.h"
#include "l2sweep/sweep/observer.h"

namespace l2sweep {

/// summary.json's "config": every option with a summary key, as recorded.
Json config_json(const SweepConfig& config);

/// The summary.json document for `runs`: the sweep's configuration (every option with a
/// summary key), the fixed experiment, the dataset, each run's final metrics and the
/// statistics per strength. `finished` once the sweep is over; `sweep_seconds` when known.
std::string summary_json(const SweepInfo& sweep, const std::vector<RunResult>& runs, bool finished,
                         std::optional<double> sweep_seconds = std::nullopt);

/// What trained `runs`: their engines' descriptions, or `planned` before any run ended.
std::string engine_description(const std::string& planned, const std::vector<RunResult>& runs);

/// summary.json, rewritten atomically when the sweep begins and after every run, so it always
/// covers the finished runs, and marked finished with the sweep's wall time at its end.
class SummaryJsonWriter : public SweepObserver {
 public:
  explicit SummaryJsonWriter(std::filesystem::path path) : path_(std::move(path)) {}

  void on_sweep_begin(const SweepInfo& sweep) override;
  void on_run_end(const RunResult& result) override;
  /// The final document; interrupted, it stays unfinished but records the seconds trained.
  void on_sweep_end(const SweepOutcome& outcome) override;

 private:
  std::optional<double> earlier() const;
  std::filesystem::path path_;
  SweepInfo sweep_;
  std::vector<RunResult> runs_;
};

}  // namespace l2sweep
