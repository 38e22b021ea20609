// Synthetic CountDown responses for supervised warm-starts, in the format the
// verifier and TinyZero expect: some failed attempts, the solution, then the
// answer block:
//
//   <think>3+5=8 8+7=15 no
//   7-3=4 4*5=20 no
//   3*5=15 15+7=22 yes</think>
//   <answer>3*5+7</answer>
//
// Attempts combine the numbers left to right, one binary step at a time, in
// whole numbers (a small model learns one operation per step far more easily
// than a whole expression). The number of failed attempts is drawn uniformly
// from [0, max_failed_attempts], so response lengths vary several-fold across a
// dataset, as RLVR responses do (the point of length-aware loss aggregation).
// The final attempt is a left-nested solution when one exists, else the
// generator's own solution, stated whole.
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "core/tasks/countdown_generator.h"

namespace deltarl {

std::string countdown_reasoning_response(const CountdownExample& example, int64_t max_failed_attempts,
                                         std::mt19937_64& random);

}  // namespace deltarl
