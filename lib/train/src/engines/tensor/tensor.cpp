#include "l2sweep/train/engines/tensor.h"

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <string>
#include <utility>

#include "l2sweep/base/error.h"

namespace l2sweep {

TensorEngine::TensorEngine(std::vector<Member> members, const TrainOptions& options,
                           const torch::Device& device)
    : Engine(std::move(members), options, device),
      step_(std::make_unique<DeviceStep>(members_, options.learning_rate, options.batch_size,
                                         options.adam)) {
  TORCH_CHECK(!options.cuda_graphs || device.is_cuda(), "CUDA graphs need a CUDA device");
}

TensorEngine::~TensorEngine() = default;

std::vector<TrainMetrics> TensorEngine::train_epoch(const Split& train, const torch::Tensor& order,
                                                    const EpochControl& control) {
  DeviceStep& step = *step_;
  step.begin_epoch(train, order, control.dropout_noise);
  const int64_t full = step.full_batches();
  if (options_.cuda_graphs && !graph_ && full > 0) {
    try {
      const int64_t per_replay = std::min(kStepsPerGraph, full);
      graph_ = std::make_unique<StepGraph>(step, per_replay);
      if (full % per_replay > 0) rest_graph_ = std::make_unique<StepGraph>(step, full % per_replay);
    } catch (const std::exception& e) {
      const std::string what = e.what();
      throw Error(ErrorKind::kInternal,
                  fmt::format("the training step could not be captured as a CUDA graph ({}); "
                              "expected a GPU and LibTorch that support it, or run with "
                              "--cuda-graphs off",
                              what.substr(0, what.find('\n'))));
    }
  }
  // Progress counts member steps: every active member steps on every batch.
  const int64_t active = control.count_active(members_.size());
  const int64_t batches = full + (step.has_tail() ? 1 : 0);
  const int64_t steps = batches * active;
  // Nothing is read back to the host until the epoch's means: the launches run ahead.
  int64_t batch = 0;
  while (batch < batches) {
    if (control.stop.stop_requested()) throw StopRequested();
    int64_t ran = 1;
    if (batch == full) {
      step.step_tail();
    } else if (graph_ && full - batch >= graph_->steps()) {
      graph_->replay();
      ran = graph_->steps();
    } else if (rest_graph_) {
      rest_graph_->replay();
      ran = rest_graph_->steps();
    } else {
      step.step_full_batch();
    }
    batch += ran;
    if (control.on_batch) control.on_batch(batch * active, steps);
  }
  std::vector<TrainMetrics> results = step.epoch_means();
  for (size_t i = 0; i < results.size(); ++i) {
    if (!control.is_active(i)) results[i] = TrainMetrics{};  // NaN: it no longer trains
  }
  return results;
}

bool TensorEngine::finite(size_t member) const {
  return step_->finite(static_cast<int64_t>(member));
}

void TensorEngine::save_state(size_t member, torch::serialize::OutputArchive& archive) const {
  step_->save_state(static_cast<int64_t>(member), archive);
}

void TensorEngine::load_state(size_t member, torch::serialize::InputArchive& archive) {
  step_->load_state(static_cast<int64_t>(member), archive);
}

}  // namespace l2sweep
