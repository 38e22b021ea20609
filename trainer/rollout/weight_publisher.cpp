#include "trainer/rollout/weight_publisher.h"

#include <chrono>

#include "core/crc32c.h"
#include "core/safetensors.h"

namespace deltarl {

namespace {

Status from_grpc(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::OK: return Status();
    case grpc::StatusCode::INVALID_ARGUMENT: return Status(StatusCode::kInvalidArgument, status.error_message());
    case grpc::StatusCode::FAILED_PRECONDITION: return Status(StatusCode::kFailedPrecondition, status.error_message());
    case grpc::StatusCode::DATA_LOSS: return Status(StatusCode::kDataLoss, status.error_message());
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED: return Status(StatusCode::kUnavailable, status.error_message());
    default: return Status(StatusCode::kInternal, status.error_message());
  }
}

}  // namespace

Status publish_weights(v1::RolloutService::Stub& worker, Qwen2ForCausalLM& model, uint64_t version,
                       const PublishOptions& options, v1::LoadWeightsReply* reply) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(static_cast<int64_t>(options.deadline_seconds * 1000)));
  if (options.auth_token) context.AddMetadata("authorization", "Bearer " + *options.auth_token);
  v1::LoadWeightsReply local_reply;
  auto writer = worker.LoadWeights(&context, reply != nullptr ? reply : &local_reply);
  const auto parameters = model->named_parameters(/*recurse=*/true);
  size_t index = 0;
  for (const auto& item : parameters) {
    ++index;
    torch::Tensor tensor = item.value().detach().to(torch::kCPU).contiguous();
    if (tensor.scalar_type() != torch::kBFloat16 && tensor.scalar_type() != torch::kFloat16) {
      tensor = tensor.to(torch::kFloat32);
    }
    const auto* bytes = static_cast<const char*>(tensor.data_ptr());
    const size_t size = static_cast<size_t>(tensor.numel()) * tensor.element_size();
    const uint32_t checksum = crc32c(bytes, size);
    size_t offset = 0;
    do {
      const size_t length = std::min(options.chunk_bytes, size - offset);
      v1::WeightChunk chunk;
      chunk.set_version(version);
      chunk.set_tensor_name(item.key());
      chunk.set_dtype(safetensors_dtype_name(tensor.scalar_type()));
      for (int64_t dimension : tensor.sizes()) chunk.add_shape(dimension);
      chunk.set_tensor_bytes(size);
      chunk.set_offset(offset);
      chunk.set_data(bytes + offset, length);
      offset += length;
      if (offset == size) chunk.set_crc32c(checksum);
      chunk.set_last_chunk(offset == size && index == parameters.size());
      if (!writer->Write(chunk)) return from_grpc(writer->Finish());  // the worker ended the stream early
    } while (offset < size);
  }
  writer->WritesDone();
  return from_grpc(writer->Finish());
}

}  // namespace deltarl
