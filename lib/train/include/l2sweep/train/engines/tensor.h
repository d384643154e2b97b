#pragma once

#include <torch/serialize/archive.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "l2sweep/data/data.h"
#include "l2sweep/train/engine.h"
#include "l2sweep/train/engines/cuda_graph.h"
#include "l2sweep/train/engines/device_adam.h"  // IWYU pragma: export
#include "l2sweep/train/engines/device_step.h"  // IWYU pragma: export
#include "l2sweep/train/metrics.h"

namespace l2sweep {

/// Steps captured in one CUDA graph. The batch position lives on the device, so one graph of
/// kStepsPerGraph steps replays an epoch's full batches in turn (a second graph takes the
/// rest): about 25 launches per epoch of 1,562 batches. A graph of the whole epoch would need
/// no more launches worth counting, but capturing it records every operation of 1,562 steps
/// on the host (tens of thousands of nodes, roughly a second), which a 1 s sweep cannot pay.
inline constexpr int64_t kStepsPerGraph = 64;

/// The tensor engine (--engine tensor): the cohort's members stacked into one DeviceStep. With
/// options.cuda_graphs (CUDA only) an epoch's full batches are replayed from CUDA graphs of
/// kStepsPerGraph steps captured in the first epoch, on the calling thread's stream (a
/// DeviceStream's); the last partial batch runs eagerly. Nothing is read back to the host until the
/// epoch's means. A capture that fails is an error (a failed capture can leave LibTorch's allocator
/// and generators in capture state, so continuing without the graph would not be clean).
class TensorEngine : public Engine {
 public:
  TensorEngine(std::vector<Member> members, const TrainOptions& options,
               const torch::Device& device);
  ~TensorEngine() override;

  std::vector<TrainMetrics> train_epoch(const Split& train, const torch::Tensor& order,
                                        const EpochControl& control) override;
  bool finite(size_t member) const override;
  void save_state(size_t member, torch::serialize::OutputArchive& archive) const override;
  void load_state(size_t member, torch::serialize::InputArchive& archive) override;

  /// Whether the full batches replay from a CUDA graph: false before the first epoch.
  bool uses_cuda_graphs() const { return graph_ != nullptr; }

 private:
  std::unique_ptr<DeviceStep> step_;
  std::unique_ptr<StepGraph> graph_;       ///< kStepsPerGraph steps, with cuda_graphs
  std::unique_ptr<StepGraph> rest_graph_;  ///< the epoch's remaining full batches
};

}  // namespace l2sweep
