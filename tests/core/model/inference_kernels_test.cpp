#include "core/model/inference_kernels.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace deltarl {
namespace {

// The model's ATen composition (transformers' order of operations).
torch::Tensor reference_rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  return weight * (x * torch::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + eps));
}

torch::Tensor reference_rotary(const torch::Tensor& heads, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t half = heads.size(-1) / 2;
  const torch::Tensor rotated = torch::cat({-heads.narrow(-1, half, half), heads.narrow(-1, 0, half)}, -1);
  return heads * cos.unsqueeze(2) + rotated * sin.unsqueeze(2);  // cos (b, s, d) over every head
}

class InferenceKernelsTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(7); }
  torch::NoGradGuard no_grad_;
};

TEST_F(InferenceKernelsTest, RmsNormMatchesTheAtenComposition) {
  for (const int64_t n : {256, 7, 1}) {
    const torch::Tensor x = torch::randn({3, 5, n}) * 3, weight = torch::randn({n});
    const torch::Tensor fused = rms_norm_inference(x, weight, 1e-6);
    EXPECT_EQ(fused.sizes(), x.sizes());
    EXPECT_TRUE(torch::allclose(fused, reference_rms_norm(x, weight, 1e-6), 1e-6, 1e-6)) << "n = " << n;
  }
  // Enough rows that they are split over threads.
  const torch::Tensor many = torch::randn({300, 256}), many_weight = torch::randn({256});
  EXPECT_TRUE(torch::allclose(rms_norm_inference(many, many_weight, 1e-6), reference_rms_norm(many, many_weight, 1e-6),
                              1e-6, 1e-6));
  // Rows with a stride (a narrow of wider rows) and eps that matters.
  const torch::Tensor wide = torch::randn({4, 64}) * 1e-3, weight = torch::randn({32});
  const torch::Tensor rows = wide.narrow(1, 16, 32);
  EXPECT_TRUE(torch::allclose(rms_norm_inference(rows, weight, 1e-5), reference_rms_norm(rows, weight, 1e-5), 1e-6, 1e-6));
}

TEST_F(InferenceKernelsTest, AddRmsNormReturnsTheExactSumAndItsNorm) {
  // Enough rows that the work is split over threads.
  const torch::Tensor residual = torch::randn({300, 256}), delta = torch::randn({300, 256}), weight = torch::randn({256});
  const torch::Tensor residual_before = residual.clone();
  auto [sum, normed] = add_rms_norm_inference(residual, delta, weight, 1e-6);
  EXPECT_TRUE(torch::equal(sum, residual + delta));  // the same float additions as ATen's
  EXPECT_TRUE(torch::allclose(normed, reference_rms_norm(residual + delta, weight, 1e-6), 1e-6, 1e-6));
  EXPECT_TRUE(torch::equal(residual, residual_before));  // inputs are left alone
}

TEST_F(InferenceKernelsTest, RotaryEmbeddingIsBitForBitTheAtenComposition) {
  // A fused q/k/v output (b, s, q + k + v heads, d); RoPE on the first 6 heads
  // only, over enough positions that they are split over threads.
  const int64_t b = 4, s = 96, d = 32;
  const torch::Tensor heads = torch::randn({b, s, 8, d});
  const torch::Tensor angles = torch::rand({b, s, d / 2}) * 40;
  const torch::Tensor cos = torch::cat({angles, angles}, -1).cos(), sin = torch::cat({angles, angles}, -1).sin();
  const torch::Tensor expected = reference_rotary(heads.narrow(2, 0, 6), cos, sin);
  const torch::Tensor untouched = heads.narrow(2, 6, 2).clone();
  rotary_embedding_inference_(heads.narrow(2, 0, 6), cos, sin);
  EXPECT_TRUE(torch::equal(heads.narrow(2, 0, 6), expected));
  EXPECT_TRUE(torch::equal(heads.narrow(2, 6, 2), untouched));
}

TEST_F(InferenceKernelsTest, AppliesOnlyToCpuFloat32WithoutGradients) {
  const torch::Tensor x = torch::randn({4, 8});
  EXPECT_TRUE(inference_kernels_apply(x));
  EXPECT_FALSE(inference_kernels_apply(x.to(torch::kBFloat16)));
  EXPECT_FALSE(inference_kernels_apply(x.t()));  // last dimension strided
  {
    torch::AutoGradMode grad(true);
    EXPECT_FALSE(inference_kernels_apply(x));
  }
}

TEST_F(InferenceKernelsTest, MismatchedShapesAreErrors) {
  const torch::Tensor x = torch::randn({2, 8});
  EXPECT_THROW(rms_norm_inference(x, torch::ones({7}), 1e-6), c10::Error);
  EXPECT_THROW(add_rms_norm_inference(x, torch::randn({2, 4}), torch::ones({8}), 1e-6), c10::Error);
  EXPECT_THROW(rotary_embedding_inference_(torch::randn({1, 2, 3, 5}), torch::ones({1, 2, 5}), torch::zeros({1, 2, 5})),
               c10::Error);  // odd d
  const torch::Tensor heads = torch::randn({1, 2, 3, 4});
  EXPECT_THROW(rotary_embedding_inference_(heads, torch::ones({1, 3, 4}), torch::zeros({1, 3, 4})), c10::Error);
  EXPECT_THROW(rotary_embedding_inference_(heads.transpose(1, 2), torch::ones({1, 3, 4}), torch::zeros({1, 3, 4})),
               c10::Error);  // heads not adjacent
}

}  // namespace
}  // namespace deltarl
