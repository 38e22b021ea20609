// MappedFile: a read-only memory map of a whole file, unmapped on destruction.
// Move-only. Used to read safetensors without copying them into memory first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace deltarl {

class MappedFile {
 public:
  // Throws InputError naming `path` when it cannot be opened or mapped.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void release() noexcept;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace deltarl
