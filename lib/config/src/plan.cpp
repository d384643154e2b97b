#include "l2sweep/config/plan.h"

#include <fmt/format.h>
#include <torch/cuda.h>

#include <algorithm>
#include <regex>
#include <thread>

#include "l2sweep/base/error.h"
#include "l2sweep/base/parse.h"

namespace l2sweep {
namespace {

EngineKind resolve_engine(const SweepConfig& config, const torch::Device& device) {
  if (config.engine) return *config.engine;
  // auto: the fastest engine that is equal up to float rounding; on CUDA without graphs, the
  // straightforward LibTorch loop, so that `--cuda-graphs off` is the baseline to compare with.
  if (device.is_cpu()) return EngineKind::kFused;
  return config.cuda_graphs ? EngineKind::kDevice : EngineKind::kAutograd;
}

}  // namespace

std::string run_name(const RunSpec& run) {
  std::string name = fmt::format("l2-{}", run.l2);
  if (run.dropout != 0) name += fmt::format("_dropout-{}", run.dropout);
  if (run.weight_decay != 0) name += fmt::format("_wd-{}", run.weight_decay);
  return name + fmt::format("_seed-{}", run.seed);
}

std::string setting_label(const RunSpec& run) {
  std::string label = fmt::format("l2={}", run.l2);
  if (run.dropout != 0) label += fmt::format(" dropout={}", run.dropout);
  if (run.weight_decay != 0) label += fmt::format(" wd={}", run.weight_decay);
  return label;
}

bool same_setting(const RunSpec& a, const RunSpec& b) {
  return a.l2 == b.l2 && a.dropout == b.dropout && a.weight_decay == b.weight_decay;
}

std::vector<RunSpec> plan_runs(const SweepConfig& config) {
  std::vector<RunSpec> runs;
  const auto count = static_cast<int64_t>(config.l2_strengths.size() * config.dropout_rates.size() *
                                          config.weight_decays.size()) *
                     config.seeds;
  for (const double l2 : config.l2_strengths) {
    for (const double dropout : config.dropout_rates) {
      for (const double decay : config.weight_decays) {
        for (int64_t offset = 0; offset < config.seeds; ++offset) {
          RunSpec run;
          // + 0.0: -0 is the unregularised control, 0.
          run.l2 = l2 + 0.0;
          run.dropout = dropout + 0.0;
          run.weight_decay = decay + 0.0;
          run.seed = config.seed + static_cast<uint64_t>(offset);
          run.index = static_cast<int64_t>(runs.size());
          run.count = count;
          runs.push_back(run);
        }
      }
    }
  }
  return runs;
}

std::vector<Cohort> cohorts_of(const std::vector<RunSpec>& runs) {
  std::vector<Cohort> cohorts;
  for (const RunSpec& run : runs) {
    auto found = std::find_if(cohorts.begin(), cohorts.end(),
                              [&](const Cohort& cohort) { return cohort.seed == run.seed; });
    if (found == cohorts.end()) {
      cohorts.push_back({run.seed, {}});
      found = cohorts.end() - 1;
    }
    found->members.push_back(run);
  }
  return cohorts;
}

void slice_cohorts(std::vector<Cohort>& cohorts, size_t units) {
  while (cohorts.size() < units) {
    const auto largest = std::max_element(
        cohorts.begin(), cohorts.end(),
        [](const Cohort& a, const Cohort& b) { return a.members.size() < b.members.size(); });
    if (largest == cohorts.end() || largest->members.size() < 2) return;
    const auto half = static_cast<std::ptrdiff_t>((largest->members.size() + 1) / 2);
    Cohort second{largest->seed, {largest->members.begin() + half, largest->members.end()}};
    largest->members.resize(static_cast<size_t>(half));
    cohorts.insert(largest + 1, std::move(second));
  }
}

int64_t plan_cohort_units(std::vector<Cohort>& cohorts, int64_t cores) {
  size_t runs = 0;
  for (const Cohort& cohort : cohorts) runs += cohort.members.size();
  const auto cpu = static_cast<size_t>(std::max<int64_t>(1, cores));
  if (runs <= 2 * cpu) {
    slice_cohorts(cohorts, runs);  // one run each
  } else {
    slice_cohorts(cohorts, cpu);
  }
  const auto units = static_cast<int64_t>(cohorts.size());
  return units <= 2 * static_cast<int64_t>(cpu) ? units : static_cast<int64_t>(cpu);
}

std::vector<Cohort> training_order(const Plan& plan) {
  if (steps_members_together(plan.engine)) return cohorts_of(plan.runs);
  std::vector<Cohort> units;
  for (const RunSpec& run : plan.runs) units.push_back({run.seed, {run}});
  return units;
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
  const int64_t index = match[2].matched ? parse_int64(match[2].str()).value_or(0) : 0;
  const auto count = static_cast<int64_t>(torch::cuda::device_count());
  if (index >= count) {
    throw usage_error("--device {}: expected a CUDA device index below {}", spec, count);
  }
  return {torch::kCUDA, static_cast<c10::DeviceIndex>(index)};
}

Plan make_plan(const SweepConfig& config, const torch::Device& device) {
  Plan plan;
  plan.config = config;
  plan.device = device;
  plan.engine = resolve_engine(config, device);
  if (plan.engine == EngineKind::kFused && !device.is_cpu()) {
    throw usage_error(
        "--engine fused with --device {}: the fused step runs on the CPU only; "
        "expected --engine auto, device or autograd",
        config.device);
  }
  plan.cuda_graphs = plan.engine == EngineKind::kDevice && device.is_cuda() && config.cuda_graphs;
  plan.runs = plan_runs(config);
  std::vector<RunSpec> mine = plan.runs;
  if (config.shard) {
    const Shard shard = *config.shard;
    mine.erase(
        std::remove_if(mine.begin(), mine.end(),
                       [&](const RunSpec& run) { return run.index % shard.count != shard.index; }),
        mine.end());
  }
  if (steps_members_together(plan.engine)) {
    plan.cohorts = cohorts_of(mine);
  } else {
    for (const RunSpec& run : mine) plan.cohorts.push_back({run.seed, {run}});
  }

  const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
  const auto units_available = static_cast<int64_t>(std::max<size_t>(1, mine.size()));
  int64_t jobs = config.jobs;
  if (steps_members_together(plan.engine) && device.is_cpu() && jobs == 0) {
    plan.jobs = std::max<int64_t>(1, plan_cohort_units(plan.cohorts, cores));
    return plan;
  }
  if (jobs == 0) {
    // On a GPU one unit at a time: the device engine stacks a whole cohort into each step
    // (one stream, one graph, no threads), and the autograd loop is the plain baseline.
    jobs = device.is_cpu() ? cores : 1;
  }
  jobs = std::clamp<int64_t>(jobs, 1, units_available);
  slice_cohorts(plan.cohorts, static_cast<size_t>(jobs));
  plan.jobs =
      std::max<int64_t>(1, std::min<int64_t>(jobs, static_cast<int64_t>(plan.cohorts.size())));
  return plan;
}

Plan resolve_plan(const SweepConfig& config) {
  config.validate();
  return make_plan(config, resolve_device(config.device));
}

}  // namespace l2sweep
