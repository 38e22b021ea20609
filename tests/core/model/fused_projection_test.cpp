// FusedProjection: one product gives each part's output, the parts keep
// working as parameters (writes through them reach the fused tensor), and a
// part given new storage is noticed and fused again.
#include "core/model/fused_projection.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "core/compute_threads.h"
#include "core/model/qwen2_model.h"

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
  fused.forward(x);  // fuses
  // A weight upload copies into the parameters; an optimizer updates them in place.
  parts[2]->weight.copy_(torch::randn({4, 16}));
  parts[0]->bias.add_(1.0);
  EXPECT_TRUE(torch::allclose(fused.forward(x), separately(parts, x), 1e-6, 1e-6));
  // The parameters stay contiguous tensors of their own shapes.
  EXPECT_TRUE(parts[1]->weight.is_contiguous());
  EXPECT_EQ(parts[1]->weight.sizes(), (std::vector<int64_t>{4, 16}));
}

TEST(FusedProjection, APartGivenNewStorageIsFusedAgain) {
  auto parts = make_parts(true);
  FusedProjection fused(parts);
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({2, 16});
  fused.forward(x);
  parts[1]->weight.set_data(torch::randn({4, 16}));  // what to() or an assignment does
  EXPECT_TRUE(torch::allclose(fused.forward(x), separately(parts, x), 1e-6, 1e-6));
  // A change of dtype for all of them (module->to(kFloat64)) as well.
  for (auto& part : parts) part->to(torch::kFloat64);
  const torch::Tensor wide = x.to(torch::kFloat64);
  const torch::Tensor out = fused.forward(wide);
  EXPECT_EQ(out.scalar_type(), torch::kFloat64);
  EXPECT_TRUE(torch::allclose(out, separately(parts, wide), 1e-12, 1e-12));
}

TEST(FusedProjection, RefusesToRunWithGradients) {
  FusedProjection fused(make_parts(true));
  EXPECT_THROW(fused.forward(torch::randn({2, 16})), c10::Error);
}

TEST(FusedProjection, TheModelGivesTheSameLogitsFusedOrNot) {
  // With gradients the model runs its separate layers; without, the fused
  // ones, and after an in-place update of the parameters (a training step).
  torch::manual_seed(5);
  Qwen2ForCausalLM model(Qwen2Config::preset("tiny"));
  const torch::Tensor ids = torch::randint(0, 500, {2, 9});
  for (int round = 0; round < 2; ++round) {
    const torch::Tensor separate = model->forward(ids).detach();
    torch::Tensor fused;
    {
      torch::NoGradGuard no_grad;
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

TEST(ComputeThreads, ReleasedPoolsAreRebuiltOnTheNextOperation) {
  // Results after giving the pool back are the same as before (the runtime
  // starts a new pool; nothing is left half torn down).
  torch::manual_seed(1);
  const torch::Tensor a = torch::randn({256, 256}), b = torch::randn({256, 256});
  const torch::Tensor before = torch::mm(a, b);
  const int threads = torch::get_num_threads();
  release_compute_threads();
  EXPECT_TRUE(torch::allclose(torch::mm(a, b), before, 1e-5, 1e-5));
  EXPECT_EQ(torch::get_num_threads(), threads);
  release_compute_threads();
  release_compute_threads();  // twice in a row is fine
  EXPECT_TRUE(torch::allclose(torch::mm(a, b), before, 1e-5, 1e-5));
}

}  // namespace
}  // namespace deltarl
