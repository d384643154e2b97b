#include "l2sweep/config.h"

#include <torch/cuda.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <regex>

#include "l2sweep/error.h"

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

}  // namespace

void SweepConfig::validate() const {
  if (l2_strengths.empty()) {
    throw usage_error("--l2: expected at least one strength");
  }
  for (size_t i = 0; i < l2_strengths.size(); ++i) {
    const double l2 = l2_strengths[i];
    if (!std::isfinite(l2) || l2 < 0) {
      throw usage_error("--l2 {}: expected finite strengths >= 0", l2);
    }
    if (std::find(l2_strengths.begin(), l2_strengths.begin() + i, l2) != l2_strengths.begin() + i) {
      throw usage_error("--l2: {} is listed twice; expected each strength once", l2);
    }
  }
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
  if (val_size < 1) {
    throw usage_error("--val-size {}: expected at least 1 validation example", val_size);
  }
  if (train_size && *train_size < 1) {
    throw usage_error("--train-size {}: expected at least 1 training example", *train_size);
  }
  if (data_dir.empty()) {
    throw usage_error("--data-dir: expected a folder, got an empty path");
  }
  if (resume && out_dir.empty()) {
    throw usage_error("--resume: expected --out naming the folder of the sweep to resume");
  }
  const torch::Device resolved = resolve_device(device);
  if (engine != "auto" && engine != "fused" && engine != "device" && engine != "autograd") {
    throw usage_error("--engine '{}': expected auto, fused, device or autograd", engine);
  }
  if (engine == "fused" && !resolved.is_cpu()) {
    throw usage_error(
        "--engine fused with --device {}: the fused step runs on the CPU only; "
        "expected --engine auto, device or autograd",
        device);
  }
}

const char* to_string(StepEngine engine) {
  switch (engine) {
    case StepEngine::kAutograd:
      return "autograd";
    case StepEngine::kFusedCpu:
      return "fused";
    case StepEngine::kDevice:
      return "device";
  }
  return "unknown";
}

EngineChoice resolve_engine(const SweepConfig& config, const torch::Device& device) {
  EngineChoice choice;
  if (config.engine == "autograd") return choice;
  if (config.engine == "fused") {
    choice.engine = StepEngine::kFusedCpu;
    return choice;
  }
  if (config.engine == "device") {
    choice.engine = StepEngine::kDevice;
    choice.cuda_graph = device.is_cuda() && config.cuda_graphs;
    return choice;
  }
  // auto: the fastest path that is equal up to float rounding; on CUDA without graphs, the
  // straightforward LibTorch loop, so that `--cuda-graphs off` is the baseline to compare with.
  if (device.is_cpu()) {
    choice.engine = StepEngine::kFusedCpu;
  } else if (config.cuda_graphs) {
    choice.engine = StepEngine::kDevice;
    choice.cuda_graph = device.is_cuda();
  }
  return choice;
}

std::string describe(const EngineChoice& choice) {
  switch (choice.engine) {
    case StepEngine::kAutograd:
      return "torch::optim::Adam";
    case StepEngine::kFusedCpu:
      return "Adam, fused CPU step (torch::optim::Adam's update in one pass)";
    case StepEngine::kDevice:
      return choice.cuda_graph
                 ? "Adam, device step replayed from a CUDA graph (torch::optim::Adam's update, "
                   "step count on the device)"
                 : "Adam, device step (torch::optim::Adam's update, step count on the device)";
  }
  return "unknown";
}

namespace {

int64_t environment_integer(const char* name, const char* text) {
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text, &end, 10);
  if (*text == '\0' || *end != '\0' || errno == ERANGE || value < 0) {
    throw usage_error("{}='{}': expected a non-negative integer", name, text);
  }
  return value;
}

void check_shard(const Shard& shard, const char* source) {
  if (shard.count < 1 || shard.index < 0 || shard.index >= shard.count) {
    throw usage_error("{} {}/{}: expected INDEX/COUNT with 0 <= INDEX < COUNT", source, shard.index,
                      shard.count);
  }
}

}  // namespace

std::optional<Shard> resolve_shard(const std::optional<Shard>& option, int64_t kubernetes_count,
                                   const std::function<const char*(const char*)>& getenv) {
  if (option) {
    check_shard(*option, "--shard");
    return option;
  }
  if (const char* task = getenv("SLURM_ARRAY_TASK_ID")) {
    const char* min_text = getenv("SLURM_ARRAY_TASK_MIN");
    const int64_t min = min_text ? environment_integer("SLURM_ARRAY_TASK_MIN", min_text) : 0;
    Shard shard;
    shard.index = environment_integer("SLURM_ARRAY_TASK_ID", task) - min;
    if (const char* count = getenv("SLURM_ARRAY_TASK_COUNT")) {
      shard.count = environment_integer("SLURM_ARRAY_TASK_COUNT", count);
    } else if (const char* max = getenv("SLURM_ARRAY_TASK_MAX")) {
      shard.count = environment_integer("SLURM_ARRAY_TASK_MAX", max) - min + 1;
    } else {
      throw usage_error(
          "SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor "
          "SLURM_ARRAY_TASK_MAX is; expected both from sbatch --array");
    }
    check_shard(shard, "Slurm array task");
    return shard;
  }
  if (const char* index = getenv("JOB_COMPLETION_INDEX")) {
    if (kubernetes_count < 1) {
      throw usage_error(
          "JOB_COMPLETION_INDEX is set: expected --shard-count N (the Indexed "
          "Job's completions) to split the sweep");
    }
    const Shard shard{environment_integer("JOB_COMPLETION_INDEX", index), kubernetes_count};
    check_shard(shard, "Kubernetes job index");
    return shard;
  }
  return std::nullopt;
}

torch::Device resolve_device(const std::string& spec) {
  if (spec == "cpu") {
    return torch::kCPU;
  }
  if (spec == "auto") {
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::kCPU;
  }
  static const std::regex kCudaPattern("cuda(:([0-9]{1,3}))?");
  std::smatch match;
  if (!std::regex_match(spec, match, kCudaPattern)) {
    throw usage_error("--device '{}': expected auto, cpu, cuda or cuda:N", spec);
  }
  if (!torch::cuda::is_available()) {
    throw usage_error(
        "--device {}: CUDA is not available (this LibTorch is built without CUDA or no GPU is "
        "visible); expected --device cpu or auto",
        spec);
  }
  const int64_t index = match[2].matched ? std::stoll(match[2].str()) : 0;
  const auto count = static_cast<int64_t>(torch::cuda::device_count());
  if (index >= count) {
    throw usage_error("--device {}: expected a CUDA device index below {}", spec, count);
  }
  return {torch::kCUDA, static_cast<c10::DeviceIndex>(index)};
}

}  // namespace l2sweep
