// Compiled when LibTorch has no CUDA (see lib/train/CMakeLists.txt): no stream to choose and no
// graph to capture. make_plan() never asks for a graph on the CPU.
#include "l2sweep/base/error.h"
#include "l2sweep/train/engines/cuda_graph.h"
#include "l2sweep/train/engines/tensor.h"

namespace l2sweep {

struct DeviceStream::Impl {};
DeviceStream::DeviceStream(const torch::Device& /*device*/) {}
DeviceStream::~DeviceStream() = default;

struct StepGraph::Impl {};
StepGraph::StepGraph(DeviceStep& /*step*/, int64_t steps) : steps_(steps) {
  throw Error(ErrorKind::kInternal, "this build of l2sweep has no CUDA: no graph to capture");
}
StepGraph::~StepGraph() = default;
void StepGraph::replay() {}

}  // namespace l2sweep
