// Note [Group-global weights], proven: a fixed tiny LibTorch model and a fixed
// batch (variable lengths, every group split across ranks, uneven shards, one
// rank possibly empty) give the same summed gradient at 1, 2 and 4 MPI ranks and
// with micro-batch sizes 1, 3 and whole, for every aggregation mode. The
// reference is computed on each rank in one process, sample by sample, with no
// communication at all.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <functional>
#include <numeric>
#include <random>

#include "trainer/algorithm/advantage.h"
#include "trainer/algorithm/loss_aggregation.h"
#include "trainer/comm/mpi_communicator.h"
#include "trainer/comm/single_process_communicator.h"

namespace deltarl {
namespace {

constexpr int64_t kVocab = 11;
constexpr int64_t kNumGroups = 6;
constexpr int64_t kGroupSize = 4;
constexpr int64_t kMaxLength = 13;

struct Sample {
  int64_t group = 0;
  double reward = 0;
  std::vector<int64_t> tokens;  // length + 1: predict tokens[t+1] from tokens[t]
  int64_t length() const { return static_cast<int64_t>(tokens.size()) - 1; }
};

struct TinyPolicyImpl : torch::nn::Module {
  TinyPolicyImpl()
      : embedding(register_module("embedding", torch::nn::Embedding(kVocab, 6))),
        hidden(register_module("hidden", torch::nn::Linear(6, 8))),
        head(register_module("head", torch::nn::Linear(8, kVocab))) {}
  torch::Tensor forward(const torch::Tensor& tokens) {  // (batch, seq) → (batch, seq, vocab)
    return head(torch::tanh(hidden(embedding(tokens))));
  }
  torch::nn::Embedding embedding;
  torch::nn::Linear hidden, head;
};
TORCH_MODULE(TinyPolicy);

// The same batch on every rank: lengths 1..13, rewards 0/1, fixed seed.
std::vector<Sample> fixed_batch() {
  std::mt19937_64 generator(2024);
  std::uniform_int_distribution<int64_t> length(1, kMaxLength), token(0, kVocab - 1), coin(0, 1);
  std::vector<Sample> batch;
  for (int64_t g = 0; g < kNumGroups; ++g) {
    for (int64_t i = 0; i < kGroupSize; ++i) {
      Sample sample;
      sample.group = g;
      sample.reward = static_cast<double>(coin(generator));
      sample.tokens.resize(static_cast<size_t>(length(generator) + 1));
      for (auto& t : sample.tokens) t = token(generator);
      batch.push_back(sample);
    }
  }
  return batch;
}

// This rank's samples: a fixed shuffle (so groups are split across ranks), cut
// into uneven shards; at 4 ranks rank 0 holds none at all.
std::vector<Sample> shard(const std::vector<Sample>& batch, int rank, int world) {
  std::vector<size_t> order(batch.size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(99));
  std::vector<size_t> sizes;
  if (world == 2) {
    sizes = {9, 15};
  } else if (world == 4) {
    sizes = {0, 5, 8, 11};
  } else {
    for (int r = 0; r < world; ++r) sizes.push_back(batch.size() / world + (r < int(batch.size() % world)));
  }
  const size_t begin = std::accumulate(sizes.begin(), sizes.begin() + rank, size_t{0});
  std::vector<Sample> mine;
  for (size_t k = begin; k < begin + sizes[static_cast<size_t>(rank)]; ++k) mine.push_back(batch[order[k]]);
  return mine;
}

TinyPolicy make_policy() {
  torch::manual_seed(0);
  return TinyPolicy();
}

// Per-token loss ℓ_{i,t} = -A_i · log π(tokens[t+1] | tokens[t]); micro-batches
// are padded and masked, as a real trainer does.
torch::Tensor micro_batch_loss(TinyPolicy& policy, const std::vector<const Sample*>& samples,
                               const std::vector<double>& weights,
                               const std::vector<double>& advantages) {
  const int64_t batch = static_cast<int64_t>(samples.size());
  int64_t longest = 0;
  for (const auto* s : samples) longest = std::max(longest, s->length());
  torch::Tensor tokens = torch::zeros({batch, longest + 1}, torch::kInt64);  // (batch, seq+1)
  torch::Tensor mask = torch::zeros({batch, longest});                      // (batch, seq)
  for (int64_t b = 0; b < batch; ++b) {
    const auto& sample = *samples[static_cast<size_t>(b)];
    tokens[b].narrow(0, 0, sample.length() + 1).copy_(torch::tensor(sample.tokens));
    mask[b].narrow(0, 0, sample.length()).fill_(1.0);
  }
  torch::Tensor inputs = tokens.narrow(1, 0, longest);
  torch::Tensor targets = tokens.narrow(1, 1, longest);
  torch::Tensor log_probs = torch::log_softmax(policy(inputs), /*dim=*/-1)
                                .gather(/*dim=*/-1, targets.unsqueeze(-1))
                                .squeeze(-1);  // (batch, seq)
  torch::Tensor advantage = torch::tensor(advantages, torch::kFloat64).to(torch::kFloat32).unsqueeze(1);
  torch::Tensor per_sample = (-advantage * log_probs * mask).sum(/*dim=*/1);  // (batch,)
  return (torch::tensor(weights, torch::kFloat64).to(torch::kFloat32) * per_sample).sum();
}

torch::Tensor flat_gradient(TinyPolicy& policy) {
  std::vector<torch::Tensor> grads;
  for (auto& p : policy->parameters()) grads.push_back(p.grad().reshape({-1}));
  return torch::cat(grads);
}

struct ModeCase {
  const char* name;
  AggregationConfig config;
};

std::vector<ModeCase> all_modes() {
  auto make = [](AggregationMode mode, double alpha, DeltaLScope scope) {
    AggregationConfig config;
    config.mode = mode;
    config.alpha = alpha;
    config.scope = scope;
    config.max_response_length = kMaxLength;
    return config;
  };
  return {
      {"grpo", make(AggregationMode::kSeqMeanTokenMean, 1, DeltaLScope::kGroup)},
      {"dapo", make(AggregationMode::kTokenMean, 1, DeltaLScope::kGroup)},
      {"dr_grpo", make(AggregationMode::kSeqMeanTokenSumNorm, 1, DeltaLScope::kGroup)},
      {"seq_mean_token_sum", make(AggregationMode::kSeqMeanTokenSum, 1, DeltaLScope::kGroup)},
      {"delta_l_a1_group", make(AggregationMode::kDeltaL, 1.0, DeltaLScope::kGroup)},
      {"delta_l_a05_group", make(AggregationMode::kDeltaL, 0.5, DeltaLScope::kGroup)},
      {"delta_l_a1_batch", make(AggregationMode::kDeltaL, 1.0, DeltaLScope::kBatch)},
  };
}

using WeightFunction = std::function<double(const StepStatistics&, const Sample&)>;

// The distributed step: local statistics → ONE all-reduce → weights and
// advantages → micro-batched backward → gradient all-reduce (SUM).
torch::Tensor distributed_gradient(const WeightFunction& weight_of, double alpha,
                                   Communicator& communicator, const std::vector<Sample>& local,
                                   size_t micro_batch_size) {
  TinyPolicy policy = make_policy();
  StepStatistics stats(kNumGroups, alpha);
  for (const auto& s : local) stats.add_sample(s.group, s.length(), s.reward);
  stats.all_reduce(communicator);

  for (auto& p : policy->parameters()) p.mutable_grad() = torch::zeros_like(p);
  for (size_t begin = 0; begin < local.size(); begin += micro_batch_size) {
    const size_t end = std::min(local.size(), begin + micro_batch_size);
    std::vector<const Sample*> micro;
    std::vector<double> weights, advantages;
    for (size_t i = begin; i < end; ++i) {
      micro.push_back(&local[i]);
      weights.push_back(weight_of(stats, local[i]));
      advantages.push_back(sample_advantage(AdvantageEstimator::kGrpo, stats, local[i].group, local[i].reward));
    }
    micro_batch_loss(policy, micro, weights, advantages).backward();
  }
  std::vector<torch::Tensor> grads;
  for (auto& p : policy->parameters()) grads.push_back(p.grad());
  communicator.all_reduce_sum(grads, /*bucket_bytes=*/256);  // small buckets: exercise bucketing
  return flat_gradient(policy);
}

WeightFunction weights_of_mode(const AggregationConfig& config) {
  return [config](const StepStatistics& stats, const Sample& s) {
    return sample_weight(config, stats, s.group, s.length());
  };
}

// One process, the whole batch, sample by sample, unpadded.
torch::Tensor reference_gradient(const AggregationConfig& config, const std::vector<Sample>& batch) {
  TinyPolicy policy = make_policy();
  SingleProcessCommunicator communicator;
  StepStatistics stats(kNumGroups, config.alpha);
  for (const auto& s : batch) stats.add_sample(s.group, s.length(), s.reward);
  stats.all_reduce(communicator);
  torch::Tensor loss = torch::zeros({});
  for (const auto& s : batch) {
    loss = loss + micro_batch_loss(policy, {&s}, {sample_weight(config, stats, s.group, s.length())},
                                   {sample_advantage(AdvantageEstimator::kGrpo, stats, s.group, s.reward)});
  }
  loss.backward();
  return flat_gradient(policy);
}

double relative_error(const torch::Tensor& actual, const torch::Tensor& expected) {
  return (actual - expected).norm().item<double>() / expected.norm().item<double>();
}

class AggregationInvarianceTest : public ::testing::TestWithParam<size_t> {
 protected:
  MpiCommunicator communicator_;
};

TEST_P(AggregationInvarianceTest, SummedGradientIsIndependentOfRanksAndMicroBatches) {
  const size_t requested = GetParam();
  const auto batch = fixed_batch();
  const auto local = shard(batch, communicator_.rank(), communicator_.world_size());
  const size_t micro_batch_size = requested == 0 ? std::max<size_t>(1, local.size()) : requested;
  for (const auto& mode : all_modes()) {
    const torch::Tensor expected = reference_gradient(mode.config, batch);
    ASSERT_GT(expected.norm().item<double>(), 0.0);
    const torch::Tensor actual = distributed_gradient(weights_of_mode(mode.config), mode.config.alpha,
                                                      communicator_, local, micro_batch_size);
    EXPECT_LE(relative_error(actual, expected), 1e-5)
        << mode.name << ", " << communicator_.world_size() << " ranks, micro-batch " << micro_batch_size
        << ", rank " << communicator_.rank() << " holds " << local.size() << " samples";
  }
}

INSTANTIATE_TEST_SUITE_P(MicroBatchSizes, AggregationInvarianceTest,
                         ::testing::Values(size_t{1}, size_t{3}, size_t{0} /* whole */),
                         [](const auto& info) {
                           return info.param == 0 ? std::string("whole")
                                                  : "micro_batch_" + std::to_string(info.param);
                         });

// The test above can fail: normalizing by rank-local token totals (the kind of
// bug verl and TRL shipped) changes the gradient once samples are split across ranks.
TEST(AggregationInvarianceSensitivity, RankLocalTokenTotalsBreakInvariance) {
  MpiCommunicator communicator;
  if (communicator.world_size() == 1) GTEST_SKIP() << "needs 2 or more ranks";
  const auto batch = fixed_batch();
  const auto local = shard(batch, communicator.rank(), communicator.world_size());
  AggregationConfig dapo = all_modes()[1].config;
  double local_tokens = 0;
  for (const auto& s : local) local_tokens += static_cast<double>(s.length());
  const WeightFunction rank_local = [local_tokens](const StepStatistics&, const Sample&) {
    return 1.0 / local_tokens;
  };
  const torch::Tensor wrong = distributed_gradient(rank_local, 1.0, communicator, local,
                                                   std::max<size_t>(1, local.size()));
  EXPECT_GT(relative_error(wrong, reference_gradient(dapo, batch)), 1e-2);
}

}  // namespace
}  // namespace deltarl
