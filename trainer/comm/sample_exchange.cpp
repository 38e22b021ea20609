#include "trainer/comm/sample_exchange.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <stdexcept>

#include <torch/torch.h>

namespace deltarl {

namespace {

// Samples travel as int64 words: 9 header words, then prompt ids, response
// ids and the log-probs' float bits.
constexpr int64_t kHeaderWords = 9;

int64_t bits_of(double value) {
  int64_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

double double_of(int64_t bits) {
  double value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

void pack(const RolloutSample& sample, std::vector<int64_t>& words) {
  if (sample.rollout_log_probs.size() != sample.response_ids.size()) {
    throw std::logic_error("a rollout sample needs one log-prob per response token");
  }
  words.insert(words.end(), {sample.group, sample.sample_index, static_cast<int64_t>(sample.prompt_ids.size()),
                             static_cast<int64_t>(sample.response_ids.size()), bits_of(sample.reward),
                             sample.correct, sample.truncated, sample.policy_version, 0});
  words.insert(words.end(), sample.prompt_ids.begin(), sample.prompt_ids.end());
  words.insert(words.end(), sample.response_ids.begin(), sample.response_ids.end());
  for (float log_prob : sample.rollout_log_probs) {
    uint32_t bits;
    std::memcpy(&bits, &log_prob, sizeof(bits));
    words.push_back(bits);
  }
}

size_t unpack(const int64_t* words, RolloutSample& sample) {
  sample.group = words[0];
  sample.sample_index = static_cast<int32_t>(words[1]);
  const int64_t prompt_length = words[2], response_length = words[3];
  sample.reward = double_of(words[4]);
  sample.correct = words[5] != 0;
  sample.truncated = words[6] != 0;
  sample.policy_version = words[7];
  const int64_t* cursor = words + kHeaderWords;
  sample.prompt_ids.assign(cursor, cursor + prompt_length);
  cursor += prompt_length;
  sample.response_ids.assign(cursor, cursor + response_length);
  cursor += response_length;
  sample.rollout_log_probs.resize(response_length);
  for (int64_t t = 0; t < response_length; ++t) {
    const auto bits = static_cast<uint32_t>(cursor[t]);
    std::memcpy(&sample.rollout_log_probs[t], &bits, sizeof(float));
  }
  return kHeaderWords + prompt_length + 2 * response_length;
}

bool canonical_less(const RolloutSample& a, const RolloutSample& b) {
  return a.group != b.group ? a.group < b.group : a.sample_index < b.sample_index;
}

}  // namespace

std::vector<int> assign_samples_to_ranks(const std::vector<RolloutSample>& samples, int world_size) {
  std::vector<size_t> by_length(samples.size());
  std::iota(by_length.begin(), by_length.end(), size_t{0});
  std::stable_sort(by_length.begin(), by_length.end(),
                   [&](size_t a, size_t b) { return samples[a].tokens() > samples[b].tokens(); });
  std::vector<int64_t> load(world_size, 0);
  std::vector<int> rank_of(samples.size(), 0);
  for (size_t index : by_length) {
    const int rank = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    rank_of[index] = rank;
    load[rank] += samples[index].tokens();
  }
  return rank_of;
}

ExchangedSamples exchange_samples(Communicator& host, const std::vector<RolloutSample>& local) {
  std::vector<int64_t> words;
  for (const auto& sample : local) pack(sample, words);
  torch::Tensor size = torch::tensor({static_cast<int64_t>(words.size())}, torch::kInt64);
  const torch::Tensor sizes = host.all_gather(size).reshape({-1});  // (world,)
  const int64_t longest = sizes.max().item<int64_t>();
  torch::Tensor packed = torch::zeros({std::max<int64_t>(longest, 1)}, torch::kInt64);
  std::copy(words.begin(), words.end(), packed.data_ptr<int64_t>());
  const torch::Tensor gathered = host.all_gather(packed).contiguous();  // (world, longest)

  ExchangedSamples result;
  for (int rank = 0; rank < host.world_size(); ++rank) {
    const int64_t* row = gathered[rank].data_ptr<int64_t>();
    const int64_t row_words = sizes[rank].item<int64_t>();
    for (int64_t offset = 0; offset < row_words;) {
      RolloutSample sample;
      offset += static_cast<int64_t>(unpack(row + offset, sample));
      result.all.push_back(std::move(sample));
    }
  }
  std::sort(result.all.begin(), result.all.end(), canonical_less);
  const std::vector<int> rank_of = assign_samples_to_ranks(result.all, host.world_size());
  for (size_t i = 0; i < result.all.size(); ++i) {
    if (rank_of[i] == host.rank()) result.mine.push_back(result.all[i]);
  }
  return result;
}

}  // namespace deltarl
