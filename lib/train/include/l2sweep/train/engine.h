#pragma once

#include <torch/nn/modules/container/sequential.h>
#include <torch/serialize/archive.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "l2sweep/base/stop_token.h"
#include "l2sweep/config/sweep_config.h"
#include "l2sweep/data/data.h"
#include "l2sweep/train/metrics.h"

namespace l2sweep {

/// One member of a cohort: its model (Keras-initialised, on the engine's device) and the
/// regularisation that sets it apart from the other members.
struct Member {
  torch::nn::Sequential model;
  double l2 = 0;  ///< Keras' l2(l) on the first Linear layer's kernel
  /// Keras' Dropout rate after the hidden layer; the model has a KerasDropout layer when > 0.
  double dropout = 0;
  /// Decoupled weight decay on the first Linear layer's kernel (AdamW's weight_decay).
  double weight_decay = 0;
};

/// What every member of a cohort shares.
struct TrainOptions {
  double learning_rate = 1e-3;
  int64_t batch_size = 32;
  uint64_t shuffle_seed = 0;              ///< seeds the batch orders (DataOrder)
  Shuffle shuffle = Shuffle::kEachEpoch;  ///< a new order every epoch, or one replayed
  /// Which engine (its name in engine_registry(); make_engine builds it).
  std::string engine = "autograd";
  /// torch::optim::Adam's update, or Keras' (KerasAdam).
  AdamVariant adam = AdamVariant::kTorch;
  /// With the tensor engine on CUDA: replay the steps from CUDA graphs captured in the first
  /// epoch.
  bool cuda_graphs = false;
  /// CPU threads one unit's step spreads over, the caller's included (the fused engine; the
  /// others use one): the plan's share of the cores for the unit. Changes no number.
  int64_t threads = 1;
};

/// Called as an epoch's steps complete with (steps done, steps in the epoch), a step being
/// one member's Adam update on one batch.
using BatchCallback = std::function<void(int64_t, int64_t)>;

/// How one epoch runs besides its data.
struct EpochControl {
  /// The members that still train (a diverged one stops); empty means every member.
  std::vector<bool> active;
  BatchCallback on_batch;
  /// The 1-based number of this epoch, whose dropout noise the members get; 0: the one after
  /// the last epoch the trainer trained (or restored).
  int64_t epoch = 0;
  /// The epoch's dropout_noise ([examples, hidden], rows in the epoch's order, on the CPU),
  /// defined whenever a member has a Dropout rate: each such member keeps the units whose
  /// noise is >= its rate.
  torch::Tensor dropout_noise;
  /// Checked at batch boundaries (every batch, or, in the fused CPU engine, every run of up to
  /// FusedCpuEngine::kStepsPerRun batches); StopRequested is thrown when it asks to stop.
  StopToken stop;

  bool is_active(size_t member) const { return active.empty() || active[member]; }
  /// How many of `members` members are active.
  int64_t count_active(size_t members) const;
};

/// How a cohort trains: one epoch at a time, every member one Adam step per batch on the
/// same batches (the epoch's `order`), each with its own parameters, optimizer state and
/// metrics. A member's numbers must not depend on which other members share the engine.
/// The engine updates the members' models in place, so evaluation and checkpoints of the
/// parameters see every update; it works per epoch so that a device engine need not read
/// anything back per batch. The same update as torch::optim::Adam on the same loss, up to
/// float rounding, in every engine (in the spirit of torch::optim::Optimizer: the caller
/// never asks which one it holds).
class Engine {
 public:
  Engine(std::vector<Member> members, const TrainOptions& options, const torch::Device& device);
  virtual ~Engine() = default;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const std::vector<Member>& members() const { return members_; }
  const TrainOptions& options() const { return options_; }
  const torch::Device& device() const { return device_; }

  /// One pass over `train` (on the engine's device) in `order` (int64 on the CPU): batches of
  /// options().batch_size, the last one partial, one Adam step per batch for every active
  /// member. Returns each member's epoch means (NaN for inactive members).
  virtual std::vector<TrainMetrics> train_epoch(const Split& train, const torch::Tensor& order,
                                                const EpochControl& control) = 0;

  /// Every active member's loss and accuracy on `split` at its current weights, no update;
  /// NaN for the others. By default, each member's model in turn.
  virtual std::vector<EvalMetrics> evaluate(const Split& split, const std::vector<bool>& active);

  /// Whether `member`'s parameters and optimizer state are all finite. A state that overflowed
  /// (Adam's second moment reaching infinity freezes the weights) is divergence even while the
  /// loss stays finite. By default, the parameters only.
  virtual bool finite(size_t member) const;

  /// One member's optimizer state, for checkpoints (its parameters are its model's).
  virtual void save_state(size_t member, torch::serialize::OutputArchive& archive) const = 0;
  virtual void load_state(size_t member, torch::serialize::InputArchive& archive) = 0;

  /// What actually ran, in words, as summary.json records it (its registry entry's words).
  std::string description() const;

 protected:
  /// One member's Adam step on the batch `indices` (`count` rows of the epoch's order from
  /// row `begin`), adding the batch's metrics, measured before the update, to `meters`.
  using MemberStep = std::function<void(size_t member, const torch::Tensor& indices, int64_t begin,
                                        int64_t count, EpochMeters& meters)>;

  /// The epoch of an engine whose members train one after another: every active member over
  /// every batch of `order` in turn, checking the stop token and reporting progress between
  /// batches. Returns each member's epoch means.
  std::vector<TrainMetrics> train_members_in_turn(const torch::Tensor& order,
                                                  const EpochControl& control,
                                                  const MemberStep& step);

  std::vector<Member> members_;
  TrainOptions options_;
  torch::Device device_;
};

/// Whether any of `members` has decoupled weight decay (for an engine's description).
bool any_weight_decay(const std::vector<Member>& members);

/// The engine `options.engine` (engine_registry()) over `members`, whose models are already on
/// `device`.
std::unique_ptr<Engine> make_engine(std::vector<Member> members, const TrainOptions& options,
                                    const torch::Device& device);

}  // namespace l2sweep
