#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace l2sweep {

/// Where Debian's dataset-fashion-mnist package puts the Fashion-MNIST IDX files.
inline constexpr const char* kDefaultDataDir = "/usr/share/datasets/fashion-mnist";

/// A deterministic share of a sweep's runs: those whose plan index modulo `count` is `index`.
struct Shard {
  int64_t index = 0;
  int64_t count = 1;
};

/// `--l2 auto[:LOW:HIGH]`: search the validation-optimal strength in [low, high] (log scale)
/// instead of training a given list (l2sweep/tune/search.h).
struct L2Search {
  double low = 1e-6;
  double high = 1e-1;
};

/// The narrowest `--l2 auto` range: 7 strengths a round at least 0.02 decades apart.
inline constexpr double kMinSearchDecades = 0.12;
/// The strengths an `--l2 auto` range may span (beyond 100 every run is all penalty).
inline constexpr double kMinSearchStrength = 1e-12;
inline constexpr double kMaxSearchStrength = 100;

/// Which Adam update every engine applies.
enum class AdamVariant {
  kTorch,  ///< torch::optim::Adam's: eps added after the bias correction of sqrt(v)
  kKeras,  ///< Keras' Adam: eps added to the uncorrected sqrt(v) ("epsilon hat")
};

/// The --adam value of `variant`: "torch" or "keras".
const char* to_string(AdamVariant variant);

/// How each run orders its training examples from one epoch to the next.
enum class Shuffle {
  /// A new permutation every epoch, drawn from the run's seed: Keras' fit(shuffle=True) as the
  /// seed script runs it (without a global seed).
  kEachEpoch,
  /// One permutation per run, drawn from its seed and replayed every epoch: what Keras 3 on
  /// TensorFlow does once keras.utils.set_random_seed() was called (its tf.data shuffle
  /// restarts from the same seeds each epoch; tensorflow/tensorflow#35682).
  kOnce,
};

/// The --shuffle value of `shuffle`: "each-epoch" or "once".
const char* to_string(Shuffle shuffle);

/// What `--l2 auto` optimises, by its metrics.csv column.
inline constexpr const char* kTuneMetrics[] = {"val_accuracy", "val_data_loss"};

/// Everything that decides what a sweep computes. It is the single source of truth for
/// a run: the command line fills it in (l2sweep/config/options.h lists every field's option),
/// and summary.json records it verbatim.
struct SweepConfig {
  /// L2 strengths on the first Dense/Linear kernel, one training run each (Keras l2(l)).
  std::vector<double> l2_strengths{1e-4, 1e-3, 1e-2};
  /// Keras Dropout(rate) after the hidden layer's ReLU, one sweep setting each (0: none).
  std::vector<double> dropout_rates{0};
  /// Decoupled weight decay on the first Linear layer's kernel (AdamW's, Keras' and
  /// torch::optim::AdamW's weight_decay), one sweep setting each (0: none). The sweep trains
  /// every combination of l2_strengths, dropout_rates and weight_decays.
  std::vector<double> weight_decays{0};
  /// The Adam update: torch::optim::Adam's (default) or Keras' own.
  AdamVariant adam = AdamVariant::kTorch;
  /// Set by `--l2 auto`: search the strength instead (l2_strengths is then unused).
  std::optional<L2Search> l2_search;
  /// What `--l2 auto` optimises: "val_accuracy" (the final validation accuracy, maximised) or
  /// "val_data_loss" (the final validation cross-entropy, minimised).
  std::string tune_metric = "val_accuracy";
  int64_t epochs = 15;
  int64_t batch_size = 32;
  /// Adam learning rate (Keras default).
  double learning_rate = 1e-3;
  /// Seeds the initial weights and the shuffles; every strength uses the same one.
  uint64_t seed = 0;
  /// A new batch order every epoch (default), or one order replayed (a seeded Keras run).
  Shuffle shuffle = Shuffle::kEachEpoch;
  /// Each strength is trained with seeds seed, seed+1, ..., seed+seeds-1.
  int64_t seeds = 1;
  /// The last val_size training examples are held out for validation.
  int64_t val_size = 10000;
  /// Train on only the first N training examples; all of them when empty.
  std::optional<int64_t> train_size;
  std::string data_dir = kDefaultDataDir;
  /// Output folder; `runs/<UTC timestamp>` when empty.
  std::string out_dir;
  /// `auto`, `cpu`, `cuda` or `cuda:N`.
  std::string device = "auto";
  /// Cohorts (or slices of one) trained at the same time, each on one CPU thread (and on a
  /// GPU its own stream); 0 picks one per CPU core, except 1 for the autograd loop on a GPU.
  /// Results do not depend on it.
  int64_t jobs = 0;
  /// How steps are computed: an engine's name (l2sweep/train/engine_registry.h checks it when
  /// the plan is made), or `auto`: fused on the CPU; on CUDA, tensor with CUDA graphs, or
  /// autograd when cuda_graphs is off.
  std::string engine = "auto";
  /// On CUDA, capture the device step once as a CUDA graph and replay it every batch.
  bool cuda_graphs = true;
  /// Continue the sweep in `out_dir` from its checkpoints instead of starting a new one.
  bool resume = false;
  /// Train only this share of the runs (a Slurm array task, a Kubernetes indexed job); each
  /// shard writes only its runs' own files, and `l2sweep merge` assembles the rest.
  std::optional<Shard> shard;
  /// Not an option: the fingerprint of the data the sweep trains on (DatasetInfo's), set once
  /// the data is read; sweep.cfg and every checkpoint record it, and a sweep only continues on
  /// the same data. Empty when not known yet.
  std::string data_fingerprint;
  /// Whether each run is scored on the test set after its last epoch. The search rounds of
  /// `--l2 auto` are not (no peeking); only its chosen strengths are, once.
  bool score_test = true;
  /// One sweep of an `--l2 auto` search (a round, or its final runs): not an option (never
  /// in sweep.cfg); the sweep prints and writes no Recommendation of its own, since the
  /// search's answer supersedes it.
  bool part_of_search = false;

  /// Throws a usage Error naming the first option whose value is out of range, or two that
  /// do not go together. Pure: it asks no device whether it exists (resolve_plan does).
  void validate() const;
};

}  // namespace l2sweep
