#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "l2sweep/compare/curves.h"

namespace l2sweep::compare {

/// The formats `l2sweep compare` reads.
enum class Format {
  kL2sweepFolder,     ///< an l2sweep output folder (metrics.csv)
  kKerasCsv,          ///< keras.callbacks.CSVLogger's file, one run
  kKerasHistory,      ///< History.history saved as JSON, one run
  kKerasTensorBoard,  ///< keras.callbacks.TensorBoard's log_dir (train/, validation/), one run
};

/// "l2sweep folder", "Keras CSVLogger file", ...
const char* format_name(Format format);

/// What `path` is: a folder with metrics.csv is an l2sweep folder, a folder with event files
/// (in itself or in train/ or validation/) a TensorBoard log folder, a .csv file a CSVLogger
/// file, a .json file a History. A data Error naming the path otherwise.
Format detect_format(const std::filesystem::path& path);

/// Every run of an l2sweep output folder, from its metrics.csv (merged or unsharded; the
/// rows of an unfinished run are its completed epochs).
std::vector<RunCurves> read_l2sweep_folder(const std::filesystem::path& folder);

/// One Keras run from a CSVLogger file: a header with `epoch` and at least one of loss,
/// accuracy (or acc), val_loss, val_accuracy (or val_acc); epochs counted from 0, each once.
RunCurves read_keras_csv(const std::filesystem::path& file, const RunLabel& label);

/// One Keras run from a JSON object of equally long lists ({"loss": [...], ...}), as
/// `json.dump(history.history, f)` writes it; acc/val_acc are read as accuracy/val_accuracy.
RunCurves read_keras_history(const std::filesystem::path& file, const RunLabel& label);

/// One Keras run from a TensorBoard log folder: `epoch_loss` and `epoch_accuracy` of its
/// train/ and validation/ event files (step = epoch from 0); a folder of event files without
/// those subfolders is read with TF1 Keras' tags (loss, acc, val_loss, val_acc).
RunCurves read_keras_tensorboard(const std::filesystem::path& folder, const RunLabel& label);

/// The run(s) at `path` in `format`.
std::vector<RunCurves> read_runs(const std::filesystem::path& path, Format format,
                                 const RunLabel& label);

}  // namespace l2sweep::compare
