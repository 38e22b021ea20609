// WeightUpload's own cast: with no standby to fill, finish() builds a new model
// and casts it to the served dtype; its RoPE stays fp32 (Note [RoPE in fp32],
// core/model/qwen2_model.h), as the served model's does.
#include "rollout_workers/weight_upload.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "core/crc32c.h"

namespace deltarl {
namespace {

TEST(WeightUpload, ANewModelForABf16WorkerKeepsRopeInFp32) {
  torch::manual_seed(0);
  Qwen2ForCausalLM served(Qwen2Config::preset("tiny"));
  const torch::Tensor fp32_inv_freq = served->model->inv_freq.clone();
  served->to(torch::kBFloat16);

  WeightUpload upload(served, /*current_version=*/0);
  std::vector<torch::Tensor> sent;  // keeps each chunk's bytes alive until finish()
  const auto parameters = served->named_parameters();
  for (size_t i = 0; i < parameters.size(); ++i) {
    const torch::Tensor tensor = parameters[i].value().detach().contiguous();
    const size_t bytes = static_cast<size_t>(tensor.numel()) * tensor.element_size();
    v1::WeightChunk chunk;
    chunk.set_version(1);
    chunk.set_tensor_name(parameters[i].key());
    chunk.set_dtype("BF16");
    for (int64_t size : tensor.sizes()) chunk.add_shape(size);
    chunk.set_tensor_bytes(bytes);
    chunk.set_offset(0);
    chunk.set_data(tensor.data_ptr(), bytes);
    chunk.set_crc32c(crc32c(tensor.data_ptr(), bytes));
    chunk.set_last_chunk(i + 1 == parameters.size());
    const Status added = upload.add(chunk);
    ASSERT_TRUE(added.ok()) << added.message();
    sent.push_back(tensor);
  }
  Qwen2ForCausalLM filled{nullptr};
  const Status finished = upload.finish(&filled);
  ASSERT_TRUE(finished.ok()) << finished.message();
  ASSERT_EQ(filled->model->embed_tokens->weight.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(filled->model->embed_tokens->weight, served->model->embed_tokens->weight));
  EXPECT_EQ(filled->model->inv_freq.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(filled->model->inv_freq, fp32_inv_freq));
}

}  // namespace
}  // namespace deltarl
