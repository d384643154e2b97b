// Compiled when LibTorch has no CUDA (see lib/CMakeLists.txt): no stream to choose and no
// graph to capture. resolve_engine() never asks for a graph on the CPU.
#include "l2sweep/cuda_graph.h"
#include "l2sweep/device_step.h"
#include "l2sweep/error.h"

namespace l2sweep {

bool cuda_graphs_built() { return false; }

struct RunStream::Impl {};
RunStream::RunStream(const torch::Device& /*device*/) {}
RunStream::~RunStream() = default;

struct StepGraph::Impl {};
StepGraph::StepGraph(DeviceStep& /*step*/, int64_t steps) : steps_(steps) {
  throw Error(ErrorKind::kInternal, "this build of l2sweep has no CUDA: no graph to capture");
}
StepGraph::~StepGraph() = default;
void StepGraph::replay() {}

}  // namespace l2sweep
