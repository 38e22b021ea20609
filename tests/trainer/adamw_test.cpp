#include "trainer/algorithm/adamw.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/input_error.h"
#include "trainer/algorithm/learning_rate_schedule.h"

namespace deltarl {
namespace {

// LibTorch's own AdamW is the reference for a matrix (decayed) parameter.
TEST(AdamW, MatchesLibTorchAdamWOnMatrices) {
  torch::manual_seed(0);
  torch::Tensor ours = torch::randn({4, 3}).requires_grad_(true);
  torch::Tensor theirs = ours.detach().clone().requires_grad_(true);
  torch::OrderedDict<std::string, torch::Tensor> named;
  named.insert("w", ours);
  AdamW optimizer(named, AdamWOptions{0.9, 0.98, 1e-8, 0.1});
  torch::optim::AdamW reference({theirs}, torch::optim::AdamWOptions(0.01).betas({0.9, 0.98}).eps(1e-8).weight_decay(0.1));
  for (int step = 0; step < 5; ++step) {
    const torch::Tensor target = torch::randn({4, 3});
    for (auto* parameter : {&ours, &theirs}) {
      if (parameter->grad().defined()) parameter->mutable_grad().zero_();
      ((*parameter - target).square().sum() * (step + 1)).backward();
    }
    optimizer.step(0.01);
    reference.step();
    EXPECT_TRUE(torch::allclose(ours, theirs, /*rtol=*/1e-6, /*atol=*/1e-7)) << "step " << step;
  }
  EXPECT_EQ(optimizer.steps_taken(), 5);
}

// The update runs in chunks of kUpdateChunkElements: a matrix of two chunks
// and a ragged third must still match LibTorch's AdamW in every element (a
// skipped or misplaced chunk leaves whole megabytes of it unchanged).
TEST(AdamW, ChunkedUpdateCoversEveryElementOfALargeParameter) {
  torch::manual_seed(1);
  const int64_t rows = 2 * AdamW::kUpdateChunkElements / 8 + 3;  // 2 chunks and 24 elements
  torch::Tensor ours = torch::randn({rows, 8}).requires_grad_(true);
  torch::Tensor theirs = ours.detach().clone().requires_grad_(true);
  torch::OrderedDict<std::string, torch::Tensor> named;
  named.insert("embedding", ours);
  AdamW optimizer(named, AdamWOptions{0.9, 0.98, 1e-8, 0.1});
  torch::optim::AdamW reference({theirs}, torch::optim::AdamWOptions(0.01).betas({0.9, 0.98}).eps(1e-8).weight_decay(0.1));
  for (int step = 0; step < 3; ++step) {
    const torch::Tensor gradient = torch::randn({rows, 8});
    ours.mutable_grad() = gradient.clone();
    theirs.mutable_grad() = gradient.clone();
    optimizer.step(0.01);
    reference.step();
    const double largest = (ours - theirs).abs().max().item<double>();
    EXPECT_LT(largest, 1e-6) << "step " << step;
  }
}

TEST(AdamW, NoDecayOnVectorsAndExactStateRoundTrip) {
  torch::Tensor bias = torch::ones({3}).requires_grad_(true);
  torch::OrderedDict<std::string, torch::Tensor> named;
  named.insert("b", bias);
  AdamW optimizer(named, AdamWOptions{0.9, 0.999, 1e-8, 0.5});
  bias.mutable_grad() = torch::zeros({3});
  optimizer.step(0.1);
  EXPECT_TRUE(torch::equal(bias, torch::ones({3})));  // zero gradient, and no decay on a bias

  // First step closed form: m̂ = g, v̂ = g², update = lr·g/(|g|+eps).
  bias.mutable_grad() = torch::tensor({2.0f, -1.0f, 0.0f});
  AdamW fresh(named, AdamWOptions{0.9, 0.999, 1e-8, 0.0});
  fresh.step(0.1);
  EXPECT_NEAR(bias[0].item<float>(), 1.0 - 0.1, 1e-6);
  EXPECT_NEAR(bias[1].item<float>(), 1.0 + 0.1, 1e-6);

  std::map<std::string, torch::Tensor> state;
  for (auto& [name, tensor] : fresh.state_tensors()) state[name] = tensor;
  AdamW restored(named, AdamWOptions{0.9, 0.999, 1e-8, 0.0});
  restored.load_state(state, fresh.steps_taken(), "test");
  torch::Tensor before = bias.detach().clone();
  fresh.step(0.1);
  torch::Tensor after_fresh = bias.detach().clone();
  bias.detach().copy_(before);
  restored.step(0.1);
  EXPECT_TRUE(torch::equal(bias, after_fresh));
  state.erase("exp_avg.b");
  EXPECT_THROW(restored.load_state(state, 1, "ckpt"), InputError);
}

TEST(LearningRateSchedule, WarmupThenCosineToTheFloor) {
  const LearningRateSchedule schedule{1.0, 4, 14, 0.1};
  EXPECT_DOUBLE_EQ(schedule.at(1), 0.25);
  EXPECT_DOUBLE_EQ(schedule.at(4), 1.0);
  EXPECT_DOUBLE_EQ(schedule.at(5), 1.0);                     // decay starts at the peak
  EXPECT_NEAR(schedule.at(14), 0.1, 1e-15);                  // ends at lr · min_ratio
  EXPECT_NEAR(schedule.at(9) + schedule.at(10), 1.1, 1e-12);  // symmetric around the midpoint
  const LearningRateSchedule constant{0.5, 0, 1, 0.0};
  EXPECT_DOUBLE_EQ(constant.at(1), 0.5);
}

}  // namespace
}  // namespace deltarl
