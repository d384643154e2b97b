#pragma once

#include <cstdint>
#include <string_view>

namespace l2sweep {

/// CRC-32C (Castagnoli polynomial), the checksum of TFRecord framing. With `previous`, the
/// CRC of the bytes that `previous` summed followed by `data` (so a CRC can be built piece by
/// piece). Uses the CPU's CRC32 instruction where there is one.
uint32_t crc32c(std::string_view data, uint32_t previous = 0);

/// TFRecord's masked CRC: the CRC-32C rotated right by 15 bits plus 0xa282ead8.
uint32_t masked_crc32c(std::string_view data);

}  // namespace l2sweep
