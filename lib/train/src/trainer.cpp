#include "l2sweep/train/trainer.h"

#include <torch/utils.h>

#include <algorithm>
#include <string>

#include "l2sweep/base/error.h"
#include "l2sweep/train/dropout.h"
#include "l2sweep/train/engine_registry.h"
#include "l2sweep/train/loss.h"
#include "l2sweep/train/model.h"

namespace l2sweep {

Trainer::Trainer(std::vector<Member> members, const TrainOptions& options,
                 const torch::Device& device)
    : engine_(make_engine(std::move(members), options, device)),
      order_(options.shuffle_seed, options.shuffle) {}

Trainer::Trainer(torch::nn::Sequential model, double l2, const TrainOptions& options,
                 const torch::Device& device)
    : Trainer(std::vector<Member>{{model, l2, dropout_rate(model)}}, options, device) {}

std::vector<TrainMetrics> Trainer::train_epoch(const Split& train, const EpochControl& control) {
  const torch::Tensor order = order_.next(train.size());
  const std::vector<Member>& members = engine_->members();
  EpochControl epoch = control;
  if (epoch.epoch <= 0) epoch.epoch = epochs_trained_ + 1;
  const bool dropout = std::any_of(members.begin(), members.end(),
                                   [](const Member& member) { return member.dropout > 0; });
  if (dropout && !epoch.dropout_noise.defined()) {
    epoch.dropout_noise = dropout_noise(engine_->options().shuffle_seed, epoch.epoch, train.size(),
                                        first_linear(members.front().model)->weight.size(0));
  }
  std::vector<TrainMetrics> metrics = engine_->train_epoch(train, order, epoch);
  epochs_trained_ = epoch.epoch;
  return metrics;
}

std::vector<EvalMetrics> Trainer::evaluate(const Split& split, const std::vector<bool>& active) {
  return engine_->evaluate(split, active);
}

double Trainer::w1_norm(size_t member) const { return l2sweep::w1_norm(model(member)); }

WeightStatistics Trainer::weight_statistics(size_t member) const {
  return l2sweep::weight_statistics(first_linear(model(member))->weight);
}

void Trainer::save_state(size_t member, torch::serialize::OutputArchive& archive) const {
  for (const auto& item : model(member)->named_parameters()) {
    // A copy of its own: a member's parameters may be views of a cohort's stacked buffer,
    // which would otherwise be saved whole in every member's checkpoint.
    const torch::Tensor value = item.value().detach();
    archive.write("model." + item.key(), value.to(torch::kCPU, value.scalar_type(),
                                                  /*non_blocking=*/false, /*copy=*/true));
  }
  archive.write("shuffle_generator", order_.state());
  archive.write("epochs_trained", torch::tensor({epochs_trained_}, torch::kInt64));
  // Each engine keeps Adam's state in its own form; a resume must use the same one.
  archive.write("engine", c10::IValue(engine_named(engine_->options().engine).name));
  engine_->save_state(member, archive);
}

void Trainer::load_state(size_t member, torch::serialize::InputArchive& archive) {
  torch::NoGradGuard no_grad;
  c10::IValue engine;
  const EngineEntry& mine = engine_named(engine_->options().engine);
  if (archive.try_read("engine", engine) && find_engine(engine.toStringRef()) != &mine) {
    // On another device, --engine auto picks another engine (fused on the CPU, tensor on CUDA).
    throw usage_error(
        "trained with --engine {}, but this command would continue it with --engine {}; resume "
        "with the --engine and --device the sweep started with",
        engine.toStringRef(), mine.name);
  }
  for (auto& item : model(member)->named_parameters()) {
    torch::Tensor saved;
    archive.read("model." + item.key(), saved);
    TORCH_CHECK(saved.sizes() == item.value().sizes(), "parameter ", item.key(),
                " has the wrong shape");
    item.value().copy_(saved);
  }
  torch::Tensor generator_state;
  archive.read("shuffle_generator", generator_state);
  if (!loaded_generator_state_.defined()) {
    loaded_generator_state_ = generator_state;
    order_.set_state(generator_state);
  } else if (!torch::equal(generator_state, loaded_generator_state_)) {
    throw data_error(
        "its data order differs from the other runs of seed {}'s cohort at the same epoch; "
        "expected a checkpoint of this sweep",
        engine_->options().shuffle_seed);
  }
  torch::Tensor epochs;
  // Checkpoints from before dropout existed hold none: their runs had no dropout to draw.
  if (archive.try_read("epochs_trained", epochs)) epochs_trained_ = epochs.item<int64_t>();
  engine_->load_state(member, archive);
}

}  // namespace l2sweep
