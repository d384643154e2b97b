#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace l2sweep {

/// The one way l2sweep reads numbers from text (options, sweep.cfg, the environment): the
/// whole text must be the number, in base 10, in range; nullopt otherwise. The caller words
/// the error, naming where the text came from.
std::optional<int64_t> parse_int64(std::string_view text);
/// Digits only (no sign), 0 to 2^64 - 1.
std::optional<uint64_t> parse_uint64(std::string_view text);
/// Anything strtod reads in full, without overflow ("1e-3", "inf", "nan" included).
std::optional<double> parse_double(std::string_view text);

}  // namespace l2sweep
