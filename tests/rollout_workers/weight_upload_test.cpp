// WeightUpload's own cast: with no standby to fill, finish() builds a new model
// and casts it to the served dtype; its RoPE stays fp32 (Note [RoPE in fp32],
// core/model/causal_lm.h), as the served model's does. Staging for a model
// served on a GPU is pinned (its test, label gpu, skips without CUDA).
#include "rollout_workers/weight_upload.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "core/crc32c.h"

namespace deltarl {
namespace {

// Sends every parameter of `served` as one chunk each in `dtype_name`, then finishes.
CausalLM upload_all(WeightUpload& upload, const CausalLM& served, const std::string& dtype_name) {
  std::vector<torch::Tensor> sent;  // keeps each chunk's bytes alive until finish()
  const auto parameters = served->named_parameters();
  for (size_t i = 0; i < parameters.size(); ++i) {
    const torch::Tensor tensor = parameters[i].value().detach().to(torch::kCPU).contiguous();
    const size_t bytes = static_cast<size_t>(tensor.numel()) * tensor.element_size();
    v1::WeightChunk chunk;
    chunk.set_version(1);
    chunk.set_tensor_name(parameters[i].key());
    chunk.set_dtype(dtype_name);
    for (int64_t size : tensor.sizes()) chunk.add_shape(size);
    chunk.set_tensor_bytes(bytes);
    chunk.set_offset(0);
    chunk.set_data(tensor.data_ptr(), bytes);
    chunk.set_crc32c(crc32c(tensor.data_ptr(), bytes));
    chunk.set_last_chunk(i + 1 == parameters.size());
    const Status added = upload.add(chunk);
    EXPECT_TRUE(added.ok()) << added.message();
    sent.push_back(tensor);
  }
  CausalLM filled{nullptr};
  const Status finished = upload.finish(&filled);
  EXPECT_TRUE(finished.ok()) << finished.message();
  return filled;
}

TEST(WeightUpload, ANewModelForABf16WorkerKeepsRopeInFp32) {
  torch::manual_seed(0);
  CausalLM served(ModelConfig::preset("tiny"));
  const torch::Tensor fp32_inv_freq = served->model->inv_freq.clone();
  served->to(torch::kBFloat16);

  WeightUpload upload(served, /*current_version=*/0);
  const CausalLM filled = upload_all(upload, served, "BF16");
  ASSERT_TRUE(filled);
  ASSERT_EQ(filled->model->embed_tokens->weight.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(filled->model->embed_tokens->weight, served->model->embed_tokens->weight));
  EXPECT_EQ(filled->model->inv_freq.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(filled->model->inv_freq, fp32_inv_freq));
  EXPECT_EQ(upload.pinned_staging_bytes(), 0u) << "a CPU model's staging needs no pinned memory";
}

TEST(WeightUploadCuda, AGpuModelsUploadIsStagedInPinnedMemoryAndArrivesWhole) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(0);
  CausalLM served(ModelConfig::preset("tiny"));
  served->to(torch::kCUDA);
  WeightUpload upload(served, /*current_version=*/0);
  const CausalLM filled = upload_all(upload, served, "F32");
  ASSERT_TRUE(filled);
  EXPECT_EQ(upload.pinned_staging_bytes(), upload.byte_count());
  for (const auto& item : filled->named_parameters()) {
    EXPECT_TRUE(item.value().is_cuda()) << item.key();
    EXPECT_TRUE(torch::equal(item.value(), served->named_parameters()[item.key()])) << item.key();
  }
}

}  // namespace
}  // namespace deltarl
