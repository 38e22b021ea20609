// Mutator: turns valid seed inputs into malformed ones, deterministically. The
// input of index i in a run is a pure function of (run seed, i, the seeds), so
// any input can be regenerated from its index: the harness writes out the one
// that failed without keeping the others.
//
// Mutations (one to four stacked per input): bit and byte flips, byte runs
// inserted, ranges deleted or duplicated, truncation, splicing two seeds,
// numbers replaced with extreme ones (1e30828, -1, 2^63, 2^64, NaN, ...),
// strings replaced with invalid UTF-8, huge or empty text, values replaced
// with ones of another type, deep nesting (balanced, so still valid JSON, and
// not), and tokens from the target's dictionary (its field names and keywords).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace deltarl::fuzz {

using Rng = std::mt19937_64;

// A stream of random numbers for input `index` of the run seeded with `run_seed`.
Rng input_rng(uint64_t run_seed, int64_t index);

class Mutator {
 public:
  // `seeds` must not be empty; `dictionary` may be.
  Mutator(std::vector<std::string> seeds, std::vector<std::string> dictionary, size_t max_input_bytes);

  // A seed chosen by `rng`, mutated 1-4 times.
  std::string mutate_seed(Rng& rng) const;
  // `input` mutated 1-4 times (for targets that frame their own inputs).
  std::string mutate(std::string input, Rng& rng) const;

  const std::vector<std::string>& seeds() const { return seeds_; }

 private:
  std::string mutate_once(std::string input, Rng& rng) const;

  std::vector<std::string> seeds_;
  std::vector<std::string> dictionary_;
  size_t max_input_bytes_;
};

// Numbers no valid input holds: beyond double, beyond int64 and uint64, signs,
// fractions where integers go, and texts JSON and YAML read as special values.
const std::vector<std::string>& extreme_numbers();

}  // namespace deltarl::fuzz
