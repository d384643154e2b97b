#pragma once

#include <torch/nn/modules/container/sequential.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "l2sweep/config/runs.h"
#include "l2sweep/config/sweep_config.h"
#include "l2sweep/data/data.h"
#include "l2sweep/train/engine.h"
#include "l2sweep/train/engine_registry.h"

namespace l2sweep {

/// A configuration resolved once into what this process will do; everything downstream
/// (the runner, the engines, the writers) reads the plan, never the option strings.
struct Plan {
  SweepConfig config;
  torch::Device device{torch::kCPU};
  /// The engine that computes the steps (engine_registry()); never null in a made plan.
  const EngineEntry* engine = nullptr;
  /// The engine replays its steps from CUDA graphs (only ever on CUDA).
  bool cuda_graphs = false;
  /// Every run of the sweep, in plan order (all shards').
  std::vector<RunSpec> runs;
  /// This process's runs (its shard's) as units of work, in plan order: for an engine that
  /// stacks members, cohorts (split into slices when there are more jobs than cohorts); for
  /// one that steps them in turn, one run each (a cohort of one), which spreads best over the
  /// jobs.
  std::vector<Cohort> units;
  /// Units trained at once, each on one thread: config.jobs, or by default one per core (on a
  /// GPU, 1); never more than there are units, never fewer than 1. For an engine that stacks
  /// members on the CPU, see plan_cohort_units.
  int64_t jobs = 1;
  /// Threads each unit's step spreads over (TrainOptions::threads): more than one only for an
  /// engine that splits its steps, on the CPU, with --jobs auto (plan_cohort_units).
  int64_t unit_threads = 1;
};

/// Every run of the sweep in the units one job trains them in, in order: the cohorts of all
/// runs for an engine that stacks members, single runs otherwise. The order in which a --jobs 1
/// sweep writes metrics.csv, and so the order merge and --resume rewrite it in.
std::vector<Cohort> training_order(const Plan& plan);

/// Turns a --device value into a device that exists here; throws a usage Error otherwise.
/// `auto` picks the first CUDA device when one is available, else the CPU.
torch::Device resolve_device(const std::string& spec);

/// The plan of `config` on `device`, which the caller has resolved: the engine (`auto`:
/// auto_engine()), this shard's runs as units of work, and the job count. Throws a usage Error
/// for an engine that does not exist or cannot run on `device`. Asks no hardware anything.
Plan make_plan(const SweepConfig& config, const torch::Device& device);

/// Validates `config`, resolves its device, then make_plan(): what a sweep starts with.
Plan resolve_plan(const SweepConfig& config);

/// What every member of a unit shares: the plan's learning rate, batch size, data order, engine,
/// Adam and CUDA graphs, with the unit's seed. The one mapping from a plan to the engines'
/// options, for the sweep and for l2sweep_trace.
TrainOptions train_options(const Plan& plan, uint64_t seed);

/// The unit's runs as an engine's members: each a Keras-initialised model from its seed, with
/// its Dropout layer, on plan.device.
std::vector<Member> make_members(const Cohort& unit, const Plan& plan, const Datasets& data);

}  // namespace l2sweep
