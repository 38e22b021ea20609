#include "trainer/gradstats/length_distribution.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/input_error.h"

namespace deltarl {
namespace {

TEST(LengthDistribution, UniformStaysInBoundsAndCoversThem) {
  std::mt19937_64 generator(3);
  const auto lengths = LengthDistribution::parse("uniform:5..9").draw(2000, generator);
  EXPECT_EQ(*std::min_element(lengths.begin(), lengths.end()), 5);
  EXPECT_EQ(*std::max_element(lengths.begin(), lengths.end()), 9);
}

TEST(LengthDistribution, FixedCyclesInOrder) {
  std::mt19937_64 generator(3);
  EXPECT_EQ(LengthDistribution::parse("fixed:3,1,4").draw(5, generator),
            (std::vector<int64_t>{3, 1, 4, 3, 1}));
}

TEST(LengthDistribution, LogNormalHasTheRequestedMedian) {
  std::mt19937_64 generator(3);
  auto lengths = LengthDistribution::parse("lognormal:200,0.7").draw(20001, generator);
  std::nth_element(lengths.begin(), lengths.begin() + 10000, lengths.end());
  EXPECT_NEAR(static_cast<double>(lengths[10000]), 200.0, 8.0);
  EXPECT_GE(*std::min_element(lengths.begin(), lengths.end()), 1);
}

TEST(LengthDistribution, BadSpecsNameTheSpec) {
  for (const char* spec : {"uniform", "uniform:9..5", "uniform:0..5", "uniform:a..5", "lognormal:1",
                           "lognormal:100,-1", "fixed:", "fixed:3,x", "fixed:2.5", "zipf:1"}) {
    try {
      LengthDistribution::parse(spec);
      FAIL() << spec;
    } catch (const InputError& error) {
      EXPECT_NE(std::string(error.what()).find(std::string("\"") + spec + "\""), std::string::npos)
          << error.what();
    }
  }
}

}  // namespace
}  // namespace deltarl
