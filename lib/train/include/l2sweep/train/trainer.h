#pragma once

#include <ATen/core/Generator.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/serialize/archive.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "l2sweep/data/data.h"
#include "l2sweep/train/data_order.h"
#include "l2sweep/train/engine.h"
#include "l2sweep/train/metrics.h"

namespace l2sweep {

/// Trains one cohort: draws each epoch's order from the shuffle seed (DataOrder: reshuffled
/// every epoch or replayed, on the CPU so that every device sees the same batches), hands the
/// epoch to the engine, and evaluates. The members' models and the splits must already be on
/// `device`.
class Trainer {
 public:
  Trainer(std::vector<Member> members, const TrainOptions& options, const torch::Device& device);
  /// A cohort of one.
  Trainer(torch::nn::Sequential model, double l2, const TrainOptions& options,
          const torch::Device& device);

  size_t size() const { return engine_->members().size(); }

  /// One pass over `train` in the epoch's order (DataOrder::next), one Adam step per batch and
  /// member (Engine::train_epoch). Returns each member's epoch means; NaN for inactive ones.
  std::vector<TrainMetrics> train_epoch(const Split& train, const EpochControl& control = {});

  /// Every active member's loss, cross-entropy and accuracy on a whole split at its current
  /// weights; no update. `active` empty: every member.
  std::vector<EvalMetrics> evaluate(const Split& split, const std::vector<bool>& active = {});

  /// Whether `member`'s parameters and optimizer state are finite (Engine::finite).
  bool finite(size_t member) const { return engine_->finite(member); }

  /// ||W1||_2 of `member`'s regularised kernel.
  double w1_norm(size_t member) const;
  /// What the regularisers did to `member`'s first-layer kernel W1.
  WeightStatistics weight_statistics(size_t member) const;
  /// Epochs trained so far (restored by load_state): the next epoch's dropout noise is the
  /// (epochs_trained() + 1)-th.
  int64_t epochs_trained() const { return epochs_trained_; }

  const torch::nn::Sequential& model(size_t member) const {
    return engine_->members().at(member).model;
  }
  const Engine& engine() const { return *engine_; }

  /// Everything a resumed member needs to continue bit for bit: its parameters, the engine's
  /// name and its optimizer state, and the data order's state (one per cohort).
  void save_state(size_t member, torch::serialize::OutputArchive& archive) const;
  /// The reverse of save_state. A checkpoint of another engine is a usage Error naming both;
  /// members whose generator states disagree (they cannot share this cohort's order) are a
  /// data Error.
  void load_state(size_t member, torch::serialize::InputArchive& archive);

 private:
  std::unique_ptr<Engine> engine_;
  DataOrder order_;
  torch::Tensor loaded_generator_state_;  ///< the state the first loaded member brought
  int64_t epochs_trained_ = 0;
};

}  // namespace l2sweep
