#include "l2sweep/base/version.h"

#include <fmt/format.h>
#include <torch/version.h>

namespace l2sweep {

const char* const kVersion = L2SWEEP_VERSION;

std::string libtorch_version() {
  return fmt::format("{}.{}.{}", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH);
}

}  // namespace l2sweep
