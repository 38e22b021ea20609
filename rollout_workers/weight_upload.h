// WeightUpload: assembles one LoadWeights stream into a complete, verified set
// of tensors for the policy being served. Each chunk is checked as it arrives
// (same version throughout and newer than the current one, a known tensor name
// with the model's shape, a supported dtype, bytes inside the tensor); finish()
// then checks that every parameter arrived whole with its CRC-32C, and builds
// the new model. Nothing is installed unless all of that holds.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "deltarl/v1/rollout.pb.h"

#include "core/model/qwen2_model.h"
#include "core/status.h"

namespace deltarl {

class WeightUpload {
 public:
  // `current` is the model being served (for names, shapes and config).
  WeightUpload(const Qwen2ForCausalLM& current, uint64_t current_version);

  // kInvalidArgument / kFailedPrecondition naming the tensor and the reason.
  Status add(const v1::WeightChunk& chunk);
  bool saw_last_chunk() const { return saw_last_chunk_; }

  // A model holding the uploaded weights, or the reason there is none
  // (kInvalidArgument for a missing or incomplete tensor, kDataLoss for a
  // checksum). With `reuse` (a model of the same architecture nobody else
  // uses), its parameters are overwritten in place; otherwise a new one is built.
  Status finish(Qwen2ForCausalLM* model, const Qwen2ForCausalLM* reuse = nullptr);

  uint64_t version() const { return version_; }
  uint64_t tensor_count() const { return tensors_.size(); }
  uint64_t byte_count() const { return bytes_; }

 private:
  struct Incoming {
    torch::ScalarType dtype;
    std::vector<int64_t> shape;
    std::string bytes;
    uint64_t received = 0;
    uint32_t crc32c = 0;
    bool has_checksum = false;
  };

  Qwen2Config config_;
  torch::TensorOptions served_options_;  // device and dtype of the served weights
  std::map<std::string, std::vector<int64_t>> expected_shapes_;
  uint64_t current_version_;
  uint64_t version_ = 0;
  uint64_t bytes_ = 0;
  bool saw_last_chunk_ = false;
  std::map<std::string, Incoming> tensors_;
};

}  // namespace deltarl
