#pragma once

#include <string>

namespace l2sweep {

/// l2sweep's own version, from the CMake project() call.
extern const char* const kVersion;

/// The LibTorch version this binary was compiled against, e.g. "1.13.0".
std::string libtorch_version();

}  // namespace l2sweep
