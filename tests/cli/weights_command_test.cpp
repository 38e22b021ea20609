#include "cli/weights_command.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

namespace deltarl {
namespace {

struct Result {
  Status status;
  std::string output;
};

Result run(const std::string& input, WeightsOptions options = {}) {
  std::istringstream in(input);
  std::ostringstream out;
  Status status = compute_weights(options, in, "samples.jsonl", out);
  return {status, out.str()};
}

void expect_error(const Result& result, const std::string& fragment) {
  EXPECT_EQ(result.status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(result.status.message().find(fragment), std::string::npos) << result.status.message();
  EXPECT_EQ(result.output, "") << "nothing is written when any line is bad";
}

TEST(WeightsCommand, AddsWeightKeepingFieldsAndOrder) {
  WeightsOptions options;
  options.max_response_length = 100;
  const auto result = run(
      "{\"id\":\"a\",\"group\":\"p1\",\"length\":10}\n{\"id\":\"b\",\"group\":\"p1\",\"length\":40}\n"
      "{\"id\":\"c\",\"group\":7,\"length\":20}\n{\"id\":\"d\",\"group\":7,\"length\":20}\n",
      options);
  ASSERT_TRUE(result.status.ok()) << result.status.to_string();
  std::istringstream lines(result.output);
  std::string line;
  std::vector<double> weights;
  while (std::getline(lines, line)) {
    auto json = nlohmann::ordered_json::parse(line);
    EXPECT_EQ(json.begin().key(), "id");
    weights.push_back(json["weight"].get<double>());
  }
  ASSERT_EQ(weights.size(), 4u);
  EXPECT_NEAR(weights[0], 0.004, 1e-15);
  EXPECT_NEAR(weights[1], 0.001, 1e-15);
  EXPECT_NEAR(weights[2], 0.0025, 1e-15);
}

TEST(WeightsCommand, DefaultMIsTheLongestSample) {
  WeightsOptions options;
  options.mode = "seq-mean-token-sum-norm";
  const auto result = run("{\"group\":0,\"length\":10}\n{\"group\":1,\"length\":50}\n", options);
  ASSERT_TRUE(result.status.ok());
  EXPECT_NE(result.output.find("\"weight\":0.01"), std::string::npos) << result.output;  // 1/(2·50)
}

TEST(WeightsCommand, BadInputNamesLineAndField) {
  expect_error(run("{\"group\":0,\"length\":10}\n{\"group\":0,\"length\":\"10\"}\n"),
               "samples.jsonl:2: field \"length\" must be a number");
  expect_error(run("{\"group\":0,\"length\":-4}\n"), "samples.jsonl:1: field \"length\" is negative");
  expect_error(run("{\"group\":0,\"length\":0}\n"), "samples.jsonl:1: field \"length\" is 0");
  expect_error(run("{\"group\":0,\"length\":2.5}\n"), "must be an integer");
  expect_error(run("{\"length\":3}\n"), "samples.jsonl:1: missing field \"group\"");
  expect_error(run("{\"group\":[1],\"length\":3}\n"), "\"group\" must be an integer or a string");
  expect_error(run("{\"group\":0,\"length\":3}\nnot json\n"), "samples.jsonl:2: not valid JSON");
  expect_error(run(""), "no samples");
}

TEST(WeightsCommand, BadOptionsAreErrors) {
  WeightsOptions options;
  options.mode = "dapo";
  expect_error(run("{\"group\":0,\"length\":3}\n", options), "unknown aggregation mode \"dapo\"");
  options = WeightsOptions{};
  options.alpha = -1;
  expect_error(run("{\"group\":0,\"length\":3}\n", options), "alpha must be");
  options = WeightsOptions{};
  options.max_response_length = 0;
  expect_error(run("{\"group\":0,\"length\":3}\n", options), "M must be > 0");
  options = WeightsOptions{};
  options.scope = "everything";
  expect_error(run("{\"group\":0,\"length\":3}\n", options), "unknown delta-l scope");
}

}  // namespace
}  // namespace deltarl
