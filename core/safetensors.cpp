#include "core/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "core/atomic_file_writer.h"
#include "core/input_error.h"
#include "core/json_input.h"

namespace deltarl {

namespace {

using nlohmann::json;

// Larger headers are refused as the reference implementation does (100 MB).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

const std::vector<std::pair<std::string, torch::ScalarType>>& dtype_names() {
  static const std::vector<std::pair<std::string, torch::ScalarType>> names = {
      {"F64", torch::kFloat64}, {"F32", torch::kFloat32}, {"F16", torch::kFloat16},
      {"BF16", torch::kBFloat16}, {"I64", torch::kInt64}, {"I32", torch::kInt32},
      {"I16", torch::kInt16},   {"I8", torch::kInt8},     {"U8", torch::kUInt8},
      {"BOOL", torch::kBool}};
  return names;
}

std::string describe_shape(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

}  // namespace

std::string safetensors_dtype_name(torch::ScalarType dtype) {
  for (const auto& [name, type] : dtype_names()) {
    if (type == dtype) return name;
  }
  throw InputError(std::string("dtype ") + c10::toString(dtype) + " cannot be stored in safetensors");
}

std::optional<torch::ScalarType> safetensors_dtype_from_name(const std::string& name) {
  for (const auto& [known, type] : dtype_names()) {
    if (known == name) return type;
  }
  return std::nullopt;
}

SafetensorsFile::SafetensorsFile(const std::string& path)
    : mapping_(std::make_shared<MappedFile>(path)) {
  const std::string where = "safetensors file \"" + path + "\"";
  if (mapping_->size() < 8) {
    throw InputError(where + " is " + std::to_string(mapping_->size()) +
                     " bytes, shorter than its 8-byte header size: truncated or not safetensors");
  }
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | mapping_->data()[i];
  if (header_size > kMaxHeaderBytes || header_size > mapping_->size() - 8) {
    throw InputError(where + ": header claims " + std::to_string(header_size) + " bytes but the file has " +
                     std::to_string(mapping_->size() - 8) + " after the size field: truncated or corrupt");
  }
  data_offset_ = 8 + static_cast<size_t>(header_size);
  const size_t data_size = mapping_->size() - data_offset_;
  const json header = parse_json_text<json>(
      std::string_view(reinterpret_cast<const char*>(mapping_->data()) + 8, static_cast<size_t>(header_size)),
      where, "header");
  if (!header.is_object()) throw InputError(where + ": header is not a JSON object");

  std::vector<std::pair<size_t, std::string>> by_offset;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& info = it.value();
    if (name == "__metadata__") {
      if (!info.is_object()) throw InputError(where + ": __metadata__ is not an object");
      for (auto m = info.begin(); m != info.end(); ++m) {
        if (!m.value().is_string()) throw InputError(where + ": __metadata__[\"" + m.key() + "\"] is not a string");
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string tensor_where = where + ", tensor \"" + name + "\"";
    if (!info.is_object() || !info.contains("dtype") || !info.contains("shape") || !info.contains("data_offsets")) {
      throw InputError(tensor_where + ": needs \"dtype\", \"shape\" and \"data_offsets\"");
    }
    SafetensorsEntry entry{};
    const std::string dtype = info["dtype"].is_string() ? info["dtype"].get<std::string>() : info["dtype"].dump();
    const auto known = safetensors_dtype_from_name(dtype);
    if (!known) {
      throw InputError(tensor_where + ": unsupported dtype \"" + dtype + "\" (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
    }
    entry.dtype = *known;
    uint64_t elements = 1;
    if (!info["shape"].is_array()) throw InputError(tensor_where + ": shape is not an array");
    for (const json& dimension : info["shape"]) {
      if (!dimension.is_number_unsigned()) throw InputError(tensor_where + ": shape " + info["shape"].dump() + " is not a list of sizes");
      const uint64_t size = dimension.get<uint64_t>();
      if (size > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          (size != 0 && elements > std::numeric_limits<uint64_t>::max() / size / 8)) {
        throw InputError(tensor_where + ": shape " + info["shape"].dump() + " overflows");
      }
      elements *= size;
      entry.shape.push_back(static_cast<int64_t>(size));
    }
    const json& offsets = info["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned()) {
      throw InputError(tensor_where + ": data_offsets must be [begin, end]");
    }
    const uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
    const uint64_t bytes = elements * c10::elementSize(entry.dtype);
    if (end < begin || end - begin != bytes) {
      throw InputError(tensor_where + ": " + dtype + " " + describe_shape(entry.shape) + " needs " +
                       std::to_string(bytes) + " bytes but data_offsets " + offsets.dump() + " span " +
                       std::to_string(end >= begin ? end - begin : 0));
    }
    if (end > data_size) {
      throw InputError(tensor_where + ": data_offsets " + offsets.dump() + " run past the end of the data (" +
                       std::to_string(data_size) + " bytes): truncated file?");
    }
    entry.begin = static_cast<size_t>(begin);
    entry.end = static_cast<size_t>(end);
    by_offset.emplace_back(entry.begin, name);
    entries_.emplace(name, std::move(entry));
  }
  // The byte ranges must tile the data section: sorted by start, each begins where the last ended.
  std::sort(by_offset.begin(), by_offset.end());
  size_t expected_begin = 0;
  for (const auto& [begin, name] : by_offset) {
    const auto& entry = entries_.at(name);
    if (entry.begin != expected_begin) {
      throw InputError(where + ", tensor \"" + name + "\": data starts at byte " + std::to_string(entry.begin) +
                       " but the previous tensor ends at " + std::to_string(expected_begin) +
                       (entry.begin < expected_begin ? " (overlapping tensors)" : " (a gap)"));
    }
    expected_begin = entry.end;
  }
  if (expected_begin != data_size) {
    throw InputError(where + ": tensors cover " + std::to_string(expected_begin) + " of " +
                     std::to_string(data_size) + " data bytes (trailing garbage or a corrupt header)");
  }
}

torch::Tensor SafetensorsFile::tensor(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    throw InputError("safetensors file \"" + path() + "\" has no tensor \"" + name + "\"");
  }
  const SafetensorsEntry& entry = it->second;
  auto keep_alive = mapping_;
  void* data = const_cast<uint8_t*>(mapping_->data() + data_offset_ + entry.begin);
  return torch::from_blob(data, entry.shape, [keep_alive](void*) {}, torch::TensorOptions().dtype(entry.dtype));
}

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header;
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> contiguous;
  size_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (header.contains(name)) throw InputError("write_safetensors: duplicate tensor name \"" + name + "\"");
    torch::Tensor data = tensor.detach().to(torch::kCPU).contiguous();
    const size_t bytes = static_cast<size_t>(data.numel()) * data.element_size();
    header[name] = {{"dtype", safetensors_dtype_name(data.scalar_type())},
                    {"shape", data.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    contiguous.push_back(std::move(data));
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');  // align the data to 8 bytes
  AtomicFileWriter writer(path);
  uint64_t header_size = header_text.size();
  char size_bytes[8];
  for (int i = 0; i < 8; ++i) size_bytes[i] = static_cast<char>((header_size >> (8 * i)) & 0xFF);
  writer.stream().write(size_bytes, 8);
  writer.stream().write(header_text.data(), static_cast<std::streamsize>(header_text.size()));
  for (const auto& data : contiguous) {
    writer.stream().write(static_cast<const char*>(data.data_ptr()),
                          static_cast<std::streamsize>(static_cast<size_t>(data.numel()) * data.element_size()));
  }
  writer.commit();
}

}  // namespace deltarl
