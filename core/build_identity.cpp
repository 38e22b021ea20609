#include "core/build_identity.h"

#include <cstdio>
#include <fstream>
#include <vector>

#include <torch/version.h>

#include "core/crc32c.h"

namespace deltarl {

namespace {

std::string executable_fingerprint() {
  std::ifstream executable("/proc/self/exe", std::ios::binary);
  if (!executable) return "unknown";
  std::vector<char> buffer(1 << 20);
  uint32_t crc = 0;
  while (executable.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || executable.gcount() > 0) {
    crc = crc32c_extend(crc, buffer.data(), static_cast<size_t>(executable.gcount()));
  }
  char hex[9];
  std::snprintf(hex, sizeof(hex), "%08x", crc);
  return hex;
}

}  // namespace

std::string BuildIdentity::description() const {
  return "deltarl " + deltarl_version + ", LibTorch " + libtorch_version + ", executable " + executable_fingerprint;
}

const BuildIdentity& this_build() {
  static const BuildIdentity identity{DELTARL_VERSION, TORCH_VERSION, executable_fingerprint()};
  return identity;
}

}  // namespace deltarl
