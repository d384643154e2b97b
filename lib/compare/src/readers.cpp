#include "l2sweep/compare/readers.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <new>
#include <system_error>
#include <tuple>

#include "l2sweep/base/error.h"
#include "l2sweep/base/files.h"
#include "l2sweep/base/json.h"
#include "l2sweep/base/parse.h"
#include "l2sweep/compare/tfevents.h"

namespace l2sweep::compare {
namespace fs = std::filesystem;
namespace {

/// Far above any real history (an l2sweep grid of 1,000 runs x 1,000 epochs is ~150 MB).
constexpr uintmax_t kMaxFileBytes = uintmax_t{1} << 30;

/// The content of `file`, or a data Error naming it.
std::string read_whole(const fs::path& file) {
  std::error_code error;
  const auto size = fs::file_size(file, error);
  if (error) throw data_error("{}: cannot read it ({})", file.string(), error.message());
  if (size > kMaxFileBytes) {
    throw data_error("{}: {} bytes, more than the {} a history can plausibly take", file.string(),
                     size, kMaxFileBytes);
  }
  auto content = read_text_file(file);
  if (!content) throw data_error("{}: cannot read it", file.string());
  return std::move(*content);
}

/// `text` as an error message may quote it: at most 60 characters, bytes outside printable
/// ASCII written as \xNN.
std::string excerpt(const std::string& text) {
  std::string shown;
  for (size_t i = 0; i < text.size() && i < 60; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    shown +=
        c >= 0x20 && c < 0x7f ? std::string(1, static_cast<char>(c)) : fmt::format("\\x{:02x}", c);
  }
  return text.size() > 60 ? shown + "..." : shown;
}

/// The lines of `text`, without their "\n" or "\r\n" and without a UTF-8 byte-order mark
/// (spreadsheets save one); a final empty line is dropped.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = text.compare(0, 3, "\xef\xbb\xbf") == 0 ? 3 : 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    start = end + 1;
  }
  return lines;
}

std::vector<std::string> split_commas(const std::string& line) {
  std::vector<std::string> cells;
  size_t start = 0;
  while (true) {
    const size_t end = line.find(',', start);
    cells.push_back(line.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return cells;
    start = end + 1;
  }
}

/// A metric cell: a number, or NaN for what Keras writes when a value is missing ("NA", "").
std::optional<double> metric_cell(const std::string& cell) {
  if (cell.empty() || cell == "NA") return std::numeric_limits<double>::quiet_NaN();
  return parse_double(cell);
}

/// Keras' older names of its metrics.
std::string keras_metric_name(const std::string& name) {
  if (name == "acc") return "accuracy";
  if (name == "val_acc") return "val_accuracy";
  return name;
}

/// `text` with the tokens Python's json.dump writes for non-finite floats (NaN, Infinity,
/// -Infinity), which JSON lacks, replaced by null outside strings: a diverged Keras run's
/// History reads as NaN values.
std::string python_json_to_json(const std::string& text, const fs::path& file) {
  constexpr int kMaxDepth = 64;  // a History is two deep
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  int depth = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (!in_string && (c == '[' || c == '{') && ++depth > kMaxDepth) {
      throw data_error(
          "{}: nested more than {} deep at byte {}; expected History.history as a "
          "JSON object of lists",
          file.string(), kMaxDepth, i + 1);
    }
    if (!in_string && (c == ']' || c == '}')) --depth;
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') in_string = true;
    bool replaced = false;
    for (const std::string token : {"-Infinity", "Infinity", "NaN"}) {
      if (text.compare(i, token.size(), token) == 0) {
        out += "null";
        i += token.size() - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += c;
  }
  return out;
}

std::string known_metrics_text() {
  std::string text;
  for (const char* metric : kCurveMetrics) text += (text.empty() ? "" : ", ") + std::string(metric);
  return text;
}

/// A Keras run's settings from its label, or a usage Error naming the file.
RunCurves labelled_run(const fs::path& path, const RunLabel& label) {
  if (!label.l2) {
    throw usage_error(
        "{}: a Keras run needs its strength: put --label l2=STRENGTH[,seed=N] before it, or give "
        "a path pattern with {{l2}} (and {{seed}}) in it",
        path.string());
  }
  RunCurves run;
  run.l2 = *label.l2;
  run.seed = label.seed;
  run.given = label.setup;
  run.origin = path.string();
  return run;
}

/// Refuses a run that holds none of the metrics l2sweep compares.
void check_has_metrics(const RunCurves& run, const std::string& what) {
  const bool any = std::any_of(std::begin(kCurveMetrics), std::end(kCurveMetrics),
                               [&](const char* metric) { return run.find(metric) != nullptr; });
  if (!any) {
    throw data_error("{}: {} has none of the metrics {}", run.origin, what, known_metrics_text());
  }
  if (run.epochs() == 0) throw data_error("{}: {} holds no epoch", run.origin, what);
}

bool folder_has_event_files(const fs::path& folder) {
  std::error_code error;
  for (fs::directory_iterator it(folder, error), end; !error && it != end; it.increment(error)) {
    if (it->is_regular_file(error) && is_event_file_name(it->path().filename().string())) {
      return true;
    }
  }
  return false;
}

/// The event files of `folder`, in name order (TensorBoard's, which is their creation order).
std::vector<fs::path> event_files(const fs::path& folder) {
  std::vector<fs::path> files;
  std::error_code error;
  for (fs::directory_iterator it(folder, error), end; !error && it != end; it.increment(error)) {
    if (it->is_regular_file(error) && is_event_file_name(it->path().filename().string())) {
      files.push_back(it->path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

/// The newest training (by its first event's wall time) of the event files in `folder`, as
/// TensorBoard shows a rerun, and the others, which are left out: never spliced.
struct NewestTraining {
  std::optional<EventTraining> chosen;
  EventScalars scalars;  ///< the chosen one's
  std::vector<EventTraining> left_out;
};

NewestTraining newest_training(const fs::path& folder) {
  NewestTraining newest;
  std::vector<EventTraining> all;
  for (const fs::path& file : event_files(folder)) {
    for (EventTraining& training : read_event_trainings(file)) all.push_back(std::move(training));
  }
  const bool any_scalars = std::any_of(all.begin(), all.end(),
                                       [](const EventTraining& t) { return !t.scalars.empty(); });
  if (!any_scalars) return newest;
  const auto chosen =
      std::max_element(all.begin(), all.end(), [](const EventTraining& a, const EventTraining& b) {
        // Trainings without values never win: they are refused below or ignored.
        return std::tuple(!a.scalars.empty(), a.wall_time, a.part, a.file.filename()) <
               std::tuple(!b.scalars.empty(), b.wall_time, b.part, b.file.filename());
      });
  // A training without values that starts after every one with values has ended: a rerun
  // stopped before its first epoch ended (its file holds its version event only, or nothing).
  // One that starts meanwhile is not a training (the profiler's `.profile-empty` file).
  double values_end = 0;
  for (const EventTraining& training : all) {
    if (!training.scalars.empty()) values_end = std::max(values_end, training.last_wall_time);
  }
  const auto newest_empty = std::find_if(all.begin(), all.end(), [&](const EventTraining& t) {
    return t.scalars.empty() && t.wall_time > values_end;
  });
  if (newest_empty != all.end()) {
    throw data_error(
        "{}: the newest training there ({}) holds no values yet (stopped before its first "
        "epoch ended?); expected one training per log_dir, or a complete newest one",
        folder.string(), newest_empty->file.filename().string());
  }
  newest.scalars = chosen->scalars;
  newest.chosen = *chosen;
  for (auto it = all.begin(); it != all.end(); ++it) {
    if (it != chosen && !it->scalars.empty()) newest.left_out.push_back(std::move(*it));
  }
  return newest;
}

/// The name of a training in messages: its file, and which training in it after a restart.
std::string training_name(const EventTraining& training) {
  const std::string file = training.file.filename().string();
  return training.part == 1 ? file : fmt::format("{} (training {} in it)", file, training.part);
}

/// A note on `run` naming the trainings of `folder` that were left out, if any.
void note_left_out(const fs::path& folder, const NewestTraining& newest, RunCurves& run) {
  if (newest.left_out.empty()) return;
  std::string names;
  for (const EventTraining& training : newest.left_out) {
    names += (names.empty() ? "" : ", ") + training_name(training);
  }
  run.notes.push_back(fmt::format("{} holds {} trainings: compared the newest, {}; left out {}.",
                                  folder.string(), newest.left_out.size() + 1,
                                  training_name(*newest.chosen), names));
}

/// Copies `tag`'s values into `run.metrics[metric]`, one per epoch from step 0; a data Error
/// when a step is missing.
void take_series(const EventScalars& scalars, const std::string& tag, const std::string& metric,
                 const fs::path& folder, RunCurves& run) {
  const auto found = scalars.find(tag);
  if (found == scalars.end() || run.metrics.count(metric) > 0) return;
  std::vector<double> values;
  for (const auto& [step, value] : found->second) {
    if (step != static_cast<int64_t>(values.size())) {
      throw data_error(
          "{}: '{}' has no value for epoch {} (step {}), expected one per epoch from "
          "step 0",
          folder.string(), tag, values.size() + 1, values.size());
    }
    values.push_back(value);
  }
  run.metrics[metric] = std::move(values);
}

/// metrics.csv's header line (of `lines`, the file's), with the columns a run needs.
std::vector<std::string> l2sweep_header(const fs::path& file,
                                        const std::vector<std::string>& lines) {
  if (lines.empty()) throw data_error("{}: empty, expected a header line", file.string());
  const std::vector<std::string> header = split_commas(lines.front());
  for (const char* required :
       {"l2", "seed", "epoch", "loss", "accuracy", "val_loss", "val_accuracy"}) {
    if (std::find(header.begin(), header.end(), required) == header.end()) {
      throw data_error("{}: no '{}' column in its header '{}'", file.string(), required,
                       excerpt(lines.front()));
    }
  }
  return header;
}

/// Which run a metrics.csv row belongs to (its whole setting and seed), and its epoch.
struct RowSetting {
  double l2 = 0;
  double dropout = 0;
  double weight_decay = 0;
  uint64_t seed = 0;
  int64_t epoch = 0;
};

/// The setting, seed and epoch of the metrics.csv row `cells` (line `line` + 1 of `file`).
RowSetting row_setting(const fs::path& file, const std::vector<std::string>& header,
                       const std::vector<std::string>& cells, size_t line) {
  std::optional<double> l2;
  // Sweeps written before --dropout and --weight-decay have neither column: 0.
  std::optional<double> dropout = 0.0, weight_decay = 0.0;
  std::optional<uint64_t> seed;
  std::optional<int64_t> epoch;
  for (size_t c = 0; c < header.size(); ++c) {
    if (header[c] == "l2") l2 = parse_double(cells[c]);
    if (header[c] == "seed") seed = parse_uint64(cells[c]);
    if (header[c] == "epoch") epoch = parse_int64(cells[c]);
    // Runs pair by their whole setting: Dropout and weight decay beside the strength.
    if (header[c] == "dropout") dropout = parse_double(cells[c]);
    if (header[c] == "weight_decay") weight_decay = parse_double(cells[c]);
  }
  if (!l2 || !seed || !epoch || !dropout || !weight_decay) {
    throw data_error("{} line {}: l2, dropout, weight_decay, seed or epoch is not a number",
                     file.string(), line + 1);
  }
  return RowSetting{*l2, *dropout, *weight_decay, *seed, *epoch};
}

/// Where each run of a metrics.csv is in the list of runs, by its setting and seed.
using RunIndex = std::map<std::tuple<double, double, double, uint64_t>, size_t>;

/// The run of `row` among `runs`, added (from `file`) when it is the run's first row.
RunCurves& run_of_row(std::vector<RunCurves>& runs, RunIndex& index, const RowSetting& row,
                      const fs::path& file) {
  auto [slot, added] =
      index.try_emplace(std::tuple{row.l2, row.dropout, row.weight_decay, row.seed}, runs.size());
  if (added) {
    runs.emplace_back();
    runs.back().l2 = row.l2;
    runs.back().dropout = row.dropout;
    runs.back().weight_decay = row.weight_decay;
    runs.back().seed = row.seed;
    runs.back().origin = file.string();
  }
  return runs[slot->second];
}

/// Adds the metrics of the row `cells` (line `line` + 1 of `file`), epoch `epoch`, to `run`.
void add_row_metrics(RunCurves& run, const fs::path& file, const std::vector<std::string>& header,
                     const std::vector<std::string>& cells, size_t line, int64_t epoch) {
  if (epoch != run.epochs() + 1) {
    throw data_error("{} line {}: epoch {} of {} follows epoch {}; expected {}", file.string(),
                     line + 1, epoch, run_name(run), run.epochs(), run.epochs() + 1);
  }
  for (size_t c = 0; c < header.size(); ++c) {
    if (header[c] == "l2" || header[c] == "seed" || header[c] == "epoch" ||
        header[c] == "dropout" || header[c] == "weight_decay" || header[c] == "epoch_seconds") {
      continue;
    }
    const auto value = metric_cell(cells[c]);
    if (!value) {
      throw data_error("{} line {}: {} '{}' is not a number", file.string(), line + 1,
                       excerpt(header[c]), excerpt(cells[c]));
    }
    run.metrics[header[c]].push_back(*value);
  }
}

/// The planned epochs, to tell unfinished runs apart; summary.json is optional here (a sweep
/// killed early may not have one), so an unreadable one only loses that.
void read_planned_epochs(const fs::path& folder, std::vector<RunCurves>& runs) {
  if (const auto summary = read_text_file(folder / "summary.json")) {
    const Json json = Json::parse(*summary, nullptr, /*allow_exceptions=*/false);
    if (json.is_object() && json.contains("config") && json["config"].is_object() &&
        json["config"].contains("epochs") && json["config"]["epochs"].is_number_integer()) {
      for (RunCurves& run : runs) run.planned_epochs = json["config"]["epochs"].get<int64_t>();
    }
  }
}

}  // namespace

const char* format_name(Format format) {
  switch (format) {
    case Format::kL2sweepFolder:
      return "l2sweep folder";
    case Format::kKerasCsv:
      return "Keras CSVLogger file";
    case Format::kKerasHistory:
      return "Keras History JSON";
    case Format::kKerasTensorBoard:
      return "Keras TensorBoard log folder";
  }
  return "?";
}

Format detect_format(const fs::path& path) {
  std::error_code error;
  const auto status = fs::status(path, error);
  if (!fs::exists(status)) throw data_error("{}: no such file or folder", path.string());
  if (fs::is_directory(status)) {
    if (fs::exists(path / "metrics.csv", error)) return Format::kL2sweepFolder;
    if (fs::exists(path / "sweep.cfg", error)) {
      throw data_error(
          "{}: an l2sweep folder without metrics.csv (a sharded sweep: run l2sweep "
          "merge {} first)",
          path.string(), path.string());
    }
    if (folder_has_event_files(path / "train") || folder_has_event_files(path / "validation") ||
        folder_has_event_files(path)) {
      return Format::kKerasTensorBoard;
    }
    if (fs::exists(path / "tuning.cfg", error)) {
      // An --l2 auto search: its rounds are in round-N/, its chosen strengths in final/.
      throw data_error(
          "{}: an --l2 auto search; compare its final runs ({}) or one of its rounds "
          "(round-N/)",
          path.string(), (path / "final").string());
    }
    throw data_error(
        "{}: a folder that is neither an l2sweep output folder (metrics.csv) nor a Keras "
        "TensorBoard log folder (train/ or validation/ with event files)",
        path.string());
  }
  const std::string extension = path.extension().string();
  if (extension == ".csv") return Format::kKerasCsv;
  if (extension == ".json") return Format::kKerasHistory;
  throw data_error(
      "{}: expected an l2sweep folder, a Keras CSVLogger .csv, a History .json or a "
      "TensorBoard log folder",
      path.string());
}

std::vector<RunCurves> read_l2sweep_folder(const fs::path& folder) {
  const fs::path file = folder / "metrics.csv";
  const std::vector<std::string> lines = lines_of(read_whole(file));
  const std::vector<std::string> header = l2sweep_header(file, lines);
  std::vector<RunCurves> runs;
  RunIndex index;
  for (size_t line = 1; line < lines.size(); ++line) {
    const std::vector<std::string> cells = split_commas(lines[line]);
    if (cells.size() != header.size()) {
      throw data_error("{} line {}: {} values, expected {} as in the header", file.string(),
                       line + 1, cells.size(), header.size());
    }
    const RowSetting row = row_setting(file, header, cells, line);
    RunCurves& run = run_of_row(runs, index, row, file);
    add_row_metrics(run, file, header, cells, line, row.epoch);
  }
  if (runs.empty())
    throw data_error("{}: no rows: the sweep has no completed epoch", file.string());
  for (const RunCurves& run : runs) check_has_metrics(run, "metrics.csv");
  read_planned_epochs(folder, runs);
  return runs;
}

RunCurves read_keras_csv(const fs::path& file, const RunLabel& label) {
  const std::vector<std::string> lines = lines_of(read_whole(file));
  if (lines.empty()) throw data_error("{}: empty, expected CSVLogger's header line", file.string());
  const std::vector<std::string> written = split_commas(lines.front());
  std::vector<std::string> header;
  for (size_t c = 0; c < written.size(); ++c) {
    header.push_back(keras_metric_name(written[c]));
    // A column twice, or under both its names (acc and accuracy): which one is meant?
    for (size_t earlier = 0; earlier < c; ++earlier) {
      if (header[earlier] == header[c] && !header[c].empty()) {
        throw data_error(
            "{}: header '{}' has {} twice{}; expected each column once", file.string(),
            excerpt(lines.front()), excerpt(header[c]),
            written[earlier] == written[c]
                ? ""
                : fmt::format(" (as {} and {})", excerpt(written[earlier]), excerpt(written[c])));
      }
    }
  }
  if (std::find(header.begin(), header.end(), "l2") != header.end() &&
      std::find(header.begin(), header.end(), "seed") != header.end()) {
    throw usage_error("{}: an l2sweep metrics.csv; give its folder ({}) as a source of its own",
                      file.string(), file.parent_path().string());
  }
  RunCurves run = labelled_run(file, label);
  if (std::find(header.begin(), header.end(), "epoch") == header.end() ||
      std::none_of(header.begin(), header.end(), is_curve_metric)) {
    throw data_error("{}: header '{}' lacks the CSVLogger columns: expected epoch and any of {}",
                     file.string(), excerpt(lines.front()), known_metrics_text());
  }
  for (size_t line = 1; line < lines.size(); ++line) {
    if (lines[line].empty()) continue;
    const std::vector<std::string> cells = split_commas(lines[line]);
    if (cells.size() != header.size()) {
      throw data_error("{} line {}: {} values, expected {} as in the header", file.string(),
                       line + 1, cells.size(), header.size());
    }
    for (size_t c = 0; c < header.size(); ++c) {
      if (header[c] == "epoch") {
        const auto epoch = parse_int64(cells[c]);
        if (!epoch || *epoch != run.epochs()) {
          throw data_error(
              "{} line {}: epoch '{}', expected {} (CSVLogger counts epochs from 0, "
              "once each)",
              file.string(), line + 1, cells[c], run.epochs());
        }
      }
    }
    for (size_t c = 0; c < header.size(); ++c) {
      if (!is_curve_metric(header[c])) continue;
      const auto value = metric_cell(cells[c]);
      if (!value) {
        throw data_error("{} line {}: {} '{}' is not a number", file.string(), line + 1,
                         excerpt(header[c]), excerpt(cells[c]));
      }
      run.metrics[header[c]].push_back(*value);
    }
  }
  check_has_metrics(run, "the CSV");
  return run;
}

RunCurves read_keras_history(const fs::path& file, const RunLabel& label) {
  RunCurves run = labelled_run(file, label);
  Json json;
  try {
    json = Json::parse(python_json_to_json(read_whole(file), file));
  } catch (const Json::parse_error& e) {
    throw data_error(
        "{}: not valid JSON at byte {}; expected History.history as a JSON object "
        "of lists",
        file.string(), e.byte);
  } catch (const Json::exception& e) {  // a number out of range (1e400)
    throw data_error("{}: {}; expected History.history as a JSON object of finite numbers",
                     file.string(), excerpt(e.what()));
  }
  if (!json.is_object()) {
    throw data_error("{}: expected a JSON object of lists, as json.dump(history.history) writes",
                     file.string());
  }
  size_t length = 0;
  std::string first;
  for (const auto& [key, values] : json.items()) {
    const std::string metric = keras_metric_name(key);
    if (!values.is_array()) {
      throw data_error("{}: '{}' is not a list of per-epoch values", file.string(), excerpt(key));
    }
    if (first.empty()) {
      first = key;
      length = values.size();
    } else if (values.size() != length) {
      throw data_error("{}: '{}' has {} values but '{}' has {}; expected one per epoch in each",
                       file.string(), excerpt(key), values.size(), excerpt(first), length);
    }
    if (!is_curve_metric(metric)) continue;
    std::vector<double> series;
    for (const Json& value : values) {
      if (value.is_null()) {
        series.push_back(std::numeric_limits<double>::quiet_NaN());
      } else if (value.is_number()) {
        series.push_back(value.get<double>());
      } else {
        throw data_error("{}: '{}' holds '{}', expected numbers", file.string(), excerpt(key),
                         excerpt(value.dump()));
      }
    }
    run.metrics[metric] = std::move(series);
  }
  check_has_metrics(run, "the History");
  return run;
}

RunCurves read_keras_tensorboard(const fs::path& folder, const RunLabel& label) {
  RunCurves run = labelled_run(folder, label);
  const NewestTraining train = newest_training(folder / "train");
  const NewestTraining validation = newest_training(folder / "validation");
  if (train.chosen || validation.chosen) {
    // Validation events of a training come after its first training events; the newest
    // validation training older than the newest training one belongs to an earlier training.
    if (train.chosen && validation.chosen &&
        validation.chosen->wall_time < train.chosen->wall_time) {
      throw data_error(
          "{}: the newest training in train/ ({}) has no validation/ events (the newest there, "
          "{}, is older); expected one training per log_dir, or a complete newest one",
          folder.string(), train.chosen->file.filename().string(),
          validation.chosen->file.filename().string());
    }
    // And every validation training at or after the newest training one is its: two there
    // mean a training whose train/ events are missing.
    if (train.chosen && validation.chosen) {
      for (const EventTraining& other : validation.left_out) {
        if (other.wall_time >= train.chosen->wall_time) {
          throw data_error(
              "{}: validation/ holds two trainings ({} and {}) after the newest in train/ ({}); "
              "expected one training per log_dir",
              folder.string(), training_name(other), training_name(*validation.chosen),
              training_name(*train.chosen));
        }
      }
    }
    for (const char* tag : {"epoch_accuracy", "epoch_acc"}) {
      take_series(train.scalars, tag, "accuracy", folder, run);
      take_series(validation.scalars, tag, "val_accuracy", folder, run);
    }
    take_series(train.scalars, "epoch_loss", "loss", folder, run);
    take_series(validation.scalars, "epoch_loss", "val_loss", folder, run);
    note_left_out(folder / "train", train, run);
    note_left_out(folder / "validation", validation, run);
  } else {
    // TF1 Keras: one folder, tags named as in its History.
    const NewestTraining newest = newest_training(folder);
    for (const auto& [tag, values] : newest.scalars) {
      const std::string metric =
          keras_metric_name(tag.rfind("epoch_", 0) == 0 ? tag.substr(6) : tag);
      if (is_curve_metric(metric)) take_series(newest.scalars, tag, metric, folder, run);
    }
    note_left_out(folder, newest, run);
  }
  if (std::none_of(std::begin(kCurveMetrics), std::end(kCurveMetrics),
                   [&](const char* metric) { return run.find(metric) != nullptr; })) {
    throw data_error("{}: its event files hold no epoch_loss or epoch_accuracy scalars",
                     folder.string());
  }
  return run;
}

std::vector<RunCurves> read_runs(const fs::path& path, Format format, const RunLabel& label) {
  try {
    switch (format) {
      case Format::kL2sweepFolder:
        return read_l2sweep_folder(path);
      case Format::kKerasCsv:
        return {read_keras_csv(path, label)};
      case Format::kKerasHistory:
        return {read_keras_history(path, label)};
      case Format::kKerasTensorBoard:
        return {read_keras_tensorboard(path, label)};
    }
  } catch (const std::bad_alloc&) {
    throw data_error("{}: out of memory while reading it; expected a {} this machine can hold",
                     path.string(), format_name(format));
  }
  return {};
}

}  // namespace l2sweep::compare
