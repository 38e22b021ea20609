// WeightSnapshot: a model's parameters as they go to the rollout workers,
// taken once per policy version on each rank and then sent to any number of
// workers (publish_weights, RolloutFleet::publish): every tensor on the host,
// contiguous, in its bf16/fp16 or else as fp32, with its CRC-32C.
//
//   WeightSnapshot snapshot(model);   // one device→host copy and checksum
//   for (auto& worker : mine) publish_weights(worker, snapshot, version, options);
//
// Note [Snapshot lifetime]: a parameter already on the host, contiguous and in
// its sending dtype (a CPU model) is not copied: the snapshot shares its
// storage, as the uploads always did. Send a snapshot before the optimizer
// next changes the parameters, and do not keep it across steps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/model/causal_lm.h"

namespace deltarl {

struct SnapshotTensor {
  std::string name;      // the parameter's name, as named_parameters() gives it
  torch::Tensor host;    // on the CPU, contiguous; bf16, fp16 or fp32 (any shape)
  std::string dtype;     // its safetensors name: "BF16", "F16", "F32"
  uint32_t crc32c = 0;   // of its bytes

  const char* bytes() const { return static_cast<const char*>(host.data_ptr()); }
  size_t size() const { return static_cast<size_t>(host.numel()) * host.element_size(); }
};

class WeightSnapshot {
 public:
  // Copies every parameter of `model` to the host (in named_parameters()
  // order) and checksums it. See Note [Snapshot lifetime].
  explicit WeightSnapshot(CausalLM& model);

  const std::vector<SnapshotTensor>& tensors() const { return tensors_; }
  // The parameters' bytes, all tensors together: what one worker receives.
  uint64_t bytes() const { return bytes_; }
  // How long taking it took (the device→host copy and the checksums).
  double seconds() const { return seconds_; }

 private:
  std::vector<SnapshotTensor> tensors_;
  uint64_t bytes_ = 0;
  double seconds_ = 0;
};

}  // namespace deltarl
