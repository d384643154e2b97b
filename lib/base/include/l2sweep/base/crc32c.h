#pragma once

#include <cstdint>
#include <string_view>

namespace l2sweep {

/// CRC-32C (Castagnoli polynomial), the checksum of TFRecord framing.
uint32_t crc32c(std::string_view data);

/// TFRecord's masked CRC: the CRC-32C rotated right by 15 bits plus 0xa282ead8.
uint32_t masked_crc32c(std::string_view data);

}  // namespace l2sweep
