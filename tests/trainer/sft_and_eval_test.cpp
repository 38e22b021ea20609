// Supervised fine-tuning learns its data (loss on responses only), and held-out
// evaluation scores what the model generates, the same in shards as whole, with
// the weights the model holds now whatever inference form it had before.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include <torch/torch.h>

#include "core/file_system.h"
#include "core/model/hf_checkpoint.h"
#include "core/model/preset_checkpoint.h"
#include "core/model/text_generator.h"
#include "core/preset_files.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/support/greedy_margin.h"
#include "tests/support/input_error_message.h"
#include "trainer/sft/supervised_finetuning.h"
#include "trainer/evaluation/task_evaluation.h"

namespace deltarl {
namespace {

std::string tiny_model(const std::string& folder) {
  write_preset_checkpoint("tiny", "", folder, /*seed=*/5);
  return folder;
}

TEST(SupervisedFinetuning, MemorizesResponsesAndStops) {
  const std::string work = make_temporary_directory("sft-test");
  const std::string data = join_path(work, "sft.jsonl");
  std::ofstream(data) << "{\"prompt\":\"numbers 1, 2, 3 target 6\\n\",\"response\":\"<answer>1+2+3</answer>\"}\n"
                      << "{\"prompt\":\"numbers 4, 5, 6 target 26\\n\",\"response\":\"<answer>4*5+6</answer>\"}\n";
  SftOptions options;
  options.model_folder = tiny_model(join_path(work, "init"));
  options.data_path = data;
  options.out_folder = join_path(work, "out");
  options.epochs = 150;
  options.batch_size = 2;
  // At lr 1e-2 the run's end depended on the CPU's rounding (smallest margin
  // 2.2 to 6.8 by code path; one CPU decoded "4*5+3"); at 3e-3 every path ends
  // within 1e-4 of the same margins, 7.69 and 8.21.
  options.lr = 3e-3;
  double first_loss = -1;
  const SftResult result = run_supervised_finetuning(options, [&](const SftProgress& progress) {
    if (progress.step == 1) first_loss = progress.loss;
  });
  EXPECT_LT(result.final_loss, 0.05 * first_loss);
  // Greedy decoding now reproduces each response and then emits EOS.
  CausalLM model = load_pretrained(options.out_folder);
  const Tokenizer tokenizer = Tokenizer::from_file(join_path(options.out_folder, "tokenizer.json"));
  GenerationOptions generation;
  generation.sampling.temperature = 0;
  generation.max_new_tokens = 20;
  generation.stop_token_ids = model->config().eos_token_ids;
  constexpr double kMargin = 1.0;  // logits: ~1e4 times the spread across CPU paths
  for (const auto& [prompt, response] : {std::pair{"numbers 1, 2, 3 target 6\n", "<answer>1+2+3</answer>"},
                                         std::pair{"numbers 4, 5, 6 target 26\n", "<answer>4*5+6</answer>"}}) {
    const auto ids = tokenizer.encode(prompt);
    std::vector<int64_t> expected;
    for (int32_t id : tokenizer.encode(response)) expected.push_back(id);
    expected.push_back(model->config().eos_token_ids[0]);
    EXPECT_GT(testing_support::smallest_greedy_margin(model, std::vector<int64_t>(ids.begin(), ids.end()), expected), kMargin)
        << "the response is not memorized far above rounding: " << response;
    const auto generated = generate(model, {std::vector<int64_t>(ids.begin(), ids.end())}, {0}, generation);
    EXPECT_EQ(generated[0].finish_reason, "stop");
    std::vector<int32_t> tokens(generated[0].tokens.begin(), generated[0].tokens.end());
    EXPECT_EQ(tokenizer.decode(tokens, /*skip_special_tokens=*/true), response);
  }
  // Nothing is overwritten, and bad lines name the file and line.
  EXPECT_NE(testing_support::input_error_message([&] { run_supervised_finetuning(options); }).find("already exists"),
            std::string::npos);
  std::ofstream(data, std::ios::app) << "{\"prompt\":\"x\"}\n";
  options.out_folder = join_path(work, "out2");
  EXPECT_NE(testing_support::input_error_message([&] { run_supervised_finetuning(options); })
                .find("sft.jsonl:3: \"response\" must be a string"),
            std::string::npos);
  EXPECT_FALSE(path_exists(options.out_folder));
}

TEST(TaskEvaluation, ShardsAddUpToTheWhole) {
  const std::string work = make_temporary_directory("eval-test");
  CausalLM model = load_pretrained(tiny_model(join_path(work, "model")));
  const Tokenizer tokenizer = Tokenizer::from_file(join_path(work, "model/tokenizer.json"));
  const std::string data = join_path(work, "test.jsonl");
  {
    std::ofstream lines(data);
    for (int i = 1; i <= 7; ++i) lines << "{\"numbers\":[" << i << ",2,3],\"target\":" << i + 5 << "}\n";
  }
  EvaluationOptions options;
  options.prompts.prompt_template = "countdown-compact";
  options.prompts.format_reward = 0.25;  // random text never answers: every reward is 0 or 0.25
  options.samples_per_prompt = 3;
  options.temperature = 1.0;
  options.max_new_tokens = 12;
  options.batch_size = 4;
  const EvaluationResult whole = evaluate_task(model, tokenizer, data, options);
  EXPECT_EQ(whole.prompts, 7);
  EXPECT_EQ(whole.samples, 21);
  EXPECT_GE(whole.mean_length, 1.0);
  EXPECT_LE(whole.mean_length, 12.0);
  const PromptDataset dataset(data, tokenizer, options.prompts);
  EvaluationTotals sum;
  for (int64_t shard = 0; shard < 3; ++shard) {
    options.shard_index = shard;
    options.shard_count = 3;
    const EvaluationTotals part = evaluate_task_totals(model, tokenizer, dataset, data, options);
    sum.prompts += part.prompts;
    sum.samples += part.samples;
    sum.correct += part.correct;
    sum.length += part.length;
    sum.reward += part.reward;
  }
  EXPECT_EQ(sum.prompts, 7);
  EXPECT_EQ(sum.samples, 21);
  // Same seeds per (prompt, sample), whatever the shard and batch: same lengths.
  EXPECT_DOUBLE_EQ(sum.length / 21, whole.mean_length);
  EXPECT_DOUBLE_EQ(sum.reward / 21, whole.mean_reward);
}

// Greedy evaluation options over a small CountDown file of 7 prompts.
EvaluationOptions greedy_evaluation() {
  EvaluationOptions options;
  options.prompts.prompt_template = "countdown-compact";
  options.temperature = 0;
  options.max_new_tokens = 12;
  options.batch_size = 4;
  return options;
}

// Tied embeddings that make EOS the greedy choice at every position: column 0
// is 1 in every row and 100 in EOS's, so the final hidden state's column 0
// (about 10 after the norm, the layers adding ~0.05) gives EOS a logit near
// 1000 and every other token one near 10.
torch::Tensor eos_first_embeddings(CausalLM& model) {
  torch::Tensor embeddings = model->model->embed_tokens->weight.detach().clone();
  embeddings.select(/*dim=*/1, /*index=*/0).fill_(1.0);
  embeddings[model->config().eos_token_ids.at(0)][0] = 100.0;
  return embeddings;
}

TEST(TaskEvaluation, UsesTheWeightsTheModelHoldsNow) {
  const std::string work = make_temporary_directory("eval-current-weights-test");
  const std::string folder = tiny_model(join_path(work, "model"));
  CausalLM model = load_pretrained(folder);
  ASSERT_TRUE(model->config().tie_word_embeddings);
  const Tokenizer tokenizer = Tokenizer::from_file(join_path(folder, "tokenizer.json"));
  const std::string data = join_path(work, "test.jsonl");
  {
    std::ofstream lines(data);
    for (int i = 1; i <= 7; ++i) lines << "{\"numbers\":[" << i << ",2,3],\"target\":" << i + 5 << "}\n";
  }
  const EvaluationOptions options = greedy_evaluation();
  const PromptDataset dataset(data, tokenizer, options.prompts);
  const EvaluationTotals initial = evaluate_task_totals(model, tokenizer, dataset, data, options);
  ASSERT_GT(initial.length, initial.samples) << "the initial weights should not stop at once";
  torch::Tensor& embeddings = model->model->embed_tokens->weight;
  const torch::Tensor initial_embeddings = embeddings.detach().clone();
  const torch::Tensor eos_first = eos_first_embeddings(model);

  // A write past the version counters (as a weight upload writes) into a model
  // whose products were packed: packs are copies and still hold the old
  // weights, so evaluation must prepare its form itself to see the new ones.
  // (Without AVX-512F nothing packs and the fused form reads the parameters.)
  model->prepare_inference(LinearForm::kPacked);
  std::memcpy(embeddings.data_ptr(), eos_first.data_ptr(), eos_first.numel() * eos_first.element_size());
  const EvaluationTotals uploaded = evaluate_task_totals(model, tokenizer, dataset, data, options);
  EXPECT_EQ(uploaded.length, uploaded.samples) << "every sample must be EOS alone";

  // An optimizer step back to the initial weights (up to rounding), seen by
  // the version counters: evaluation then gives what a fresh model holding the
  // stepped weights gives.
  model->prepare_inference(LinearForm::kPacked);
  torch::optim::SGD optimizer({embeddings}, torch::optim::SGDOptions(/*lr=*/1.0));
  embeddings.mutable_grad() = eos_first - initial_embeddings;
  optimizer.step();
  const EvaluationTotals stepped = evaluate_task_totals(model, tokenizer, dataset, data, options);
  CausalLM fresh = load_pretrained(folder);
  {
    torch::NoGradGuard no_grad;
    fresh->model->embed_tokens->weight.copy_(embeddings);
  }
  const EvaluationTotals expected = evaluate_task_totals(fresh, tokenizer, dataset, data, options);
  EXPECT_GT(stepped.length, stepped.samples) << "the step should have moved EOS back below the other tokens";
  EXPECT_EQ(stepped.length, expected.length);
  EXPECT_EQ(stepped.reward, expected.reward);
  EXPECT_EQ(stepped.truncated, expected.truncated);
}

}  // namespace
}  // namespace deltarl
