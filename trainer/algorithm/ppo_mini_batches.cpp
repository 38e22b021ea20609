#include "trainer/algorithm/ppo_mini_batches.h"

#include <algorithm>
#include <random>

namespace deltarl {

namespace {

// One 64-bit seed from (seed, step, epoch): SplitMix64 steps, so nearby steps
// and epochs give unrelated shuffles.
uint64_t mix(uint64_t state, uint64_t value) {
  uint64_t z = state + value + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

std::vector<std::vector<int64_t>> ppo_mini_batch_groups(int64_t num_groups, int64_t groups_per_mini_batch,
                                                        uint64_t seed, int64_t step, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(std::max<int64_t>(num_groups, 0)));
  for (size_t g = 0; g < order.size(); ++g) order[g] = static_cast<int64_t>(g);
  if (groups_per_mini_batch <= 0 || groups_per_mini_batch >= num_groups) return {order};
  // Fisher–Yates with mt19937_64's outputs (fully specified by the standard,
  // unlike std::shuffle and the distributions), so every platform and every
  // rank draws the same mini-batches.
  std::mt19937_64 random(mix(mix(mix(0, seed), static_cast<uint64_t>(step)), static_cast<uint64_t>(epoch)));
  for (size_t i = order.size() - 1; i > 0; --i) {
    std::swap(order[i], order[random() % (i + 1)]);
  }
  std::vector<std::vector<int64_t>> mini_batches;
  for (size_t begin = 0; begin < order.size(); begin += static_cast<size_t>(groups_per_mini_batch)) {
    const size_t end = std::min(order.size(), begin + static_cast<size_t>(groups_per_mini_batch));
    std::vector<int64_t>& groups = mini_batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(begin),
                                                             order.begin() + static_cast<std::ptrdiff_t>(end));
    std::sort(groups.begin(), groups.end());
  }
  return mini_batches;
}

std::vector<RolloutSample*> samples_of_groups(std::vector<RolloutSample>& samples, const std::vector<int64_t>& groups) {
  std::vector<RolloutSample*> selected;
  for (auto& sample : samples) {
    if (std::binary_search(groups.begin(), groups.end(), sample.group)) selected.push_back(&sample);
  }
  return selected;
}

}  // namespace deltarl
