// An independent check of the PPO-clip loss: PolicyUpdater's gradient on a fixed
// batch of the tiny untied Qwen2 fixture matches the one PyTorch and Hugging
// Face transformers compute (tests/reference/make_ppo_loss_fixture.py), for the
// ΔL (α = 1, group scope), token-mean (DAPO) and seq-mean-token-mean (GRPO)
// weightings, with π_old ≠ π so that every branch of the loss is taken:
// unclipped, clipped at 1+ε_high, clipped at 1-ε_low and dual-clipped.
//
// Tolerance: per mode, over the fixture's gradient elements (every 7th of each
// parameter, all parameters together),
//     max |g_deltarl − g_ref| ≤ 1e-4 · max |g_ref|,
// and each parameter's whole-gradient L2 norm within 1e-4 · max(‖g_ref,p‖, max |g_ref|).
// Relative to the mode's largest element, because the three weightings scale
// J, and so the gradient, differently (max |g_ref| is 0.017 for ΔL, 0.091 for
// token-mean): an absolute bound would be five times looser for one mode than
// for another. Not relative per element: some gradients are zero up to
// rounding (k_proj's bias: a shift of every key leaves the softmax unchanged).
// Two fp32 implementations of the same forward and backward differ by ~1e-6 of
// max |g_ref| (measured 0.7e-6 to 1.3e-6); the modes' gradients differ by 0.44
// to 0.82 of it, and the test checks that a gradient of one mode fails the
// tolerance against another's. The batch has ratios between 1±0.2 and 1±0.28
// and past c, so ε_high = 0.2, swapped ε or c = 4 each fail by > 0.6 of max |g_ref|.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <string>
#include <tuple>
#include <vector>

#include <torch/torch.h>

#include "core/model/hf_checkpoint.h"
#include "core/safetensors.h"
#include "trainer/algorithm/policy_update.h"
#include "trainer/comm/single_process_communicator.h"

namespace deltarl {
namespace {

const std::string kModel = std::string(DELTARL_TEST_FIXTURES_DIR) + "/qwen2-tiny/untied";
const std::string kReference = kModel + "/ppo_loss_reference.safetensors";
constexpr int64_t kStride = 7;          // the script's STRIDE
constexpr double kTolerance = 1e-4;     // relative to the mode's max |g_ref|
constexpr double kMaxResponseLength = 16;  // the script's M
constexpr int64_t kNumGroups = 4;
// The modes' gradients must differ by this many tolerances, or the test could
// not tell a wrong weighting from a right one.
constexpr double kSeparation = 100;

struct Mode {
  std::string name;  // the fixture's key
  AggregationMode mode;
};
const std::vector<Mode> kModes = {
    {"delta_l", AggregationMode::kDeltaL},
    {"token_mean", AggregationMode::kTokenMean},
    {"seq_mean_token_mean", AggregationMode::kSeqMeanTokenMean},
};

std::vector<RolloutSample> fixture_samples(const SafetensorsFile& file) {
  const torch::Tensor prompt_ids = file.tensor("prompt_ids");          // (n, P) int64
  const torch::Tensor prompt_lengths = file.tensor("prompt_lengths");  // (n,)
  const torch::Tensor response_ids = file.tensor("response_ids");      // (n, R) int64
  const torch::Tensor response_lengths = file.tensor("response_lengths");
  const torch::Tensor groups = file.tensor("groups");
  const torch::Tensor rewards = file.tensor("rewards");              // (n,) float64
  const torch::Tensor old_log_probs = file.tensor("old_log_probs");  // (n, R) float32
  std::vector<RolloutSample> samples;
  for (int64_t i = 0; i < prompt_ids.size(0); ++i) {
    RolloutSample s;
    s.group = groups[i].item<int64_t>();
    s.sample_index = static_cast<int32_t>(i);
    for (int64_t t = 0; t < prompt_lengths[i].item<int64_t>(); ++t) {
      s.prompt_ids.push_back(static_cast<int32_t>(prompt_ids[i][t].item<int64_t>()));
    }
    for (int64_t t = 0; t < response_lengths[i].item<int64_t>(); ++t) {
      s.response_ids.push_back(static_cast<int32_t>(response_ids[i][t].item<int64_t>()));
      s.old_log_probs.push_back(old_log_probs[i][t].item<float>());
    }
    s.rollout_log_probs = s.old_log_probs;  // unused: π_old is old_log_probs, no rollout correction
    s.reward = rewards[i].item<double>();
    samples.push_back(std::move(s));
  }
  return samples;
}

// deltarl's gradient of J in one mode, as the fixture stores it.
struct Gradient {
  std::vector<std::string> names;      // the parameters, in the model's order
  std::vector<torch::Tensor> strided;  // every kStride-th element, flattened, float64
  std::vector<double> norms;           // whole-gradient L2 norms
  PolicyUpdateResult result;
};

Gradient deltarl_gradient(AggregationMode mode, int64_t micro_batch_size, const std::vector<RolloutSample>& samples) {
  CausalLM model = load_pretrained(kModel);
  AdamW optimizer(model->named_parameters(), AdamWOptions{0.9, 0.999, 1e-8, 0.0});
  PolicyUpdateOptions options;
  options.aggregation.mode = mode;
  options.aggregation.alpha = 1.0;
  options.aggregation.scope = DeltaLScope::kGroup;
  options.aggregation.max_response_length = kMaxResponseLength;
  options.aggregation.validate();
  options.advantage = AdvantageEstimator::kGrpo;
  options.loss.clip_ratio_low = 0.2;
  options.loss.clip_ratio_high = 0.28;
  options.loss.clip_ratio_c = 3.0;
  options.micro_batching.size = micro_batch_size;
  options.validate();
  PolicyUpdater updater(model, /*reference=*/nullptr, optimizer, options);

  SingleProcessCommunicator communicator;
  StepStatistics statistics(kNumGroups, options.aggregation.alpha);
  for (const auto& s : samples) statistics.add_sample(s.group, static_cast<int64_t>(s.response_ids.size()), s.reward);
  statistics.all_reduce(communicator);
  const LossWeightTable weights(options.aggregation, statistics);
  const AdvantageTable advantages(options.advantage, statistics);

  Gradient out;
  updater.start();
  for (const auto& micro_batch : micro_batches(samples, micro_batch_size)) {
    updater.accumulate(micro_batch, weights, advantages, &out.result);
  }
  const std::vector<torch::Tensor> gradients = updater.gradients();
  communicator.all_reduce_sum(gradients);
  const auto named = model->named_parameters(/*recurse=*/true);
  EXPECT_EQ(gradients.size(), named.size()) << "gradients() is not one tensor per parameter";
  for (size_t p = 0; p < std::min(gradients.size(), named.size()); ++p) {
    EXPECT_EQ(gradients[p].sizes(), named[p].value().sizes()) << named[p].key();
    const torch::Tensor flat = gradients[p].detach().to(torch::kFloat64).reshape({-1});
    out.names.push_back(named[p].key());
    out.strided.push_back(flat.slice(/*dim=*/0, /*start=*/0, /*end=*/flat.numel(), /*step=*/kStride));
    out.norms.push_back(flat.norm().item<double>());
  }
  return out;
}

// The fixture's gradient of `mode`, in the order of `names`.
std::vector<torch::Tensor> reference_gradient(const SafetensorsFile& file, const std::string& mode,
                                              const std::vector<std::string>& names) {
  std::vector<torch::Tensor> out;
  for (const auto& name : names) out.push_back(file.tensor("grad." + mode + "." + name).to(torch::kFloat64));
  return out;
}

double max_abs(const std::vector<torch::Tensor>& tensors) {
  double m = 0;
  for (const auto& t : tensors) m = std::max(m, t.abs().max().item<double>());
  return m;
}

double max_abs_difference(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double m = 0;
  for (size_t p = 0; p < a.size(); ++p) m = std::max(m, (a[p] - b[p]).abs().max().item<double>());
  return m;
}

class PpoLossReference : public ::testing::TestWithParam<std::tuple<size_t, int64_t>> {
 protected:
  SafetensorsFile file_{kReference};
  std::vector<RolloutSample> samples_ = fixture_samples(file_);
};

// Each mode, with the whole batch in one micro-batch and one sample per micro-batch.
TEST_P(PpoLossReference, GradientMatchesTransformers) {
  const Mode& mode = kModes[std::get<0>(GetParam())];
  const int64_t micro_batch_size = std::get<1>(GetParam());
  const Gradient gradient = deltarl_gradient(mode.mode, micro_batch_size, samples_);
  ASSERT_EQ(gradient.names.size(), 27u);  // every parameter of the untied model
  const std::vector<torch::Tensor> reference = reference_gradient(file_, mode.name, gradient.names);
  for (size_t p = 0; p < reference.size(); ++p) {
    ASSERT_EQ(gradient.strided[p].sizes(), reference[p].sizes()) << gradient.names[p];
  }
  const double scale = max_abs(reference);
  ASSERT_GT(scale, 1e-3) << "the reference gradient is ~0: the batch would test nothing";
  const double difference = max_abs_difference(gradient.strided, reference);
  std::cout << "[ " << mode.name << ", micro-batch " << micro_batch_size << " ] max|g_deltarl - g_ref| = "
            << difference << " = " << difference / scale << " of max|g_ref| = " << scale << "\n";
  EXPECT_LE(difference, kTolerance * scale);
  for (size_t p = 0; p < reference.size(); ++p) {
    const double norm = file_.tensor("grad_norm." + mode.name + "." + gradient.names[p]).item<double>();
    EXPECT_LE(std::abs(gradient.norms[p] - norm), kTolerance * std::max(norm, scale))
        << gradient.names[p] << ": ‖g‖ " << gradient.norms[p] << " vs the reference's " << norm;
  }
  const double loss = file_.tensor("loss." + mode.name).item<double>();
  EXPECT_NEAR(gradient.result.loss, loss, kTolerance * std::abs(loss)) << "J";

  // The batch exercises the clip: the script counted each token's regime.
  const torch::Tensor regimes = file_.tensor("regime_counts");  // unclipped, high, low, dual
  const double response_tokens = file_.tensor("response_lengths").sum().item<double>();
  EXPECT_EQ(gradient.result.tokens, response_tokens);
  EXPECT_GT(gradient.result.clipped_tokens, 0);
  EXPECT_GT(gradient.result.lower_clipped_tokens, 0);
  EXPECT_EQ(gradient.result.clipped_tokens, regimes[1].item<double>() + regimes[2].item<double>());
  EXPECT_EQ(gradient.result.lower_clipped_tokens, regimes[3].item<double>());
  EXPECT_GT(gradient.result.ratio_max, 3.0);
}

INSTANTIATE_TEST_SUITE_P(ModesAndMicroBatches, PpoLossReference,
                         ::testing::Combine(::testing::Values(size_t{0}, size_t{1}, size_t{2}),
                                            ::testing::Values(int64_t{16}, int64_t{1})),
                         [](const auto& info) {
                           return kModes[std::get<0>(info.param)].name + "_micro_batch_" +
                                  std::to_string(std::get<1>(info.param));
                         });

// The three weightings give gradients far apart next to the tolerance, so the
// comparison above tells them apart: deltarl's gradient in one mode fails it
// against the reference of every other.
TEST(PpoLossReferenceModes, GradientsOfTheModesDifferFarBeyondTheTolerance) {
  const SafetensorsFile file(kReference);
  const std::vector<RolloutSample> samples = fixture_samples(file);
  std::vector<Gradient> gradients;
  for (const auto& mode : kModes) gradients.push_back(deltarl_gradient(mode.mode, /*micro_batch_size=*/16, samples));
  for (size_t a = 0; a < kModes.size(); ++a) {
    for (size_t b = a + 1; b < kModes.size(); ++b) {
      const auto reference_a = reference_gradient(file, kModes[a].name, gradients[a].names);
      const auto reference_b = reference_gradient(file, kModes[b].name, gradients[b].names);
      const double scale = std::max(max_abs(reference_a), max_abs(reference_b));
      const double apart = max_abs_difference(reference_a, reference_b);
      std::cout << "max|g_" << kModes[a].name << " - g_" << kModes[b].name << "| = " << apart << " = "
                << apart / scale << " of the larger max|g|\n";
      EXPECT_GE(apart, kSeparation * kTolerance * scale) << kModes[a].name << " vs " << kModes[b].name;
      EXPECT_GT(max_abs_difference(gradients[a].strided, reference_b), kTolerance * max_abs(reference_b));
      EXPECT_GT(max_abs_difference(gradients[b].strided, reference_a), kTolerance * max_abs(reference_a));
    }
  }
}

}  // namespace
}  // namespace deltarl
