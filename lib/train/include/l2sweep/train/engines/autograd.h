#pragma once

#include <torch/optim/optimizer.h>

#include <memory>
#include <vector>

#include "l2sweep/train/engine.h"

namespace l2sweep {

/// The design the experiment asks for, written the straightforward way: each member's
/// torch::nn::Sequential forward, the explicit L2 term on the first Linear weight added to the
/// loss, autograd's backward and torch::optim::Adam with Keras' settings. Members train one
/// after another; every other engine is tested against this one.
class AutogradEngine : public Engine {
 public:
  AutogradEngine(std::vector<Member> members, const TrainOptions& options,
                 const torch::Device& device);

  std::vector<TrainMetrics> train_epoch(const Split& train, const torch::Tensor& order,
                                        const EpochControl& control) override;
  bool finite(size_t member) const override;
  void save_state(size_t member, torch::serialize::OutputArchive& archive) const override;
  void load_state(size_t member, torch::serialize::InputArchive& archive) override;

 private:
  /// torch::optim::Adam, AdamW (with weight decay) or KerasAdam (make_adam).
  std::vector<std::unique_ptr<torch::optim::Optimizer>> optimizers_;
};

}  // namespace l2sweep
