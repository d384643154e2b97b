#pragma once

#include <chrono>
#include <string>

namespace l2sweep {

using SteadyClock = std::chrono::steady_clock;

/// The current UTC time formatted with strftime's `format`.
std::string utc_now(const char* format);

/// Seconds elapsed since `start`.
double seconds_since(SteadyClock::time_point start);

/// Seconds since the Unix epoch, with fractions (TensorBoard's wall_time).
double unix_seconds();

}  // namespace l2sweep
