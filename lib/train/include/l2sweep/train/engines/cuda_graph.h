#pragma once

#include <torch/types.h>

#include <memory>

namespace l2sweep {

class DeviceStep;

// The CUDA code is in lib/train/src/engines/tensor/cuda/step_graph_cuda.cpp, compiled where
// LibTorch has CUDA (L2SWEEP_WITH_CUDA, set by cmake/Dependencies.cmake); a CPU-only build compiles
// step_graph_cpu_only.cpp beside it instead.

/// While alive, sends the calling thread's work on a CUDA `device` to a stream it creates
/// (never one of LibTorch's pool, whose streams are shared round-robin), so that units
/// trained by several threads (--jobs) never share a stream or a capture; at the end it waits
/// for that stream and destroys it. Does nothing for the CPU.
class DeviceStream {
 public:
  explicit DeviceStream(const torch::Device& device);
  ~DeviceStream();
  DeviceStream(const DeviceStream&) = delete;
  DeviceStream& operator=(const DeviceStream&) = delete;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// `steps` consecutive DeviceStep::step_full_batch() calls captured once as a CUDA graph on
/// the current stream (which must be a DeviceStream's, not the default stream) and replayed:
/// one launch instead of one per kernel, and one per `steps` batches. The step's state is all
/// on the device (see DeviceStep), so every replay reads the current batch position, order
/// and Adam step count.
class StepGraph {
 public:
  /// Captures `steps` steps of `step`, which must have begun its first epoch. The few eager
  /// warm-up steps CUDA needs before a capture (cuBLAS and allocator set-up) are undone, so
  /// training is unchanged. Throws where the build has no CUDA.
  StepGraph(DeviceStep& step, int64_t steps);
  ~StepGraph();
  StepGraph(const StepGraph&) = delete;
  StepGraph& operator=(const StepGraph&) = delete;

  /// `steps()` steps on the next full batches: the same as as many step.step_full_batch().
  void replay();
  int64_t steps() const { return steps_; }

 private:
  int64_t steps_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace l2sweep
