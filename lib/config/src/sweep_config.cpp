#include "l2sweep/config/sweep_config.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <regex>

#include "l2sweep/base/error.h"

namespace l2sweep {
namespace {

/// Upper bounds that only catch typos (an extra digit or two), not real experiments.
constexpr int64_t kMaxEpochs = 100000;
constexpr int64_t kMaxBatchSize = 1 << 20;
constexpr int64_t kMaxSeeds = 10000;
constexpr int64_t kMaxJobs = 1024;

void require_in_range(const char* option, int64_t value, int64_t low, int64_t high) {
  if (value < low || value > high) {
    throw usage_error("{} {}: expected an integer from {} to {}", option, value, low, high);
  }
}

/// A list option's values: at least one, each once, each finite, >= 0 and below `below`
/// (when given).
void validate_list(const char* option, const std::vector<double>& values, const char* what,
                   std::optional<double> below = std::nullopt) {
  if (values.empty()) {
    throw usage_error("--{}: expected at least one {}", option, what);
  }
  for (size_t i = 0; i < values.size(); ++i) {
    const double value = values[i];
    if (!std::isfinite(value) || value < 0 || (below && value >= *below)) {
      if (below) {
        throw usage_error("--{} {}: expected {}s from 0 up to (not including) {}", option, value,
                          what, *below);
      }
      throw usage_error("--{} {}: expected finite {}s >= 0", option, value, what);
    }
    if (std::find(values.begin(), values.begin() + i, value) != values.begin() + i) {
      throw usage_error("--{}: {} is listed twice; expected each {} once", option, value, what);
    }
  }
}

/// `--l2 auto`'s range, and the options a search does not go with.
void validate_auto_search(const SweepConfig& config) {
  const L2Search& search = *config.l2_search;
  if (!std::isfinite(search.low) || !std::isfinite(search.high) ||
      search.low < kMinSearchStrength || search.high > kMaxSearchStrength ||
      search.high <= search.low) {
    throw usage_error("--l2 auto:{}:{}: expected {} <= LOW < HIGH <= {}", search.low, search.high,
                      kMinSearchStrength, kMaxSearchStrength);
  }
  if (std::log10(search.high / search.low) < kMinSearchDecades) {
    throw usage_error(
        "--l2 auto:{}:{}: expected a range of at least {} decades (HIGH/LOW >= "
        "{:.3g})",
        search.low, search.high, kMinSearchDecades, std::pow(10.0, kMinSearchDecades));
  }
  if (config.shard) {
    throw usage_error(
        "--l2 auto with --shard: a search decides each round from the last; run "
        "it as one job (it uses --jobs cores), see docs/tuning.md");
  }
  if (!config.score_test) {
    throw usage_error(
        "--score-test off with --l2 auto: the search decides what is scored (only its chosen "
        "strengths, once, after the search)");
  }
  if (config.dropout_rates.size() > 1 || config.weight_decays.size() > 1) {
    throw usage_error(
        "--l2 auto with a list of --{}: the search tunes the L2 strength alone; expected one "
        "--dropout and one --weight-decay value, held fixed during the search",
        config.dropout_rates.size() > 1 ? "dropout" : "weight-decay");
  }
}

/// --tune-metric, and either the search (--l2 auto) or the list of strengths.
void validate_search(const SweepConfig& config) {
  if (std::find(std::begin(kTuneMetrics), std::end(kTuneMetrics), config.tune_metric) ==
      std::end(kTuneMetrics)) {
    throw usage_error("--tune-metric '{}': expected val_accuracy or val_data_loss",
                      config.tune_metric);
  }
  if (config.l2_search) {
    validate_auto_search(config);
  } else {
    validate_list("l2", config.l2_strengths, "strength");
    if (config.tune_metric != "val_accuracy") {
      throw usage_error("--tune-metric {}: expected --l2 auto, the search it steers",
                        config.tune_metric);
    }
  }
}

/// The other list options: Dropout rates and weight decays.
void validate_lists(const SweepConfig& config) {
  validate_list("dropout", config.dropout_rates, "rate", /*below=*/1.0);
  validate_list("weight-decay", config.weight_decays, "weight decay");
}

/// The numbers: counts, seeds, the learning rate (with the weight decays) and the data sizes.
void validate_ranges(const SweepConfig& config) {
  require_in_range("--epochs", config.epochs, 1, kMaxEpochs);
  require_in_range("--batch-size", config.batch_size, 1, kMaxBatchSize);
  require_in_range("--seeds", config.seeds, 1, kMaxSeeds);
  require_in_range("--jobs", config.jobs, 0, kMaxJobs);
  if (config.seed >
      std::numeric_limits<uint64_t>::max() - static_cast<uint64_t>(config.seeds - 1)) {
    throw usage_error("--seed {} with --seeds {}: expected the last seed to fit in 64 bits",
                      config.seed, config.seeds);
  }
  if (!std::isfinite(config.learning_rate) || config.learning_rate <= 0) {
    throw usage_error("--lr {}: expected a finite learning rate > 0", config.learning_rate);
  }
  for (const double decay : config.weight_decays) {
    if (decay * config.learning_rate >= 1) {
      throw usage_error(
          "--weight-decay {} with --lr {}: expected lr * weight decay below 1 (each step "
          "multiplies the kernel by 1 - lr * weight decay)",
          decay, config.learning_rate);
    }
  }
  if (config.val_size < 1) {
    throw usage_error("--val-size {}: expected at least 1 validation example", config.val_size);
  }
  if (config.train_size && *config.train_size < 1) {
    throw usage_error("--train-size {}: expected at least 1 training example", *config.train_size);
  }
}

/// The data folder, the device, and the output folder that --resume and --shard need.
void validate_paths(const SweepConfig& config) {
  if (config.data_dir.empty()) {
    throw usage_error("--data-dir: expected a folder, got an empty path");
  }
  static const std::regex kDevicePattern("auto|cpu|cuda(:[0-9]{1,3})?");
  if (!std::regex_match(config.device, kDevicePattern)) {
    throw usage_error("--device '{}': expected auto, cpu, cuda or cuda:N", config.device);
  }
  if (config.resume && config.out_dir.empty()) {
    throw usage_error("--resume: expected --out naming the folder of the sweep to resume");
  }
  if (config.shard && config.out_dir.empty()) {
    throw usage_error("--shard {}/{}: expected --out naming the folder all shards share",
                      config.shard->index, config.shard->count);
  }
}

}  // namespace

const char* to_string(Shuffle shuffle) { return shuffle == Shuffle::kOnce ? "once" : "each-epoch"; }

const char* to_string(AdamVariant variant) {
  return variant == AdamVariant::kKeras ? "keras" : "torch";
}

void SweepConfig::validate() const {
  validate_search(*this);
  validate_lists(*this);
  validate_ranges(*this);
  validate_paths(*this);
}

}  // namespace l2sweep
