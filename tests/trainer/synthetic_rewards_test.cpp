// The synthetic test task does what it is for: a RANDOM tiny model, set up as
// the end-to-end training tests set it up (tests/trainer/training/common.sh:
// `init-model --preset tiny --seed 7`, 16 new tokens at T = 1, 4 samples per
// prompt, the task's own template), earns mixed 0/1 rewards, so group
// advantages are non-zero. Generation is seeded, so the numbers are fixed for a
// code path; the bounds leave a wide margin for the rounding of other CPU paths
// (registered for each with deltarl_cpu_variants).
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/file_system.h"
#include "core/model/hf_checkpoint.h"
#include "core/model/preset_checkpoint.h"
#include "core/tasks/synthetic_generator.h"
#include "core/tokenizer/tokenizer.h"
#include "trainer/evaluation/task_evaluation.h"

namespace deltarl {
namespace {

TEST(SyntheticRewards, ARandomTinyModelEarnsMixedRewards) {
  const std::string work = make_temporary_directory("synthetic-rewards-test");
  const std::string model_folder = join_path(work, "model");
  write_preset_checkpoint("tiny", "", model_folder, /*seed=*/7);
  CausalLM model = load_pretrained(model_folder);
  const Tokenizer tokenizer = Tokenizer::from_file(join_path(model_folder, "tokenizer.json"));

  constexpr int64_t kPrompts = 32, kSamples = 4;
  SyntheticGeneratorOptions generator;  // the default --targets, as `deltarl data synthetic` writes it
  generator.count = kPrompts;
  generator.seed = 3;
  const std::string data = join_path(work, "synthetic.jsonl");
  {
    std::ofstream lines(data);
    for (const auto& problem : generate_synthetic_problems(generator)) {
      lines << nlohmann::json{{"targets", problem.targets}}.dump() << "\n";
    }
  }
  EvaluationOptions options;
  options.prompts.task = "synthetic";  // prompt_template unset: the task's own
  options.samples_per_prompt = kSamples;
  options.temperature = 1.0;
  options.max_new_tokens = 16;
  options.seed = 1;
  const PromptDataset dataset(data, tokenizer, options.prompts);

  // One shard per prompt gives each group's count of rewarded samples; the
  // seeds are per (prompt, sample), so the samples are those of one whole pass.
  double rewarded = 0, samples = 0;
  int64_t mixed_groups = 0;
  options.shard_count = kPrompts;
  for (int64_t prompt = 0; prompt < kPrompts; ++prompt) {
    options.shard_index = prompt;
    const EvaluationTotals group = evaluate_task_totals(model, tokenizer, dataset, data, options);
    ASSERT_EQ(group.samples, kSamples);
    rewarded += group.reward;
    samples += group.samples;
    mixed_groups += group.reward > 0 && group.reward < kSamples;
  }
  const double reward_mean = rewarded / samples;
  const double mixed_fraction = static_cast<double>(mixed_groups) / kPrompts;
  std::cout << "reward mean " << reward_mean << ", mixed groups " << mixed_groups << " of " << kPrompts << "\n";
  // At a per-sample rate p, a group of 4 is mixed with probability 1 - p^4 - (1 - p)^4:
  // 0.875 at p = 0.5, 0.59 at p = 0.2 or 0.8.
  EXPECT_GT(reward_mean, 0.2);
  EXPECT_LT(reward_mean, 0.8);
  EXPECT_GE(mixed_fraction, 0.5);
}

}  // namespace
}  // namespace deltarl
