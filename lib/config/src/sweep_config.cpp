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

}  // namespace

const char* to_string(Shuffle shuffle) { return shuffle == Shuffle::kOnce ? "once" : "each-epoch"; }

const char* to_string(AdamVariant variant) {
  return variant == AdamVariant::kKeras ? "keras" : "torch";
}

void SweepConfig::validate() const {
  if (std::find(std::begin(kTuneMetrics), std::end(kTuneMetrics), tune_metric) ==
      std::end(kTuneMetrics)) {
    throw usage_error("--tune-metric '{}': expected val_accuracy or val_data_loss", tune_metric);
  }
  if (l2_search) {
    const L2Search& search = *l2_search;
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
    if (shard) {
      throw usage_error(
          "--l2 auto with --shard: a search decides each round from the last; run "
          "it as one job (it uses --jobs cores), see README \"Tuning the strength\"");
    }
    if (!score_test) {
      throw usage_error(
          "--score-test off with --l2 auto: the search decides what is scored (only its chosen "
          "strengths, once, after the search)");
    }
    if (dropout_rates.size() > 1 || weight_decays.size() > 1) {
      throw usage_error(
          "--l2 auto with a list of --{}: the search tunes the L2 strength alone; expected one "
          "--dropout and one --weight-decay value, held fixed during the search",
          dropout_rates.size() > 1 ? "dropout" : "weight-decay");
    }
  } else {
    validate_list("l2", l2_strengths, "strength");
    if (tune_metric != "val_accuracy") {
      throw usage_error("--tune-metric {}: expected --l2 auto, the search it steers", tune_metric);
    }
  }
  validate_list("dropout", dropout_rates, "rate", /*below=*/1.0);
  validate_list("weight-decay", weight_decays, "weight decay");
  require_in_range("--epochs", epochs, 1, kMaxEpochs);
  require_in_range("--batch-size", batch_size, 1, kMaxBatchSize);
  require_in_range("--seeds", seeds, 1, kMaxSeeds);
  require_in_range("--jobs", jobs, 0, kMaxJobs);
  if (seed > std::numeric_limits<uint64_t>::max() - static_cast<uint64_t>(seeds - 1)) {
    throw usage_error("--seed {} with --seeds {}: expected the last seed to fit in 64 bits", seed,
                      seeds);
  }
  if (!std::isfinite(learning_rate) || learning_rate <= 0) {
    throw usage_error("--lr {}: expected a finite learning rate > 0", learning_rate);
  }
  for (const double decay : weight_decays) {
    if (decay * learning_rate >= 1) {
      throw usage_error(
          "--weight-decay {} with --lr {}: expected lr * weight decay below 1 (each step "
          "multiplies the kernel by 1 - lr * weight decay)",
          decay, learning_rate);
    }
  }
  if (val_size < 1) {
    throw usage_error("--val-size {}: expected at least 1 validation example", val_size);
  }
  if (train_size && *train_size < 1) {
    throw usage_error("--train-size {}: expected at least 1 training example", *train_size);
  }
  if (data_dir.empty()) {
    throw usage_error("--data-dir: expected a folder, got an empty path");
  }
  static const std::regex kDevicePattern("auto|cpu|cuda(:[0-9]{1,3})?");
  if (!std::regex_match(device, kDevicePattern)) {
    throw usage_error("--device '{}': expected auto, cpu, cuda or cuda:N", device);
  }
  if (resume && out_dir.empty()) {
    throw usage_error("--resume: expected --out naming the folder of the sweep to resume");
  }
  if (shard && out_dir.empty()) {
    throw usage_error("--shard {}/{}: expected --out naming the folder all shards share",
                      shard->index, shard->count);
  }
}

}  // namespace l2sweep
