#pragma once

#include <torch/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "l2sweep/config/sweep_config.h"
#include "l2sweep/train/engine.h"

namespace l2sweep {

/// What an engine's description depends on besides the engine: how summary.json and the
/// checkpoints say what ran.
struct EngineSetup {
  AdamVariant adam = AdamVariant::kTorch;
  bool cuda_graphs = false;   ///< steps replayed from a captured CUDA graph
  bool weight_decay = false;  ///< some member has decoupled weight decay
};

/// One way of computing a cohort's steps (l2sweep/train/engines/<name>/ holds its code): every
/// fact the planner, the command line, the checkpoints and the tests need about it. A new
/// engine is its folder and one entry in engine_registry().
struct EngineEntry {
  std::string name;  ///< its --engine value (a name it had before: kRenamedValues, options.h)
  /// Steps a cohort's members together (one stacked step for all of them) rather than one
  /// after another. Only then is a cohort worth keeping whole as one unit of work; members
  /// stepped in turn spread better over the jobs one run at a time.
  bool stacks_members = false;
  /// Pieces of equal work each member's CPU step splits into, which the engine spreads over
  /// TrainOptions::threads threads (the planner balances the cores by them); 0: the engine
  /// steps on one thread.
  int64_t step_pieces_per_run = 0;
  bool runs_on_cpu = true;
  bool runs_on_cuda = true;
  /// Can replay its steps from a captured CUDA graph (--cuda-graphs on, on CUDA).
  bool replays_cuda_graphs = false;
  /// One line for --help.
  std::string summary;
  /// What ran, in words, as summary.json records it.
  std::string (*describe)(const EngineSetup& setup) = nullptr;
  /// The engine over `members`, whose models are already on `device`.
  std::unique_ptr<Engine> (*make)(std::vector<Member> members, const TrainOptions& options,
                                  const torch::Device& device) = nullptr;

  bool runs_on(const torch::Device& device) const {
    return device.is_cuda() ? runs_on_cuda : runs_on_cpu;
  }
};

/// Every engine, in the order --help lists them.
const std::vector<EngineEntry>& engine_registry();

/// The engine called `name` (or a name it had before, kRenamedValues); nullptr when there is
/// none.
const EngineEntry* find_engine(std::string_view name);

/// The engine called `name`; a usage Error naming --engine and the choices otherwise.
const EngineEntry& engine_named(std::string_view name);

/// "auto, fused, tensor or autograd": the --engine values, for messages and --help.
std::string engine_choices();

/// An option's --help text with "{engines}" replaced by engine_choices() (the option table
/// lives in the config layer, below the engines).
std::string with_engine_choices(std::string help);

/// The engine `--engine auto` picks: the fastest that is equal up to float rounding (fused on
/// the CPU; on CUDA the tensor engine replaying CUDA graphs), or, on CUDA with `--cuda-graphs
/// off`, the straightforward LibTorch loop, the baseline to compare with.
const EngineEntry& auto_engine(const torch::Device& device, bool cuda_graphs);

}  // namespace l2sweep
