// WeightUpload: assembles one LoadWeights stream into a complete, verified set
// of tensors for the policy being served. Each chunk is checked as it arrives
// (same version throughout and newer than the current one, a known tensor name
// with the model's shape, a supported dtype, bytes inside the tensor); finish()
// then checks that every parameter arrived whole with its CRC-32C, and hands
// over the model holding them. Nothing is installed unless all of that holds.
//
// With a target (a model of the served architecture that nobody else uses: the
// worker's standby), a chunk whose dtype is the target's, on the CPU, is copied
// straight into the target's parameter and checksummed as it lands, so the
// bytes are touched once; anything else (another dtype, a GPU target) is staged
// and converted in finish(). For a model served on a GPU the staging is pinned
// host memory, copied to the device once, asynchronously, with one wait. After a failed upload the target's contents are
// undefined: it may only be filled again.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "deltarl/v1/rollout.pb.h"

#include "core/model/causal_lm.h"
#include "core/status.h"

namespace deltarl {

class WeightUpload {
 public:
  // `current` is the model being served (for names, shapes and config);
  // `target`, when not null, must outlive the upload.
  WeightUpload(const CausalLM& current, uint64_t current_version, CausalLM* target = nullptr);

  // kInvalidArgument / kFailedPrecondition naming the tensor and the reason.
  Status add(const v1::WeightChunk& chunk);
  bool saw_last_chunk() const { return saw_last_chunk_; }

  // A model holding the uploaded weights, or the reason there is none
  // (kInvalidArgument for a missing or incomplete tensor, kDataLoss for a
  // checksum): the target when there is one, else `late_target` (a standby
  // that became free during the upload) filled now, else a new model.
  Status finish(CausalLM* model, const CausalLM* late_target = nullptr);

  uint64_t version() const { return version_; }
  uint64_t tensor_count() const { return tensors_.size(); }
  uint64_t byte_count() const { return bytes_; }
  // Bytes staged in pinned host memory: all that is staged for a GPU-served model, none otherwise.
  uint64_t pinned_staging_bytes() const { return pinned_bytes_; }

 private:
  struct Incoming {
    torch::ScalarType dtype;
    std::vector<int64_t> shape;
    torch::Tensor staging;      // uint8, when not written into the target directly
    char* data = nullptr;       // where the bytes go: the target parameter's memory or `staging`
    uint64_t size = 0;
    uint64_t received = 0;
    uint32_t running_crc32c = 0;  // over [0, received) while chunks arrive in order
    bool in_order = true;
    uint32_t crc32c = 0;  // the sender's, over the whole tensor
    bool has_checksum = false;
  };

  ModelConfig config_;
  torch::TensorOptions served_options_;  // device and dtype of the served weights
  std::map<std::string, std::vector<int64_t>> expected_shapes_;
  CausalLM* target_;
  std::map<std::string, torch::Tensor> target_parameters_;
  uint64_t current_version_;
  uint64_t version_ = 0;
  uint64_t bytes_ = 0;
  uint64_t pinned_bytes_ = 0;
  bool saw_last_chunk_ = false;
  std::map<std::string, Incoming> tensors_;
};

}  // namespace deltarl
