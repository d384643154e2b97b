#pragma once

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <cstdint>

#include "l2sweep/config/sweep_config.h"

namespace l2sweep {

/// The order of one epoch's `examples`: a permutation drawn on the CPU from `generator`.
torch::Tensor epoch_order(at::Generator& generator, int64_t examples);

/// The batch order of every epoch of one cohort, as Keras' fit(shuffle=True) orders them:
/// permutations drawn on the CPU from the cohort's seed (so that CPU and CUDA runs see the
/// same batches), a new one each epoch (Shuffle::kEachEpoch) or the first one again every
/// epoch (Shuffle::kOnce, a seeded Keras run). Both modes draw the same first epoch.
class DataOrder {
 public:
  DataOrder(uint64_t seed, Shuffle shuffle);

  /// The next epoch's order of `examples` rows (int64 on the CPU).
  torch::Tensor next(int64_t examples);

  /// What a checkpoint saves so that the orders continue bit for bit (the generator's state;
  /// with kOnce it never changes); set_state restores it.
  torch::Tensor state() const { return generator_.get_state(); }
  void set_state(const torch::Tensor& state) { generator_.set_state(state); }

  uint64_t seed() const { return seed_; }
  Shuffle shuffle() const { return shuffle_; }

 private:
  uint64_t seed_;
  Shuffle shuffle_;
  at::Generator generator_;
};

}  // namespace l2sweep
