// Synthetic CountDown problems that are solvable by construction: draw the
// numbers, build a random expression over all of them (random order, operators
// and bracketing), and make its value the target when it is a whole number in
// range. Each problem carries that solution, checked by the verifier, so a
// model can be warm-started with SFT. Deterministic for a seed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tasks/countdown_verifier.h"

namespace deltarl {

struct CountdownGeneratorOptions {
  int64_t count = 1000;
  int64_t min_numbers = 3, max_numbers = 4;  // how many numbers per problem
  int64_t max_number = 99;                   // numbers drawn from [1, max_number]
  int64_t max_target = 0;                    // targets in [1, max_target]; 0: 10 * max_number
  uint64_t seed = 0;
  void validate() const;  // InputError naming the option
};

struct CountdownExample {
  CountdownProblem problem;
  std::string solution;  // an equation the verifier scores as correct
};

std::vector<CountdownExample> generate_countdown_problems(const CountdownGeneratorOptions& options);

}  // namespace deltarl
