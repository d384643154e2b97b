#include "l2sweep/sweep/plan.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/cuda.h>

#include <algorithm>
#include <regex>
#include <thread>

#include "l2sweep/base/error.h"
#include "l2sweep/base/parse.h"
#include "l2sweep/train/model.h"

namespace l2sweep {
namespace {

const EngineEntry& resolve_engine(const SweepConfig& config, const torch::Device& device) {
  if (config.engine == "auto") return auto_engine(device, config.cuda_graphs);
  const EngineEntry& engine = engine_named(config.engine);
  if (!engine.runs_on(device)) {
    std::vector<std::string> here = {"auto"};
    for (const EngineEntry& other : engine_registry()) {
      if (other.runs_on(device)) here.push_back(other.name);
    }
    const std::string last = here.back();
    here.pop_back();
    throw usage_error(
        "--engine {} with --device {}: the {} engine runs on the {} only; expected "
        "--engine {} or {}",
        config.engine, config.device, engine.name, engine.runs_on_cpu ? "CPU" : "GPU",
        fmt::join(here, ", "), last);
  }
  return engine;
}

/// This shard's runs as units of work, and how many train at once.
void plan_units(Plan& plan, const std::vector<RunSpec>& mine) {
  const SweepConfig& config = plan.config;
  if (plan.engine->stacks_members) {
    plan.units = cohorts_of(mine);
  } else {
    for (const RunSpec& run : mine) plan.units.push_back({run.seed, {run}});
  }
  const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
  const auto units_available = static_cast<int64_t>(std::max<size_t>(1, mine.size()));
  int64_t jobs = config.jobs;
  if (plan.engine->step_pieces_per_run > 0 && plan.device.is_cpu() && jobs == 0) {
    const CohortSchedule schedule =
        plan_cohort_units(plan.units, cores, plan.engine->step_pieces_per_run);
    plan.jobs = schedule.jobs;
    plan.unit_threads = schedule.threads;
    return;
  }
  if (jobs == 0) {
    // On a GPU one unit at a time: the tensor engine stacks a whole cohort into each step
    // (one stream, one graph, no threads), and the autograd loop is the plain baseline.
    jobs = plan.device.is_cpu() ? cores : 1;
  }
  jobs = std::clamp<int64_t>(jobs, 1, units_available);
  slice_cohorts(plan.units, static_cast<size_t>(jobs));
  plan.jobs =
      std::max<int64_t>(1, std::min<int64_t>(jobs, static_cast<int64_t>(plan.units.size())));
}

}  // namespace

std::vector<Cohort> training_order(const Plan& plan) {
  if (plan.engine->stacks_members) return cohorts_of(plan.runs);
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
  plan.engine = &resolve_engine(config, device);
  plan.cuda_graphs = plan.engine->replays_cuda_graphs && device.is_cuda() && config.cuda_graphs;
  plan.runs = plan_runs(config);
  std::vector<RunSpec> mine = plan.runs;
  if (config.shard) {
    const Shard shard = *config.shard;
    mine.erase(
        std::remove_if(mine.begin(), mine.end(),
                       [&](const RunSpec& run) { return run.index % shard.count != shard.index; }),
        mine.end());
  }
  plan_units(plan, mine);
  return plan;
}

Plan resolve_plan(const SweepConfig& config) {
  config.validate();
  return make_plan(config, resolve_device(config.device));
}

TrainOptions train_options(const Plan& plan, uint64_t seed) {
  TrainOptions options;
  options.learning_rate = plan.config.learning_rate;
  options.batch_size = plan.config.batch_size;
  options.shuffle_seed = seed;
  options.shuffle = plan.config.shuffle;
  options.engine = plan.engine->name;
  options.adam = plan.config.adam;
  options.cuda_graphs = plan.cuda_graphs;
  options.threads = plan.unit_threads;
  return options;
}

std::vector<Member> make_members(const Cohort& unit, const Plan& plan, const Datasets& data) {
  std::vector<Member> members;
  for (const RunSpec& run : unit.runs) {
    // Every setting starts from the same weights and sees the same batch order for a given
    // seed, so differences between runs come from the regularisation alone.
    at::Generator init = make_cpu_generator(run.seed);
    torch::nn::Sequential model =
        make_model(data.input_features(), kHiddenUnits, data.num_classes, init, run.dropout);
    model->to(plan.device);
    members.push_back({model, run.l2, run.dropout, run.weight_decay});
  }
  return members;
}

}  // namespace l2sweep
