#include "l2sweep/train/engines/autograd.h"

#include <torch/optim/adamw.h>

#include "l2sweep/train/adam.h"
#include "l2sweep/train/loss.h"
#include "l2sweep/train/model.h"

namespace l2sweep {

AutogradEngine::AutogradEngine(std::vector<Member> members, const TrainOptions& options,
                               const torch::Device& device)
    : Engine(std::move(members), options, device) {
  for (const Member& member : members_) {
    optimizers_.push_back(make_adam(member.model->parameters(), first_linear(member.model)->weight,
                                    options.learning_rate, member.weight_decay, options.adam));
  }
}

std::vector<TrainMetrics> AutogradEngine::train_epoch(const Split& train,
                                                      const torch::Tensor& order,
                                                      const EpochControl& control) {
  return train_members_in_turn(
      order.to(device_), control,
      [&](size_t i, const torch::Tensor& indices, int64_t begin, int64_t count,
          EpochMeters& meters) {
        torch::nn::Sequential& model = members_[i].model;
        if (KerasDropout dropout = find_dropout(model)) {
          dropout->set_noise(control.dropout_noise.slice(0, begin, begin + count));
        }
        const torch::Tensor labels = train.labels.index_select(0, indices);
        const torch::Tensor logits = model->forward(pixels(train.images.index_select(0, indices)));
        const LossTerms terms =
            regularized_loss(logits, labels, first_linear(model)->weight, members_[i].l2);

        // Keras measures each batch before its own update.
        meters.loss.add_mean(terms.loss, count);
        meters.data_loss.add_mean(terms.data_loss, count);
        meters.accuracy.add_sum(logits.detach().argmax(1).eq(labels).sum(), count);

        clear_gradients(*model);
        terms.loss.backward();
        optimizers_[i]->step();
      });
}

bool AutogradEngine::finite(size_t member) const {
  if (!Engine::finite(member)) return false;
  torch::NoGradGuard no_grad;
  for (const auto& entry : optimizers_.at(member)->state()) {
    // Adam and KerasAdam keep AdamParamState, AdamW its own.
    const torch::optim::OptimizerParamState* state = entry.second.get();
    std::vector<torch::Tensor> moments;
    if (const auto* adam = dynamic_cast<const torch::optim::AdamParamState*>(state)) {
      moments = {adam->exp_avg(), adam->exp_avg_sq()};
    } else if (const auto* adamw = dynamic_cast<const torch::optim::AdamWParamState*>(state)) {
      moments = {adamw->exp_avg(), adamw->exp_avg_sq()};
    }
    for (const torch::Tensor& moment : moments) {
      if (!torch::isfinite(moment).all().item<bool>()) return false;
    }
  }
  return true;
}

void AutogradEngine::save_state(size_t member, torch::serialize::OutputArchive& archive) const {
  torch::serialize::OutputArchive optimizer;
  optimizers_.at(member)->save(optimizer);
  archive.write("optimizer", optimizer);
}

void AutogradEngine::load_state(size_t member, torch::serialize::InputArchive& archive) {
  torch::serialize::InputArchive optimizer;
  archive.read("optimizer", optimizer);
  optimizers_.at(member)->load(optimizer);
}

}  // namespace l2sweep
