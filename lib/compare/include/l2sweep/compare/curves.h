#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "l2sweep/compare/setup.h"

namespace l2sweep::compare {

/// The per-epoch metrics that both l2sweep and Keras record, by their Keras History names
/// (l2sweep's metrics.csv uses the same names and meanings: `loss` includes the penalty).
inline constexpr const char* kCurveMetrics[] = {"loss", "accuracy", "val_loss", "val_accuracy"};

/// Whether `name` is one of kCurveMetrics.
bool is_curve_metric(const std::string& name);

/// One training run as a source recorded it: its settings and its metrics per epoch.
struct RunCurves {
  double l2 = 0;
  /// The rest of the run's setting, which runs pair by with l2: an l2sweep run's own; a Keras
  /// run's as --setup or --label give them (0 when they do not).
  double dropout = 0;
  double weight_decay = 0;
  std::optional<uint64_t> seed;  ///< none: a Keras run labelled without one
  /// A Keras run's settings as --setup and --label give them (setup.h's keys), for its
  /// source's setup.
  std::map<std::string, std::string> given;
  std::string origin;  ///< the file or folder it was read from, for messages
  /// The epochs its sweep planned (an l2sweep folder's summary.json), when known: a run
  /// with fewer is unfinished.
  std::optional<int64_t> planned_epochs;
  /// Metric name -> one value per epoch, epoch 1 first. l2sweep folders also give their
  /// other columns (data_loss, w1_norm, ...), used to decide whether two sweeps are identical.
  std::map<std::string, std::vector<double>> metrics;
  /// What reading it left out, for the comparison's notes (older trainings in its event
  /// folder, ...).
  std::vector<std::string> notes;

  /// The number of epochs: the length of the longest series.
  int64_t epochs() const;
  /// The series of `metric`, or nullptr.
  const std::vector<double>* find(const std::string& metric) const;
};

/// What a run's file does not say about it, from --label or from a file-name pattern.
struct RunLabel {
  std::optional<double> l2;
  std::optional<uint64_t> seed;  ///< 0 .. 2^64-1, as l2sweep's --seed
  /// Any other setting of setup.h's keys (train_size=5000, adam=keras, dropout=0.2, ...).
  std::map<std::string, std::string> setup;
};

/// "l2=0.001,seed=2,train_size=50000" (l2 first or not, seed and settings optional) ->
/// RunLabel; a usage Error naming `text`.
RunLabel parse_label(const std::string& text);

/// "train_size=5000,batch_size=64": settings of setup.h's keys (no l2 or seed), for --setup; a
/// usage Error naming `text`.
std::map<std::string, std::string> parse_setup(const std::string& text);

/// "l2=0.001 seed=2", or "l2=0.001" without a seed; Dropout and weight decay when not 0
/// ("l2=0 dropout=0.2 seed=1").
std::string run_name(const RunCurves& run);

/// A run's setting without its seed: "l2=0.001", "l2=0 dropout=0.2 weight_decay=1".
std::string setting_name(double l2, double dropout, double weight_decay);

/// One side of a comparison: an l2sweep sweep, or a set of Keras runs.
struct Source {
  std::string name;         ///< as compare.md and the plots call it
  std::string description;  ///< what it was read from ("l2sweep folder runs/x", ...)
  std::vector<RunCurves> runs;
  /// What it was trained with (setup.h): recorded by an l2sweep folder, given or assumed for
  /// Keras runs.
  Setup setup;
  bool is_sweep = false;  ///< an l2sweep folder (else Keras runs)
};

}  // namespace l2sweep::compare
