#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
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

/// Everything that decides what a sweep computes. It is the single source of truth for
/// a run: the command line fills it in, and summary.json records it verbatim.
struct SweepConfig {
  /// L2 strengths on the first Dense/Linear kernel, one training run each (Keras l2(l)).
  std::vector<double> l2_strengths{1e-4, 1e-3, 1e-2};
  int64_t epochs = 15;
  int64_t batch_size = 32;
  /// Adam learning rate (Keras default).
  double learning_rate = 1e-3;
  /// Seeds the initial weights and the per-epoch shuffles; every strength uses the same one.
  uint64_t seed = 0;
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
  /// Runs trained at the same time, each on one CPU thread (and on a GPU its own stream); 0
  /// picks one per CPU core, except 1 for the autograd loop on a GPU. Results do not depend
  /// on it.
  int64_t jobs = 0;
  /// How each step is computed: `autograd` (autograd and torch::optim::Adam), `fused`
  /// (FusedCpuStep, CPU only), `device` (DeviceStep: every step's state on the device, no
  /// host round trip) or `auto` (fused on the CPU; on CUDA, device with a CUDA graph, or
  /// autograd when cuda_graphs is off). All are equal up to float rounding.
  std::string engine = "auto";
  /// On CUDA, capture the device step once as a CUDA graph and replay it every batch.
  bool cuda_graphs = true;
  /// Continue the sweep in `out_dir` from its checkpoints instead of starting a new one.
  bool resume = false;
  /// Train only this share of the runs (a Slurm array task, a Kubernetes indexed job); each
  /// shard writes only its runs' own files, and `l2sweep merge` assembles the rest.
  std::optional<Shard> shard;

  /// Throws a usage Error naming the first option whose value is out of range.
  void validate() const;
};

/// The shard to run: `option` (from --shard) when given; else a Slurm array task
/// (SLURM_ARRAY_TASK_ID minus SLURM_ARRAY_TASK_MIN, out of SLURM_ARRAY_TASK_COUNT or
/// MAX - MIN + 1); else a Kubernetes Indexed Job (JOB_COMPLETION_INDEX out of
/// `kubernetes_count`, from --shard-count). `getenv` reads the environment. Throws a usage
/// Error for values out of range.
std::optional<Shard> resolve_shard(const std::optional<Shard>& option, int64_t kubernetes_count,
                                   const std::function<const char*(const char*)>& getenv);

/// The ways one training step can be computed (see SweepConfig::engine).
enum class StepEngine {
  kAutograd,  ///< autograd and torch::optim::Adam: the straightforward path
  kFusedCpu,  ///< FusedCpuStep: explicit gradients, one-pass Adam, CPU only
  kDevice,    ///< DeviceStep: explicit gradients and Adam as tensor ops, state on the device
};

/// The --engine value that selects `engine`: "autograd", "fused" or "device".
const char* to_string(StepEngine engine);

/// What a configuration trains with on `device`.
struct EngineChoice {
  StepEngine engine = StepEngine::kAutograd;
  bool cuda_graph = false;  ///< replay DeviceStep from a captured CUDA graph
};

/// Resolves config.engine and config.cuda_graphs for `device`.
EngineChoice resolve_engine(const SweepConfig& config, const torch::Device& device);

/// A short description of the optimizer path, as written to summary.json.
std::string describe(const EngineChoice& choice);

/// Turns a --device value into a device that exists here; throws a usage Error otherwise.
/// `auto` picks the first CUDA device when one is available, else the CPU.
torch::Device resolve_device(const std::string& spec);

}  // namespace l2sweep
