#include "l2sweep/checkpoint.h"

#include <fmt/format.h>
#include <torch/serialize/archive.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "l2sweep/error.h"
#include "l2sweep/outputs.h"

namespace l2sweep {
namespace fs = std::filesystem;
namespace {

/// Bumped whenever the layout of a checkpoint changes.
constexpr int64_t kCheckpointFormat = 1;
/// Columns of the history tensor, in this order.
constexpr int64_t kHistoryColumns = 10;

torch::Tensor history_tensor(const std::vector<EpochMetrics>& history) {
  auto table =
      torch::empty({static_cast<int64_t>(history.size()), kHistoryColumns}, torch::kFloat64);
  for (size_t i = 0; i < history.size(); ++i) {
    const EpochMetrics& m = history[i];
    const double row[kHistoryColumns] = {static_cast<double>(m.epoch),
                                         m.loss,
                                         m.accuracy,
                                         m.data_loss,
                                         m.val_loss,
                                         m.val_accuracy,
                                         m.val_data_loss,
                                         m.penalty,
                                         m.w1_norm,
                                         m.epoch_seconds};
    for (int64_t c = 0; c < kHistoryColumns; ++c) {
      table[static_cast<int64_t>(i)][c] = row[c];
    }
  }
  return table;
}

std::vector<EpochMetrics> history_rows(const torch::Tensor& table) {
  std::vector<EpochMetrics> history;
  const auto rows = table.accessor<double, 2>();
  for (int64_t i = 0; i < table.size(0); ++i) {
    EpochMetrics m;
    m.epoch = static_cast<int64_t>(rows[i][0]);
    m.loss = rows[i][1];
    m.accuracy = rows[i][2];
    m.data_loss = rows[i][3];
    m.val_loss = rows[i][4];
    m.val_accuracy = rows[i][5];
    m.val_data_loss = rows[i][6];
    m.penalty = rows[i][7];
    m.w1_norm = rows[i][8];
    m.epoch_seconds = rows[i][9];
    history.push_back(m);
  }
  return history;
}

}  // namespace

CheckpointStore::CheckpointStore(fs::path folder) : folder_(std::move(folder)) {
  std::error_code error;
  fs::create_directories(folder_, error);
  if (error) {
    throw output_error("{}: cannot create folder ({})", folder_.string(), error.message());
  }
}

fs::path CheckpointStore::path_for(const RunSpec& run) const {
  return folder_ / (run_name(run) + ".pt");
}

void CheckpointStore::save(const RunSpec& run, const RunResult& progress,
                           const Trainer& trainer) const {
  torch::serialize::OutputArchive archive;
  archive.write("format", torch::tensor({kCheckpointFormat}, torch::kInt64));
  archive.write("run.l2", torch::tensor({run.l2}, torch::kFloat64));
  archive.write("run.seed", torch::tensor({static_cast<int64_t>(run.seed)}, torch::kInt64));
  archive.write("status", torch::tensor({static_cast<int64_t>(progress.status)}, torch::kInt64));
  archive.write("history", history_tensor(progress.history));
  archive.write("train_seconds", torch::tensor({progress.train_seconds}, torch::kFloat64));
  archive.write("device", c10::IValue(progress.device));
  const EvalMetrics test = progress.test.value_or(EvalMetrics{});
  archive.write("test", torch::tensor({progress.test ? 1.0 : 0.0, test.loss, test.data_loss,
                                       test.penalty, test.accuracy},
                                      torch::kFloat64));
  trainer.save_state(archive);

  // Serialise in memory, then write with our own atomic writer: LibTorch's file writer
  // reports a failed write (a full disk) by throwing from a destructor, which aborts.
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomically(path_for(run), bytes.str());
}

std::optional<RunResult> CheckpointStore::load(const RunSpec& run, Trainer& trainer) const {
  return read(run, &trainer);
}

std::optional<RunResult> CheckpointStore::progress(const RunSpec& run) const {
  return read(run, nullptr);
}

std::optional<RunResult> CheckpointStore::read(const RunSpec& run, Trainer* trainer) const {
  const fs::path path = path_for(run);
  if (!fs::exists(path)) {
    return std::nullopt;
  }
  RunResult result;
  result.spec = run;
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path.string());
    torch::Tensor format, l2, seed, status, history, train_seconds, test;
    archive.read("format", format);
    if (format.item<int64_t>() != kCheckpointFormat) {
      throw data_error("{}: checkpoint format {}; expected {}", path.string(),
                       format.item<int64_t>(), kCheckpointFormat);
    }
    archive.read("run.l2", l2);
    archive.read("run.seed", seed);
    if (l2.item<double>() != run.l2 || seed.item<int64_t>() != static_cast<int64_t>(run.seed)) {
      throw data_error("{}: checkpoint of another run; expected l2 {} seed {}", path.string(),
                       run.l2, run.seed);
    }
    archive.read("status", status);
    archive.read("history", history);
    archive.read("train_seconds", train_seconds);
    archive.read("test", test);
    TORCH_CHECK(history.dim() == 2 && history.size(1) == kHistoryColumns &&
                    history.scalar_type() == torch::kFloat64,
                "the metrics table has the wrong shape");
    const auto code = status.item<int64_t>();
    TORCH_CHECK(code >= 0 && code <= static_cast<int64_t>(RunStatus::kInterrupted),
                "unknown run status ", code);
    result.status = static_cast<RunStatus>(code);
    result.history = history_rows(history);
    result.train_seconds = train_seconds.item<double>();
    c10::IValue device;
    if (archive.try_read("device", device) && device.isString()) {
      result.device = device.toStringRef();
    }
    if (test[0].item<double>() != 0) {
      EvalMetrics metrics;
      metrics.loss = test[1].item<double>();
      metrics.data_loss = test[2].item<double>();
      metrics.penalty = test[3].item<double>();
      metrics.accuracy = test[4].item<double>();
      result.test = metrics;
    }
    if (trainer != nullptr) trainer->load_state(archive);
  } catch (const Error& e) {
    throw Error(e.kind(), fmt::format("{}: {}", path.string(), e.what()));
  } catch (const c10::Error& e) {
    std::string message = e.what_without_backtrace();
    message = message.substr(0, message.find('\n'));
    throw data_error("{}: damaged checkpoint ({}); delete it to retrain that run from scratch",
                     path.string(), message);
  }
  return result;
}

std::string sweep_config_text(const SweepConfig& config) {
  std::string l2;
  for (const double value : config.l2_strengths) {
    l2 += (l2.empty() ? "" : ",") + fmt::format("{}", value);
  }
  std::string text = fmt::format(
      "l2={}\nepochs={}\nbatch-size={}\nlr={}\nseed={}\nseeds={}\nval-size={}\ntrain-size={}\n"
      "data-dir={}\ndevice={}\nengine={}\n",
      l2, config.epochs, config.batch_size, config.learning_rate, config.seed, config.seeds,
      config.val_size, config.train_size ? fmt::format("{}", *config.train_size) : "all",
      config.data_dir, config.device, config.engine);
  // Only when off, so that sweeps written before the option existed still resume.
  if (!config.cuda_graphs) text += "cuda-graphs=off\n";
  return text;
}

namespace {

/// sweep.cfg's text, or nullopt when `folder` has none.
std::optional<std::string> saved_config_text(const fs::path& folder) {
  std::ifstream in(folder / kSweepConfigFile);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// The `name=value` lines of a sweep.cfg text, in order.
std::vector<std::pair<std::string, std::string>> settings(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> result;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const size_t equals = line.find('=');
    result.emplace_back(line.substr(0, equals),
                        equals == std::string::npos ? "" : line.substr(equals + 1));
  }
  return result;
}

/// The settings of a sweep.cfg text in order, followed by the value implied for each setting
/// that is written only when it differs from its default (sweep_config_text).
std::vector<std::pair<std::string, std::string>> comparable_settings(const std::string& text) {
  auto result = settings(text);
  for (const char* name : {"cuda-graphs"}) {
    const bool written = std::any_of(result.begin(), result.end(),
                                     [&](const auto& setting) { return setting.first == name; });
    if (!written) result.emplace_back(name, "on");
  }
  return result;
}

}  // namespace

SweepConfig read_sweep_config(const fs::path& folder) {
  const fs::path path = folder / kSweepConfigFile;
  const std::optional<std::string> text = saved_config_text(folder);
  if (!text) {
    throw usage_error("{}: no l2sweep sweep here (no {}); expected the --out of a sweep",
                      folder.string(), kSweepConfigFile);
  }
  SweepConfig config;
  int number = 0;
  for (const auto& [name, value] : settings(*text)) {
    ++number;
    try {
      if (name == "l2") {
        config.l2_strengths.clear();
        std::istringstream list(value);
        for (std::string item; std::getline(list, item, ',');) {
          config.l2_strengths.push_back(std::stod(item));
        }
      } else if (name == "epochs") {
        config.epochs = std::stoll(value);
      } else if (name == "batch-size") {
        config.batch_size = std::stoll(value);
      } else if (name == "lr") {
        config.learning_rate = std::stod(value);
      } else if (name == "seed") {
        config.seed = std::stoull(value);
      } else if (name == "seeds") {
        config.seeds = std::stoll(value);
      } else if (name == "val-size") {
        config.val_size = std::stoll(value);
      } else if (name == "train-size") {
        if (value != "all") config.train_size = std::stoll(value);
      } else if (name == "data-dir") {
        config.data_dir = value;
      } else if (name == "device") {
        config.device = value;
      } else if (name == "engine") {
        config.engine = value;
      } else if (name == "cuda-graphs") {
        config.cuda_graphs = value == "on";
      } else if (!name.empty()) {
        throw std::invalid_argument("unknown setting");
      }
    } catch (const std::exception&) {
      throw data_error("{}:{}: cannot read '{}={}'", path.string(), number, name, value);
    }
  }
  config.out_dir = folder.string();
  // What sweep.cfg holds must read back to the same text, or it was edited into nonsense.
  if (sweep_config_text(config) != *text) {
    throw data_error(
        "{}: does not read back to the same settings; expected a file written by l2sweep",
        path.string());
  }
  return config;
}

void check_resume_config(const fs::path& folder, const SweepConfig& config) {
  const std::optional<std::string> text = saved_config_text(folder);
  if (!text) {
    throw usage_error(
        "--resume: {} holds no l2sweep sweep to resume (no {}); expected the --out "
        "of an earlier run",
        folder.string(), kSweepConfigFile);
  }
  std::map<std::string, std::string> saved;
  for (const auto& [name, value] : comparable_settings(*text)) saved[name] = value;
  for (const auto& [name, wanted] : comparable_settings(sweep_config_text(config))) {
    const auto found = saved.find(name);
    if (found == saved.end() || found->second != wanted) {
      throw usage_error(
          "--resume: --{} differs from the sweep in {}: it ran with {}, this command asks for "
          "{}; resume with the same options or choose a new --out",
          name, folder.string(), found == saved.end() ? "nothing" : found->second, wanted);
    }
  }
}

}  // namespace l2sweep
