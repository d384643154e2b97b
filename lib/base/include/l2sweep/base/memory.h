#pragma once

#include <cstdint>
#include <optional>

namespace l2sweep {

/// Bytes of memory this process can still use: the least of the kernel's MemAvailable, what
/// the memory limit of every cgroup the process is in leaves (v2 and v1, from its own cgroup
/// up: a container, a Slurm job), and what `ulimit -v` and `ulimit -d` leave beyond what it
/// already maps; nullopt when none can be read.
std::optional<int64_t> available_memory();

}  // namespace l2sweep
