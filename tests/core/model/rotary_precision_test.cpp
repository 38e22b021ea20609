// RoPE stays fp32 in a bf16 model (Note [RoPE in fp32], causal_lm.h): after
// a model built in fp32 is cast to bf16, by Module::to or by load_pretrained,
// inv_freq is still fp32 and the rotation angles at positions 4096..8192 match
// an fp64 reference computed from rope_theta and head_dim alone.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>

#include "core/model/hf_checkpoint.h"

namespace deltarl {
namespace {

const std::string kFixtures = std::string(DELTARL_TEST_FIXTURES_DIR) + "/qwen2-tiny/";
constexpr int64_t kFirstPosition = 4096, kLastPosition = 8192;

// The tiny preset with Qwen2.5's rotary embedding: head_dim 64, rope_theta 1e6.
ModelConfig tiny_with_qwen25_rope() {
  ModelConfig config = ModelConfig::preset("tiny");
  config.num_attention_heads = 2;
  config.num_hidden_layers = 1;
  config.rope_theta = 1000000.0;
  config.validate("test config");
  return config;
}

// Max over positions 4096..8192 and every frequency of |angle - reference| / bound,
// where the reference angle p / theta^(2i/d) is computed in fp64 from the config.
//
// The bound, per angle: fp32 keeps 24 significant bits, so each rounding is off by
// at most u = 2^-24 relatively. With head_dim a power of two the exponent 2i/d is
// exact, and so is a position below 2^24; then the power (to within one ulp, 2u),
// the reciprocal (u) and the product with the position (u) add up to a relative
// error of at most 4u: |Δ| ≤ 4u·|angle|, at most 4·2^-24·8192 = 2^-9 ≈ 2e-3 rad
// (inv_freq[0] = 1). A bf16 inv_freq is off by up to 2^-9 relatively, that is by
// up to 2^-9·p·inv_freq: radians for the fast frequencies at these positions.
double worst_angle_error_over_bound(CausalLMImpl& model) {
  const ModelConfig& config = model.config();
  const int64_t d = config.head_dim();
  EXPECT_EQ(d & (d - 1), 0) << "the bound assumes an exact exponent 2i/d";
  const torch::Tensor positions = torch::arange(kFirstPosition, kLastPosition + 1, torch::kInt64).unsqueeze(0);
  const torch::Tensor angles = model.model->rotary_angles(positions);  // (1, s, d)
  EXPECT_EQ(angles.scalar_type(), torch::kFloat32);
  const torch::Tensor exponents = torch::arange(0, d, 2, torch::kFloat64) / static_cast<double>(d);
  const torch::Tensor inv_freq = 1.0 / torch::pow(config.rope_theta, exponents);  // (d / 2,) fp64
  const torch::Tensor freqs = positions.to(torch::kFloat64).unsqueeze(-1) * inv_freq.view({1, 1, -1});
  const torch::Tensor reference = torch::cat({freqs, freqs}, /*dim=*/-1);  // (1, s, d)
  const double u = std::ldexp(1.0, -24);
  const torch::Tensor error = (angles.to(torch::kFloat64) - reference).abs();
  const double worst = (error / (4 * u * reference)).max().item<double>();
  std::cout << "positions " << kFirstPosition << ".." << kLastPosition << ": max |angle error| "
            << error.max().item<double>() << " rad, " << worst << " of the bound at worst\n";
  return worst;
}

TEST(RotaryPrecision, CastingAnFp32ModelToBf16KeepsRopeInFp32) {
  torch::manual_seed(0);
  const ModelConfig config = tiny_with_qwen25_rope();
  CausalLM reference(config);
  for (const bool with_device : {false, true}) {  // Module::to(dtype) and the workers' to(device, dtype)
    SCOPED_TRACE(with_device ? "to(device, bf16)" : "to(bf16)");
    CausalLM model(config);
    if (with_device) {
      model->to(torch::kCPU, torch::kBFloat16);
    } else {
      model->to(torch::kBFloat16);
    }
    ASSERT_EQ(model->model->embed_tokens->weight.scalar_type(), torch::kBFloat16);
    EXPECT_EQ(model->model->inv_freq.scalar_type(), torch::kFloat32);
    EXPECT_TRUE(torch::equal(model->model->inv_freq, reference->model->inv_freq));
    EXPECT_LE(worst_angle_error_over_bound(*model), 1.0);
  }
  // And back: an fp32 model again computes exactly what a fresh one does.
  CausalLM round_trip(config);
  round_trip->to(torch::kBFloat16);
  round_trip->to(torch::kFloat32);
  EXPECT_TRUE(torch::equal(round_trip->model->inv_freq, reference->model->inv_freq));
}

TEST(RotaryPrecision, LoadPretrainedInBf16KeepsRopeInFp32) {
  CausalLM fp32 = load_pretrained(kFixtures + "tied");
  CausalLM bf16 = load_pretrained(kFixtures + "tied", torch::kCPU, torch::kBFloat16);
  ASSERT_EQ(bf16->model->embed_tokens->weight.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(bf16->model->inv_freq.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(bf16->model->inv_freq, fp32->model->inv_freq));
  EXPECT_LE(worst_angle_error_over_bound(*bf16), 1.0);
}

}  // namespace
}  // namespace deltarl
