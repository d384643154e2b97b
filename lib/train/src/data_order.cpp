#include "l2sweep/train/data_order.h"

#include "l2sweep/train/model.h"

namespace l2sweep {

torch::Tensor epoch_order(at::Generator& generator, int64_t examples) {
  return torch::randperm(examples, generator, torch::kInt64);
}

DataOrder::DataOrder(uint64_t seed, Shuffle shuffle)
    : seed_(seed), shuffle_(shuffle), generator_(make_cpu_generator(seed)) {}

torch::Tensor DataOrder::next(int64_t examples) {
  if (shuffle_ == Shuffle::kEachEpoch) return epoch_order(generator_, examples);
  // The first epoch's draw, again: a fresh generator from the seed, so that the order does
  // not depend on how many epochs ran before (or were restored from a checkpoint).
  at::Generator first = make_cpu_generator(seed_);
  return epoch_order(first, examples);
}

}  // namespace l2sweep
