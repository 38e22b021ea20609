// FusedProjection: one product gives each part's output, the parts keep
// working as parameters (writes through them reach the fused tensor), and a
// part given new storage is noticed: no product until fused again.
#include "core/model/fused_projection.h"

#include <gtest/gtest.h>

#include <cmath>

#include <torch/torch.h>

#include "core/compute_threads.h"
#include "core/model/causal_lm.h"

namespace deltarl {
namespace {

std::vector<torch::nn::Linear> make_parts(bool bias) {
  torch::manual_seed(11);
  return {torch::nn::Linear(torch::nn::LinearOptions(16, 12).bias(bias)),
          torch::nn::Linear(torch::nn::LinearOptions(16, 4).bias(bias)),
          torch::nn::Linear(torch::nn::LinearOptions(16, 4).bias(bias))};
}

torch::Tensor separately(const std::vector<torch::nn::Linear>& parts, const torch::Tensor& x) {
  std::vector<torch::Tensor> outputs;
  for (const auto& part : parts) outputs.push_back(torch::nn::functional::linear(x, part->weight, part->bias));
  return torch::cat(outputs, /*dim=*/-1);
}

TEST(FusedProjection, OneProductGivesEveryPartsOutput) {
  for (bool bias : {true, false}) {
    auto parts = make_parts(bias);
    FusedProjection fused(parts);
    EXPECT_FALSE(fused.is_fused());
    fused.fuse();
    EXPECT_TRUE(fused.is_fused());
    torch::NoGradGuard no_grad;
    const torch::Tensor x = torch::randn({3, 5, 16});
    const torch::Tensor expected = separately(parts, x);
    const torch::Tensor actual = fused.forward(x);
    ASSERT_EQ(actual.sizes(), (std::vector<int64_t>{3, 5, 20}));
    EXPECT_TRUE(torch::allclose(actual, expected, 1e-6, 1e-6)) << "bias " << bias;
    // Each part's own forward still works and reads the same memory.
    EXPECT_TRUE(torch::allclose(parts[1]->forward(x), expected.narrow(-1, 12, 4), 1e-6, 1e-6));
  }
}

TEST(FusedProjection, WritesThroughThePartsReachTheFusedProduct) {
  auto parts = make_parts(true);
  FusedProjection fused(parts);
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({2, 16});
  fused.fuse();
  const void* fused_memory = parts[0]->weight.data_ptr();
  // A weight upload copies into the parameters; an optimizer updates them in place.
  parts[2]->weight.copy_(torch::randn({4, 16}));
  parts[0]->bias.add_(1.0);
  EXPECT_TRUE(torch::allclose(fused.forward(x), separately(parts, x), 1e-6, 1e-6));
  // The parameters stay contiguous tensors of their own shapes.
  EXPECT_TRUE(parts[1]->weight.is_contiguous());
  EXPECT_EQ(parts[1]->weight.sizes(), (std::vector<int64_t>{4, 16}));
  // Fusing again keeps the fused tensor the parts still point into: no copy.
  fused.fuse();
  EXPECT_EQ(parts[0]->weight.data_ptr(), fused_memory);
}

TEST(FusedProjection, APartGivenNewStorageIsRefusedUntilFusedAgain) {
  auto parts = make_parts(true);
  FusedProjection fused(parts);
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({2, 16});
  EXPECT_THROW(fused.forward(x), c10::Error);  // never fused
  fused.fuse();
  parts[1]->weight.set_data(torch::randn({4, 16}));  // what to() or an assignment does
  EXPECT_FALSE(fused.is_fused());
  EXPECT_THROW(fused.forward(x), c10::Error);
  fused.fuse();
  EXPECT_TRUE(torch::allclose(fused.forward(x), separately(parts, x), 1e-6, 1e-6));
  // A change of dtype for all of them (module->to(kFloat64)) as well.
  for (auto& part : parts) part->to(torch::kFloat64);
  const torch::Tensor wide = x.to(torch::kFloat64);
  EXPECT_THROW(fused.forward(wide), c10::Error);
  fused.fuse();
  const torch::Tensor out = fused.forward(wide);
  EXPECT_EQ(out.scalar_type(), torch::kFloat64);
  EXPECT_TRUE(torch::allclose(out, separately(parts, wide), 1e-12, 1e-12));
}

TEST(FusedProjection, RefusesToRunWithGradients) {
  FusedProjection fused(make_parts(true));
  fused.fuse();
  EXPECT_THROW(fused.forward(torch::randn({2, 16})), c10::Error);
}

TEST(FusedProjection, TheModelGivesTheSameLogitsFusedOrNot) {
  // With gradients the model runs its separate layers; without, the fused
  // ones, and after an in-place update of the parameters (a training step)
  // and prepare_inference() again.
  torch::manual_seed(5);
  CausalLM model(ModelConfig::preset("tiny"));
  const torch::Tensor ids = torch::randint(0, 500, {2, 9});
  for (int round = 0; round < 2; ++round) {
    const torch::Tensor separate = model->forward(ids).detach();
    torch::Tensor fused;
    {
      torch::NoGradGuard no_grad;
      model->prepare_inference(LinearForm::kFused);
      ASSERT_EQ(model->inference_form(), LinearForm::kFused);
      fused = model->forward(ids);
    }
    EXPECT_TRUE(torch::allclose(fused, separate, 1e-5, 1e-5)) << "round " << round;
    torch::NoGradGuard no_grad;
    for (auto& parameter : model->parameters()) parameter.mul_(1.01);
  }
  // Parameters keep their checkpoint names and shapes.
  const auto parameters = model->named_parameters();
  EXPECT_EQ(parameters["model.layers.0.self_attn.k_proj.weight"].sizes(), (std::vector<int64_t>{64, 128}));
}

// True when every element of `product`, an fp32 evaluation of a·b, is within
// the worst-case rounding bound of an fp32 dot product of length k in any
// summation order, γ_k·(|a|·|b|) with γ_k = k·u/(1 − k·u) and u = 2^-24
// (Higham, Accuracy and Stability, §3.1), of the exact product (in float64).
// The BLAS may split and order the sums differently whenever its thread pool
// is rebuilt with another size, so two fp32 results of the same product agree
// only to this bound, not to a fixed 1e-5: an element near 0 with terms of
// size ~1 carries absolute error ~k·u.
bool within_fp32_product_bound(const torch::Tensor& product, const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor a64 = a.to(torch::kFloat64), b64 = b.to(torch::kFloat64);
  const double k = static_cast<double>(a.size(1)), u = std::ldexp(1.0, -24);
  const torch::Tensor bound = (k * u / (1 - k * u)) * torch::mm(a64.abs(), b64.abs());
  return ((product.to(torch::kFloat64) - torch::mm(a64, b64)).abs() <= bound).all().item<bool>();
}

TEST(ComputeThreads, ReleasedPoolsAreRebuiltOnTheNextOperation) {
  // Results after giving the pool back are still the product (the runtime
  // starts a new pool; nothing is left half torn down). A pool torn down
  // half-way gives zeros or stale rows, far outside the rounding bound.
  torch::manual_seed(1);
  const torch::Tensor a = torch::randn({256, 256}), b = torch::randn({256, 256});
  ASSERT_TRUE(within_fp32_product_bound(torch::mm(a, b), a, b));
  const int threads = torch::get_num_threads();
  release_compute_threads();
  EXPECT_TRUE(within_fp32_product_bound(torch::mm(a, b), a, b));
  EXPECT_EQ(torch::get_num_threads(), threads);
  release_compute_threads();
  release_compute_threads();  // twice in a row is fine
  EXPECT_TRUE(within_fp32_product_bound(torch::mm(a, b), a, b));
  // The bound has teeth: one element off by a unit of its terms' size fails it.
  torch::Tensor wrong = torch::mm(a, b);
  wrong[3][5] += 1.0f;
  EXPECT_FALSE(within_fp32_product_bound(wrong, a, b));
}

}  // namespace
}  // namespace deltarl
