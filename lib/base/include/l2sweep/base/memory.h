#pragma once

#include <cstdint>
#include <optional>

namespace l2sweep {

/// Bytes of memory this process can still use: the kernel's MemAvailable, or less where a
/// cgroup (a container, a Slurm job) limits the process; nullopt when neither can be read.
std::optional<int64_t> available_memory();

}  // namespace l2sweep
