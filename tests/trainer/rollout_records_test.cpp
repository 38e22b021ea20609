// Recorded rollouts (trainer/run/rollout_records.h): a written file reads back
// bit for bit, and every kind of bad input is refused with an error naming the
// file, the line and the field.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>

#include "core/file_system.h"
#include "tests/support/input_error_message.h"
#include "trainer/run/rollout_records.h"

namespace deltarl {
namespace {

using testing_support::input_error_message;

uint32_t bits_of(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

uint64_t bits_of(double value) {
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

RolloutSample make_sample(int64_t group, int32_t index, std::vector<float> log_probs, double reward) {
  RolloutSample sample;
  sample.group = group;
  sample.sample_index = index;
  sample.prompt_ids = {151644, 0, 7, static_cast<int32_t>(group)};
  for (size_t t = 0; t < log_probs.size(); ++t) sample.response_ids.push_back(static_cast<int32_t>(100 + t));
  sample.rollout_log_probs = std::move(log_probs);
  sample.reward = reward;
  sample.correct = reward > 0.5;
  sample.truncated = index % 2 == 1;
  sample.policy_version = 3 + group;
  return sample;
}

void expect_same(const RolloutSample& a, const RolloutSample& b) {
  EXPECT_EQ(a.group, b.group);
  EXPECT_EQ(a.sample_index, b.sample_index);
  EXPECT_EQ(a.prompt_ids, b.prompt_ids);
  EXPECT_EQ(a.response_ids, b.response_ids);
  ASSERT_EQ(a.rollout_log_probs.size(), b.rollout_log_probs.size());
  for (size_t t = 0; t < a.rollout_log_probs.size(); ++t) {
    EXPECT_EQ(bits_of(a.rollout_log_probs[t]), bits_of(b.rollout_log_probs[t]))
        << "log-prob " << t << ": " << a.rollout_log_probs[t] << " read back as " << b.rollout_log_probs[t];
  }
  EXPECT_EQ(bits_of(a.reward), bits_of(b.reward)) << a.reward << " read back as " << b.reward;
  EXPECT_EQ(a.correct, b.correct);
  EXPECT_EQ(a.truncated, b.truncated);
  EXPECT_EQ(a.policy_version, b.policy_version);
}

std::string write_text(const std::string& folder, const std::string& name, const std::string& text) {
  const std::string path = join_path(folder, name);
  std::ofstream(path) << text;
  return path;
}

TEST(RolloutRecords, RoundTripIsBitExact) {
  // Hard floats: the extremes, subnormals, signed zero, values whose shortest
  // text sits near a tie, and many random finite bit patterns.
  std::vector<float> hard = {0.0f, -0.0f, -1.0f, -0.1f, -1e-45f, -std::numeric_limits<float>::denorm_min(),
                             -std::numeric_limits<float>::min(), -std::numeric_limits<float>::max(),
                             -3.4028e38f, -16.635532f, -7.0e-8f, 1.5f};
  std::mt19937 random(7);
  std::vector<float> random_floats;
  while (random_floats.size() < 20000) {
    const uint32_t bits = random();
    float value;
    std::memcpy(&value, &bits, sizeof(value));
    if (std::isfinite(value)) random_floats.push_back(value);
  }
  std::vector<RolloutSample> samples = {
      make_sample(0, 0, hard, 1.0), make_sample(0, 1, {-2.5f}, 0.1), make_sample(1, 0, random_floats, -0.0),
      make_sample(1, 1, {-1e-30f, -0.333333343f}, 1.0 / 3.0), make_sample(2, 0, {-4.0f}, 5e-324)};
  const std::string folder = make_temporary_directory("rollout-records");
  const std::string path = join_path(folder, "step-4.jsonl");
  write_rollout_records(path, /*step=*/4, samples);
  const RolloutRecords records = read_rollout_records(path);
  EXPECT_EQ(records.step, 4);
  EXPECT_EQ(records.num_groups, 3);
  ASSERT_EQ(records.samples.size(), samples.size());
  for (size_t i = 0; i < samples.size(); ++i) expect_same(samples[i], records.samples[i]);
  remove_tree(folder);
}

TEST(RolloutRecords, SaveStepRolloutsMakesTheFolder) {
  const std::string run = join_path(make_temporary_directory("rollout-records"), "run");
  const std::string path = save_step_rollouts(run, /*step=*/12, {make_sample(0, 0, {-1.0f, -2.0f}, 1.0)});
  EXPECT_EQ(path, run + "/rollouts/step-12.jsonl");
  EXPECT_EQ(read_rollout_records(path).samples.size(), 1u);
  remove_tree(run);
}

TEST(RolloutRecords, WriterRefusesWhatTheReaderWould) {
  const std::string folder = make_temporary_directory("rollout-records");
  RolloutSample short_log_probs = make_sample(2, 5, {-1.0f, -2.0f}, 1.0);
  short_log_probs.rollout_log_probs.pop_back();
  EXPECT_NE(input_error_message([&] { write_rollout_records(join_path(folder, "a.jsonl"), 1, {short_log_probs}); })
                .find("step 1, group 2, sample 5 has 1 rollout log-probs for 2 response tokens"),
            std::string::npos);
  RolloutSample nan_reward = make_sample(0, 0, {-1.0f}, std::nan(""));
  EXPECT_NE(input_error_message([&] { write_rollout_records(join_path(folder, "b.jsonl"), 1, {nan_reward}); })
                .find("non-finite reward"),
            std::string::npos);
  EXPECT_FALSE(path_exists(join_path(folder, "a.jsonl")));  // atomic: nothing left behind
  remove_tree(folder);
}

// One valid line with `field` replaced by `value` (or removed when value is "").
std::string line_with(const std::string& field, const std::string& value, int64_t group = 0, int64_t index = 0) {
  const std::vector<std::pair<std::string, std::string>> fields = {
      {"step", "1"},        {"group", std::to_string(group)}, {"sample_index", std::to_string(index)},
      {"reward", "1.0"},    {"correct", "true"},             {"truncated", "false"},
      {"policy_version", "0"}, {"prompt_ids", "[1,2,3]"},     {"response_ids", "[4,5]"},
      {"rollout_log_probs", "[-0.5,-1.25]"}};
  std::string line = "{";
  for (const auto& [name, text] : fields) {
    const std::string shown = name == field ? value : text;
    if (shown.empty()) continue;
    if (line.size() > 1) line += ",";
    line += "\"" + name + "\":" + shown;
  }
  return line + "}\n";
}

TEST(RolloutRecords, EachMissingFieldIsNamed) {
  const std::string folder = make_temporary_directory("rollout-records");
  for (const char* field : {"step", "group", "sample_index", "prompt_ids", "response_ids", "rollout_log_probs",
                            "reward", "correct", "truncated", "policy_version"}) {
    const std::string path = write_text(folder, "missing.jsonl", line_with("group", "0") + line_with(field, "", 0, 1));
    const std::string message = input_error_message([&] { read_rollout_records(path); });
    EXPECT_NE(message.find(path + ":2: missing field \"" + field + "\""), std::string::npos) << message;
  }
  remove_tree(folder);
}

TEST(RolloutRecords, WrongTypesAndLengthsAreNamed) {
  const std::string folder = make_temporary_directory("rollout-records");
  struct Case {
    std::string field, value, expected;
  };
  const std::vector<Case> cases = {
      {"group", "\"0\"", ":1: field \"group\" must be an integer"},
      {"group", "-1", ":1: field \"group\" is -1, outside [0, "},
      {"step", "0", ":1: field \"step\" is 0, outside [1, "},
      {"sample_index", "1.5", ":1: field \"sample_index\" must be an integer"},
      {"reward", "\"high\"", ":1: field \"reward\" must be a finite number"},
      {"correct", "1", ":1: field \"correct\" must be true or false"},
      {"truncated", "\"no\"", ":1: field \"truncated\" must be true or false"},
      {"policy_version", "-2", ":1: field \"policy_version\" is -2"},
      {"prompt_ids", "[]", ":1: field \"prompt_ids\" must be a non-empty list of token ids"},
      {"prompt_ids", "\"1 2 3\"", ":1: field \"prompt_ids\" must be a non-empty list of token ids"},
      {"response_ids", "[]", ":1: field \"response_ids\" must be a non-empty list of token ids"},
      {"response_ids", "[4,-5]", ":1: field \"response_ids\" item 1 is -5, not a token id"},
      {"response_ids", "[4,5.5]", ":1: field \"response_ids\" item 1 is 5.5, not a token id"},
      {"rollout_log_probs", "[-0.5]", ":1: field \"rollout_log_probs\" has 1 values for 2 response_ids"},
      {"rollout_log_probs", "[-0.5,-1,-2]", ":1: field \"rollout_log_probs\" has 3 values for 2 response_ids"},
      {"rollout_log_probs", "[-0.5,\"x\"]", ":1: field \"rollout_log_probs\" item 1 is \"x\", not a finite float"},
      // Finite as a double, infinite as a float.
      {"rollout_log_probs", "[-0.5,-1e39]", ":1: field \"rollout_log_probs\" item 1 is -1e+39, not a finite float"},
      // Beyond double: JSON holds no infinity, and the parser names the line.
      {"reward", "1e999", ":1: "},
  };
  for (const Case& c : cases) {
    const std::string path = write_text(folder, "bad.jsonl", line_with(c.field, c.value));
    const std::string message = input_error_message([&] { read_rollout_records(path); });
    EXPECT_NE(message.find(path + c.expected), std::string::npos) << c.field << "=" << c.value << ": " << message;
  }
  remove_tree(folder);
}

TEST(RolloutRecords, StepsAndGroupsMustBeWhole) {
  const std::string folder = make_temporary_directory("rollout-records");
  auto message_for = [&](const std::string& text) {
    const std::string path = write_text(folder, "groups.jsonl", text);
    return input_error_message([&] { read_rollout_records(path); });
  };
  EXPECT_NE(message_for(line_with("step", "1") + line_with("step", "2", 1)).find(
                "groups.jsonl:2: field \"step\" is 2, but line 1 has step 1: a rollouts file holds one step's samples"),
            std::string::npos);
  EXPECT_NE(message_for(line_with("group", "0") + line_with("group", "2")).find(
                "groups.jsonl: group 1 has no samples, but group 2 does: groups must be numbered 0 .. G-1"),
            std::string::npos);
  EXPECT_NE(message_for(line_with("group", "1")).find("group 0 has no samples"), std::string::npos);
  EXPECT_NE(message_for(line_with("group", "0") + "\n" + line_with("group", "0")).find(
                "groups.jsonl:3: group 0 has sample_index 0 twice"),
            std::string::npos);
  EXPECT_NE(message_for("").find("groups.jsonl: no samples"), std::string::npos);
  EXPECT_NE(message_for("{\"step\":1,\n").find("groups.jsonl:1"), std::string::npos);
  EXPECT_NE(input_error_message([&] { read_rollout_records(join_path(folder, "absent.jsonl")); })
                .find("cannot open the rollouts file"),
            std::string::npos);
  // A valid two-group file, blank lines allowed, in any order.
  const std::string path = write_text(folder, "ok.jsonl", line_with("group", "1") + "\n" + line_with("group", "0"));
  const RolloutRecords records = read_rollout_records(path);
  EXPECT_EQ(records.num_groups, 2);
  EXPECT_EQ(records.samples.size(), 2u);
  remove_tree(folder);
}

}  // namespace
}  // namespace deltarl
