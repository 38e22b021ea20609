// LengthDistribution: response lengths for synthetic gradient studies, parsed from
// a short spec so the CLI can take it as one flag:
//
//   uniform:LO..HI          integers in [LO, HI], uniformly (default uniform:32..1024)
//   lognormal:MEDIAN,SIGMA  round(MEDIAN · e^(SIGMA·z)), at least 1: RLVR's long right tail
//   fixed:L1,L2,...         these lengths in order, cycled
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace deltarl {

class LengthDistribution {
 public:
  // Throws InputError naming the spec and what is wrong with it.
  static LengthDistribution parse(const std::string& spec);

  // `count` lengths, each ≥ 1.
  std::vector<int64_t> draw(int64_t count, std::mt19937_64& generator) const;

  const std::string& spec() const { return spec_; }

 private:
  enum class Kind { kUniform, kLogNormal, kFixed };
  Kind kind_ = Kind::kUniform;
  std::string spec_;
  int64_t low_ = 1, high_ = 1;           // uniform
  double median_ = 1, sigma_ = 0;        // lognormal
  std::vector<int64_t> fixed_;           // fixed
};

}  // namespace deltarl
