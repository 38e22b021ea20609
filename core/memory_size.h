// Memory sizes as users write them, and the host's memory.
#pragma once

#include <cstdint>
#include <string>

namespace deltarl {

// "80GiB", "80GB", "512MiB", "1e9", "80G" (= GiB) as bytes; InputError naming `what`.
int64_t parse_memory_size(const std::string& text, const std::string& what);

// This host's physical memory in bytes.
int64_t host_memory_bytes();

// Memory the host can still give without swapping (MemAvailable of
// /proc/meminfo), in bytes; host_memory_bytes() where that is unreadable.
int64_t available_host_memory_bytes();

}  // namespace deltarl
