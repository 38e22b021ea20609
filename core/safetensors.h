// safetensors: Hugging Face's tensor file format, read through a memory map and
// written atomically. Layout: an 8-byte little-endian header size N, N bytes of
// JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
// {...}}, then the tensor bytes, offsets relative to the end of the header.
//
// The reader validates everything before handing out a tensor: the header size
// against the file, the JSON, each dtype, each shape against its byte range, and
// that the ranges tile the data exactly (no overlap, no gap, nothing past the
// end). Any violation is an InputError naming the file and the tensor.
//
//   SafetensorsFile file("model.safetensors");
//   torch::Tensor w = file.tensor("model.norm.weight");   // read-only view
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "core/mapped_file.h"

namespace deltarl {

struct SafetensorsEntry {
  torch::ScalarType dtype;
  std::vector<int64_t> shape;
  size_t begin = 0;  // byte offsets into the data section
  size_t end = 0;
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const { return mapping_->path(); }
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  const std::map<std::string, SafetensorsEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // A CPU tensor viewing the mapped bytes (no copy); it keeps the mapping alive.
  // Treat it as read-only: copy_ from it, or clone it. InputError if absent.
  torch::Tensor tensor(const std::string& name) const;

 private:
  std::shared_ptr<MappedFile> mapping_;
  size_t data_offset_ = 0;
  std::map<std::string, SafetensorsEntry> entries_;
  std::map<std::string, std::string> metadata_;
};

// Writes tensors (any device, made contiguous CPU) to `path` atomically, in the
// given order, with `metadata` (e.g. {"format": "pt"}, which transformers
// expects). Throws InputError for duplicate names or unsupported dtypes.
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// "F32", "BF16", ... for a dtype; InputError for one safetensors cannot hold.
std::string safetensors_dtype_name(torch::ScalarType dtype);
// The dtype of a safetensors name, nullopt for an unknown one.
std::optional<torch::ScalarType> safetensors_dtype_from_name(const std::string& name);

}  // namespace deltarl
