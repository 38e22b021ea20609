// Prompts of the synthetic TEST task (core/tasks/synthetic_verifier.h): each
// names `targets_per_prompt` distinct symbols drawn from kSyntheticSymbols, and
// a response is rewarded when it contains any of them. The count sets how
// often a random model is rewarded by chance: about 1 - (1 - K/380)^L for L new
// tokens of a random tiny preset model. Its default, 16, makes that model
// rewarded about half the time at L = 16, T = 1 (tests/trainer/training/common.sh's
// setting; measured, docs/configuration.md "The synthetic test task"); scale it
// for other settings. Deterministic for a seed, on every platform
// (only std::mt19937_64's standard sequence is used, no std distributions).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/tasks/synthetic_verifier.h"

namespace deltarl {

// Digits and capital letters: in the tiny presets' tokenizer each is (almost
// always) a token of its own, so a target's chance is about one token's.
inline constexpr std::string_view kSyntheticSymbols = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

struct SyntheticGeneratorOptions {
  int64_t count = 1000;
  int64_t targets_per_prompt = 16;  // in [1, kSyntheticSymbols.size()]
  uint64_t seed = 0;
  void validate() const;  // InputError naming the option
};

// `count` problems; the targets of each are in kSyntheticSymbols' order.
std::vector<SyntheticProblem> generate_synthetic_problems(const SyntheticGeneratorOptions& options);

}  // namespace deltarl
