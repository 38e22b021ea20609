// CRC-32C (Castagnoli), the checksum of weight chunks on the wire. Software,
// table-driven; `crc32c_extend` continues a running checksum over more bytes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace deltarl {

uint32_t crc32c_extend(uint32_t crc, const void* data, size_t size);
inline uint32_t crc32c(const void* data, size_t size) { return crc32c_extend(0, data, size); }

}  // namespace deltarl
