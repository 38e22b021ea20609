// Helpers the fuzz targets share: fixture paths, whole-file reads and writes.
#pragma once

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace deltarl::fuzz {

// A path under the source tree (fixtures, presets, deploy/configs).
inline std::string source_path(const std::string& relative) {
  return std::string(DELTARL_SOURCE_DIR) + "/" + relative;
}

inline std::string read_whole_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("fuzz setup: cannot read " + path);
  std::ostringstream bytes;
  bytes << file.rdbuf();
  return bytes.str();
}

inline void write_whole_file(const std::string& path, const std::string& bytes) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!file) throw std::runtime_error("fuzz setup: cannot write " + path);
}

}  // namespace deltarl::fuzz
