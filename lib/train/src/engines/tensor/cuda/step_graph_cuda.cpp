// Compiled only when LibTorch has CUDA (L2SWEEP_WITH_CUDA, see lib/train/CMakeLists.txt).
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#include <torch/version.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <vector>

#include "l2sweep/train/engines/cuda_graph.h"
#include "l2sweep/train/engines/tensor.h"

namespace l2sweep {

struct DeviceStream::Impl {
  cudaStream_t stream = nullptr;
  std::optional<c10::cuda::CUDAStreamGuard> guard;
};

DeviceStream::DeviceStream(const torch::Device& device) : impl_(std::make_unique<Impl>()) {
  if (!device.is_cuda()) return;
  // A stream of this object's own, never one of LibTorch's pool: the pool hands out 32
  // streams round-robin, so a 33rd user would share one (and its kernels could land in
  // another thread's capture).
  const c10::cuda::CUDAGuard on_device(device.index());
  C10_CUDA_CHECK(cudaStreamCreateWithFlags(&impl_->stream, cudaStreamNonBlocking));
  impl_->guard.emplace(c10::cuda::getStreamFromExternal(impl_->stream, device.index()));
}

DeviceStream::~DeviceStream() {
  if (!impl_->guard) return;
  try {
    impl_->guard->current_stream().synchronize();
  } catch (...) {
    // A failed kernel was already reported by the operation that waited for it.
  }
  impl_->guard.reset();
  cudaStreamDestroy(impl_->stream);
}

struct StepGraph::Impl {
  at::cuda::CUDAGraph graph;
};

namespace {
/// Captures one at a time, and never beside a replay: the capture mode below only guards the
/// capturing thread, and in PyTorch 2.x capture_begin registers the default CUDA generator
/// and marks it capturing, while replay() calls that generator's replay_prologue, which must
/// not run during another thread's capture ("Offset increment outside graph capture
/// encountered unexpectedly"). Replays share the lock, so units replay side by side.
std::shared_mutex capture_mutex;
}  // namespace

StepGraph::StepGraph(DeviceStep& step, int64_t steps)
    : steps_(steps), impl_(std::make_unique<Impl>()) {
  const c10::cuda::CUDAStream stream = c10::cuda::getCurrentCUDAStream();
  TORCH_CHECK(
      stream != c10::cuda::getDefaultCUDAStream(stream.device_index()),
      "a CUDA graph is captured on a stream of its own (DeviceStream), not the default one");
  {
    // Warm-up outside the capture, as CUDA graphs require (cuBLAS handles and workspaces,
    // allocator pools), then every written tensor is put back.
    std::vector<torch::Tensor> saved;
    for (const auto& tensor : step.state()) saved.push_back(tensor.clone());
    const int64_t warmups = std::min<int64_t>(3, step.full_batches());
    for (int64_t i = 0; i < warmups; ++i) step.step_full_batch();
    const std::vector<torch::Tensor> state = step.state();
    for (size_t i = 0; i < state.size(); ++i) state[i].copy_(saved[i]);
    stream.synchronize();
  }
  const std::unique_lock<std::shared_mutex> lock(capture_mutex);
#if TORCH_VERSION_MAJOR >= 2
  // Other runs' threads keep launching and allocating while this one captures.
  impl_->graph.capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
#else
  impl_->graph.capture_begin();
#endif
  try {
    for (int64_t i = 0; i < steps; ++i) step.step_full_batch();
  } catch (...) {
    // End the capture so the stream can run eagerly again; the first error is the one to tell.
    try {
      impl_->graph.capture_end();
    } catch (...) {
    }
    impl_.reset();  // still under the capture lock (see ~StepGraph)
    throw;
  }
  impl_->graph.capture_end();
}

StepGraph::~StepGraph() {
  // Destroying a graph unregisters it from the CUDA generators without a lock of LibTorch's,
  // while another thread may be in capture_begin: tear down under the capture lock.
  const std::unique_lock<std::shared_mutex> lock(capture_mutex);
  impl_.reset();
}

void StepGraph::replay() {
  const std::shared_lock<std::shared_mutex> lock(capture_mutex);
  impl_->graph.replay();
}

}  // namespace l2sweep
