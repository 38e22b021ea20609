#include "trainer/rollout/weight_publisher.h"

#include <algorithm>
#include <chrono>

#include "trainer/rollout/rollout_auth_token.h"

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

Status publish_weights(v1::RolloutService::Stub& worker, const WeightSnapshot& snapshot, uint64_t version,
                       const PublishOptions& options, v1::LoadWeightsReply* reply) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(static_cast<int64_t>(options.deadline_seconds * 1000)));
  authorize_rollout_call(context, options.auth_token);
  v1::LoadWeightsReply local_reply;
  auto writer = worker.LoadWeights(&context, reply != nullptr ? reply : &local_reply);
  const auto& tensors = snapshot.tensors();
  for (size_t index = 0; index < tensors.size(); ++index) {
    const SnapshotTensor& tensor = tensors[index];
    const char* bytes = tensor.bytes();
    const size_t size = tensor.size();
    size_t offset = 0;
    do {
      const size_t length = std::min(options.chunk_bytes, size - offset);
      v1::WeightChunk chunk;
      chunk.set_version(version);
      chunk.set_tensor_name(tensor.name);
      chunk.set_dtype(tensor.dtype);
      for (int64_t dimension : tensor.host.sizes()) chunk.add_shape(dimension);
      chunk.set_tensor_bytes(size);
      chunk.set_offset(offset);
      chunk.set_data(bytes + offset, length);
      offset += length;
      if (offset == size) chunk.set_crc32c(tensor.crc32c);
      chunk.set_last_chunk(offset == size && index + 1 == tensors.size());
      if (!writer->Write(chunk)) return from_grpc(writer->Finish());  // the worker ended the stream early
    } while (offset < size);
  }
  writer->WritesDone();
  return from_grpc(writer->Finish());
}

}  // namespace deltarl
