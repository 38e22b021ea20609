#include "rollout_workers/weight_upload.h"

#include <cstring>

#include <torch/cuda.h>

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

WeightUpload::WeightUpload(const CausalLM& current, uint64_t current_version, CausalLM* target)
    : config_(current->config()), target_(target), current_version_(current_version) {
  for (const auto& item : current->named_parameters(/*recurse=*/true)) {
    expected_shapes_[item.key()] = item.value().sizes().vec();
    served_options_ = item.value().options();
  }
  if (target_ != nullptr) {
    for (const auto& item : (*target_)->named_parameters(/*recurse=*/true)) target_parameters_[item.key()] = item.value();
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
    tensor.size = chunk.tensor_bytes();
    auto direct = target_parameters_.find(name);
    if (direct != target_parameters_.end() && direct->second.scalar_type() == tensor.dtype &&
        direct->second.device().is_cpu() && direct->second.is_contiguous() &&
        direct->second.sizes().vec() == tensor.shape) {
      tensor.data = static_cast<char*>(direct->second.data_ptr());
    } else {
      // For a GPU, pinned: the one copy to the device in finish() is then a DMA transfer.
      const bool to_gpu = served_options_.device().is_cuda();
      tensor.staging = torch::empty({static_cast<int64_t>(tensor.size)},
                                    torch::TensorOptions().dtype(torch::kUInt8).pinned_memory(to_gpu));
      if (to_gpu) pinned_bytes_ += tensor.size;
      tensor.data = reinterpret_cast<char*>(tensor.staging.data_ptr<uint8_t>());
    }
  } else if (chunk.dtype() != safetensors_dtype_name(tensor.dtype) || chunk.tensor_bytes() != tensor.size) {
    return invalid("chunks disagree on dtype or size");
  }
  if (chunk.offset() > tensor.size || chunk.data().size() > tensor.size - chunk.offset()) {
    return invalid("chunk at offset " + std::to_string(chunk.offset()) + " runs past the tensor's " +
                   std::to_string(tensor.size) + " bytes");
  }
  char* destination = tensor.data + chunk.offset();
  std::memcpy(destination, chunk.data().data(), chunk.data().size());
  // Checksummed while the bytes are still in cache; out-of-order chunks wait for finish().
  if (tensor.in_order && chunk.offset() == tensor.received) {
    tensor.running_crc32c = crc32c_extend(tensor.running_crc32c, destination, chunk.data().size());
  } else {
    tensor.in_order = false;
  }
  tensor.received += chunk.data().size();
  if (chunk.crc32c() != 0) {
    tensor.crc32c = chunk.crc32c();
    tensor.has_checksum = true;
  }
  saw_last_chunk_ = chunk.last_chunk();
  return Status();
}

Status WeightUpload::finish(CausalLM* model, const CausalLM* late_target) {
  if (!saw_last_chunk_) return Status(StatusCode::kInvalidArgument, "the upload ended before a chunk marked last_chunk");
  for (const auto& [name, shape] : expected_shapes_) {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) return Status(StatusCode::kInvalidArgument, "incomplete upload: tensor \"" + name + "\" is missing");
    const Incoming& tensor = it->second;
    if (tensor.received != tensor.size) {
      return Status(StatusCode::kInvalidArgument, "tensor \"" + name + "\": received " + std::to_string(tensor.received) +
                                                      " of " + std::to_string(tensor.size) + " bytes");
    }
    // Overlapping chunks can add up to the size with gaps left: in that case
    // the whole tensor is checksummed again, so gaps show as a mismatch.
    const uint32_t actual = tensor.in_order ? tensor.running_crc32c : crc32c(tensor.data, tensor.size);
    if (!tensor.has_checksum || actual != tensor.crc32c) {
      return Status(StatusCode::kDataLoss, "tensor \"" + name + "\": CRC-32C mismatch (corrupted in transit?)");
    }
  }
  CausalLM filled{nullptr};
  if (target_ != nullptr) {
    filled = *target_;
  } else if (late_target != nullptr) {
    filled = *late_target;
  } else {
    filled = CausalLM(config_);
    filled->to(served_options_.device(), served_options_.dtype().toScalarType());
  }
  torch::NoGradGuard no_grad;
  for (auto& item : filled->named_parameters(/*recurse=*/true)) {
    Incoming& tensor = tensors_.at(item.key());
    if (target_ != nullptr && !tensor.staging.defined()) {  // already in place
      if (item.value().data_ptr() != tensor.data) {
        return Status(StatusCode::kFailedPrecondition, "tensor \"" + item.key() +
                                                           "\": the standby model's parameter moved during the upload");
      }
      continue;
    }
    // From pinned memory to a GPU without waiting per tensor; one wait below.
    item.value().copy_(torch::from_blob(tensor.data, tensor.shape, torch::TensorOptions().dtype(tensor.dtype)),
                       /*non_blocking=*/tensor.staging.defined() && tensor.staging.is_pinned());
  }
  if (pinned_bytes_ > 0) torch::cuda::synchronize();  // the staging buffers must outlive the copies
  *model = filled;
  return Status();
}

}  // namespace deltarl
