#include "core/tasks/synthetic_generator.h"

#include <algorithm>
#include <random>
#include <string>

#include "core/input_error.h"

namespace deltarl {

void SyntheticGeneratorOptions::validate() const {
  if (count < 1) throw InputError("--count must be >= 1");
  if (targets_per_prompt < 1 || targets_per_prompt > static_cast<int64_t>(kSyntheticSymbols.size())) {
    throw InputError("--targets must be in [1, " + std::to_string(kSyntheticSymbols.size()) + "], got " +
                     std::to_string(targets_per_prompt));
  }
}

std::vector<SyntheticProblem> generate_synthetic_problems(const SyntheticGeneratorOptions& options) {
  options.validate();
  std::mt19937_64 random(options.seed);
  std::vector<SyntheticProblem> problems;
  problems.reserve(static_cast<size_t>(options.count));
  std::vector<size_t> order(kSyntheticSymbols.size());
  for (int64_t p = 0; p < options.count; ++p) {
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    // Partial Fisher-Yates; the modulo's bias (< 2^-58) does not matter here.
    const auto picks = static_cast<size_t>(options.targets_per_prompt);
    for (size_t i = 0; i < picks; ++i) {
      const size_t j = i + static_cast<size_t>(random() % (order.size() - i));
      std::swap(order[i], order[j]);
    }
    std::sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(picks));
    SyntheticProblem problem;
    for (size_t i = 0; i < picks; ++i) problem.targets.emplace_back(1, kSyntheticSymbols[order[i]]);
    problems.push_back(std::move(problem));
  }
  return problems;
}

}  // namespace deltarl
