#include "rollout_workers/weight_upload.h"

#include <cstring>

#include "core/crc32c.h"
#include "core/safetensors.h"

namespace deltarl {

namespace {

constexpr uint64_t kMaxUploadBytes = uint64_t{256} << 30;

// Weights travel as F32, BF16 or F16 (safetensors' names).
std::optional<torch::ScalarType> weight_dtype(const std::string& name) {
  const auto dtype = safetensors_dtype_from_name(name);
  if (dtype && (*dtype == torch::kFloat32 || *dtype == torch::kBFloat16 || *dtype == torch::kFloat16)) return dtype;
  return std::nullopt;
}

}  // namespace

WeightUpload::WeightUpload(const Qwen2ForCausalLM& current, uint64_t current_version)
    : config_(current->config()), current_version_(current_version) {
  for (const auto& item : current->named_parameters(/*recurse=*/true)) {
    expected_shapes_[item.key()] = item.value().sizes().vec();
    served_options_ = item.value().options();
  }
}

Status WeightUpload::add(const v1::WeightChunk& chunk) {
  const std::string& name = chunk.tensor_name();
  auto invalid = [&](const std::string& why) { return Status(StatusCode::kInvalidArgument, "tensor \"" + name + "\": " + why); };
  if (saw_last_chunk_) return Status(StatusCode::kInvalidArgument, "chunk after the one marked last_chunk");
  if (version_ == 0) {
    if (chunk.version() <= current_version_) {
      return Status(StatusCode::kFailedPrecondition, "upload version " + std::to_string(chunk.version()) +
                                                         " is not newer than the serving version " +
                                                         std::to_string(current_version_));
    }
    version_ = chunk.version();
  } else if (chunk.version() != version_) {
    return Status(StatusCode::kInvalidArgument, "chunks of one upload carry versions " + std::to_string(version_) +
                                                    " and " + std::to_string(chunk.version()));
  }
  auto expected = expected_shapes_.find(name);
  if (expected == expected_shapes_.end()) return invalid("not a parameter of the served model");
  auto [entry, inserted] = tensors_.try_emplace(name);
  Incoming& tensor = entry->second;
  if (inserted) {
    const auto dtype = weight_dtype(chunk.dtype());
    if (!dtype) return invalid("dtype \"" + chunk.dtype() + "\" is not F32, BF16 or F16");
    tensor.dtype = *dtype;
    tensor.shape.assign(chunk.shape().begin(), chunk.shape().end());
    if (tensor.shape != expected->second) return invalid("shape does not match the served model's");
    uint64_t elements = 1;
    for (int64_t size : tensor.shape) elements *= static_cast<uint64_t>(size);
    if (chunk.tensor_bytes() != elements * c10::elementSize(tensor.dtype)) {
      return invalid("tensor_bytes " + std::to_string(chunk.tensor_bytes()) + " does not fit its dtype and shape");
    }
    bytes_ += chunk.tensor_bytes();
    if (bytes_ > kMaxUploadBytes) return invalid("the upload exceeds " + std::to_string(kMaxUploadBytes) + " bytes");
    tensor.bytes.assign(chunk.tensor_bytes(), '\0');
  } else if (chunk.dtype() != safetensors_dtype_name(tensor.dtype) || chunk.tensor_bytes() != tensor.bytes.size()) {
    return invalid("chunks disagree on dtype or size");
  }
  if (chunk.offset() > tensor.bytes.size() || chunk.data().size() > tensor.bytes.size() - chunk.offset()) {
    return invalid("chunk at offset " + std::to_string(chunk.offset()) + " runs past the tensor's " +
                   std::to_string(tensor.bytes.size()) + " bytes");
  }
  std::memcpy(tensor.bytes.data() + chunk.offset(), chunk.data().data(), chunk.data().size());
  tensor.received += chunk.data().size();
  if (chunk.crc32c() != 0) {
    tensor.crc32c = chunk.crc32c();
    tensor.has_checksum = true;
  }
  saw_last_chunk_ = chunk.last_chunk();
  return Status();
}

Status WeightUpload::finish(Qwen2ForCausalLM* model, const Qwen2ForCausalLM* reuse) {
  if (!saw_last_chunk_) return Status(StatusCode::kInvalidArgument, "the upload ended before a chunk marked last_chunk");
  for (const auto& [name, shape] : expected_shapes_) {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) return Status(StatusCode::kInvalidArgument, "incomplete upload: tensor \"" + name + "\" is missing");
    const Incoming& tensor = it->second;
    if (tensor.received != tensor.bytes.size()) {
      return Status(StatusCode::kInvalidArgument, "tensor \"" + name + "\": received " + std::to_string(tensor.received) +
                                                      " of " + std::to_string(tensor.bytes.size()) + " bytes");
    }
    if (!tensor.has_checksum || crc32c(tensor.bytes.data(), tensor.bytes.size()) != tensor.crc32c) {
      return Status(StatusCode::kDataLoss, "tensor \"" + name + "\": CRC-32C mismatch (corrupted in transit?)");
    }
  }
  Qwen2ForCausalLM target = reuse != nullptr ? *reuse : Qwen2ForCausalLM(config_);
  if (reuse == nullptr) target->to(served_options_.device(), served_options_.dtype().toScalarType());
  torch::NoGradGuard no_grad;
  for (auto& item : target->named_parameters(/*recurse=*/true)) {
    Incoming& tensor = tensors_.at(item.key());
    item.value().copy_(torch::from_blob(tensor.bytes.data(), tensor.shape, torch::TensorOptions().dtype(tensor.dtype)));
  }
  *model = target;
  return Status();
}

}  // namespace deltarl
