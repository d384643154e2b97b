#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace l2sweep::compare {

/// The per-epoch metrics that both l2sweep and Keras record, by their Keras History names
/// (l2sweep's metrics.csv uses the same names and meanings: `loss` includes the penalty).
inline constexpr const char* kCurveMetrics[] = {"loss", "accuracy", "val_loss", "val_accuracy"};

/// Whether `name` is one of kCurveMetrics.
bool is_curve_metric(const std::string& name);

/// One training run as a source recorded it: its settings and its metrics per epoch.
struct RunCurves {
  double l2 = 0;
  std::optional<int64_t> seed;  ///< none: a Keras run labelled without one
  std::string origin;           ///< the file or folder it was read from, for messages
  /// The epochs its sweep planned (an l2sweep folder's summary.json), when known: a run
  /// with fewer is unfinished.
  std::optional<int64_t> planned_epochs;
  /// Metric name -> one value per epoch, epoch 1 first. l2sweep folders also give their
  /// other columns (data_loss, w1_norm, ...), used to decide whether two sweeps are identical.
  std::map<std::string, std::vector<double>> metrics;

  /// The number of epochs: the length of the longest series.
  int64_t epochs() const;
  /// The series of `metric`, or nullptr.
  const std::vector<double>* find(const std::string& metric) const;
};

/// What a run's file does not say about it, from --label or from a file-name pattern.
struct RunLabel {
  std::optional<double> l2;
  std::optional<int64_t> seed;
};

/// "l2=0.001,seed=2" (seed optional, either order) -> RunLabel; a usage Error naming `text`.
RunLabel parse_label(const std::string& text);

/// "l2=0.001 seed=2", or "l2=0.001" without a seed.
std::string run_name(const RunCurves& run);

/// One side of a comparison: an l2sweep sweep, or a set of Keras runs.
struct Source {
  std::string name;         ///< as compare.md and the plots call it
  std::string description;  ///< what it was read from ("l2sweep folder runs/x", ...)
  std::vector<RunCurves> runs;
};

}  // namespace l2sweep::compare
