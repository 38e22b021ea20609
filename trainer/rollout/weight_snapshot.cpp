#include "trainer/rollout/weight_snapshot.h"

#include <chrono>

#include "core/crc32c.h"
#include "core/safetensors.h"

namespace deltarl {

WeightSnapshot::WeightSnapshot(CausalLM& model) {
  const auto started = std::chrono::steady_clock::now();
  for (const auto& item : model->named_parameters(/*recurse=*/true)) {
    SnapshotTensor tensor;
    tensor.name = item.key();
    tensor.host = item.value().detach().to(torch::kCPU).contiguous();
    if (tensor.host.scalar_type() != torch::kBFloat16 && tensor.host.scalar_type() != torch::kFloat16) {
      tensor.host = tensor.host.to(torch::kFloat32);
    }
    tensor.dtype = safetensors_dtype_name(tensor.host.scalar_type());
    tensor.crc32c = crc32c(tensor.bytes(), tensor.size());
    bytes_ += tensor.size();
    tensors_.push_back(std::move(tensor));
  }
  seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

}  // namespace deltarl
