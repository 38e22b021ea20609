#include "trainer/prompts/prompt_sampler.h"

#include <numeric>
#include <random>
#include <stdexcept>

namespace deltarl {

uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b) {
  auto splitmix = [](uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
  };
  return splitmix(splitmix(splitmix(seed) ^ a) ^ b);
}

PromptSampler::PromptSampler(uint64_t dataset_size, uint64_t seed, bool shuffle)
    : dataset_size_(dataset_size), seed_(seed), shuffle_(shuffle) {
  if (dataset_size == 0) throw std::invalid_argument("PromptSampler needs at least one prompt");
}

const std::vector<uint64_t>& PromptSampler::order_of_epoch(uint64_t epoch) {
  if (epoch == cached_epoch_) return cached_order_;
  cached_order_.resize(dataset_size_);
  std::iota(cached_order_.begin(), cached_order_.end(), uint64_t{0});
  if (shuffle_) {
    // Fisher-Yates with our own bounded draw: std::shuffle and the std
    // distributions differ between standard libraries, mt19937_64 does not.
    std::mt19937_64 engine(mix_seed(seed_, epoch, /*b=*/0x5eed));
    for (uint64_t i = dataset_size_ - 1; i > 0; --i) {
      const uint64_t bound = i + 1;
      const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
      uint64_t x;
      do x = engine(); while (x >= limit);
      std::swap(cached_order_[i], cached_order_[x % bound]);
    }
  }
  cached_epoch_ = epoch;
  return cached_order_;
}

std::vector<uint64_t> PromptSampler::draw(uint64_t count) {
  std::vector<uint64_t> indices;
  indices.reserve(count);
  for (uint64_t k = 0; k < count; ++k, ++cursor_) {
    indices.push_back(order_of_epoch(cursor_ / dataset_size_)[cursor_ % dataset_size_]);
  }
  return indices;
}

}  // namespace deltarl
