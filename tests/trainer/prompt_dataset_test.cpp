#include "trainer/prompts/prompt_dataset.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/file_system.h"
#include "core/preset_files.h"
#include "tests/support/input_error_message.h"

namespace deltarl {
namespace {

using testing_support::input_error_message;

std::string write_lines(const std::string& text) {
  const std::string path = join_path(make_temporary_directory("dataset-test"), "data.jsonl");
  std::ofstream(path) << text;
  return path;
}

Tokenizer countdown_tokenizer() { return Tokenizer::from_file(countdown_tokenizer_path()); }

TEST(PromptDataset, RendersTemplatesAndPayloads) {
  const Tokenizer tokenizer = countdown_tokenizer();
  PromptDatasetOptions options;
  options.prompt_template = "countdown-compact";
  options.format_reward = 0.1;
  PromptDataset dataset(write_lines("{\"numbers\":[3,5,7],\"target\":22,\"solution\":\"3*5+7\"}\n"), tokenizer, options);
  ASSERT_EQ(dataset.size(), 1u);
  EXPECT_EQ(tokenizer.decode(dataset[0].token_ids), "numbers 3, 5, 7 target 22\n");
  EXPECT_EQ(dataset[0].task, "countdown");
  EXPECT_EQ(dataset[0].task_payload_json, "{\"numbers\":[3,5,7],\"target\":22,\"format_reward\":0.1}");

  options.prompt_template = "Q: {target} from {numbers}?";
  options.chat = true;
  PromptDataset chat(write_lines("{\"numbers\":[1,2],\"target\":3}\n"), tokenizer, options);
  EXPECT_EQ(tokenizer.decode(chat[0].token_ids),
            "<|im_start|>user\nQ: 3 from 1, 2?<|im_end|>\n<|im_start|>assistant\n");
  // The model's format: Qwen3's without thinking.
  options.chat_format = ChatFormat::of_family(ModelFamily::kQwen3);
  options.chat_format.thinking = false;
  PromptDataset qwen3(write_lines("{\"numbers\":[1,2],\"target\":3}\n"), tokenizer, options);
  EXPECT_EQ(tokenizer.decode(qwen3[0].token_ids),
            "<|im_start|>user\nQ: 3 from 1, 2?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");

  EXPECT_EQ(PromptDataset::render("math", "math", "{\"question\":\"1+1?\",\"answer\":2}", "x"),
            "1+1?\nPlease reason step by step, and put your final answer within \\boxed{}.");
}

// Llama: its header format, whose special tokens the Llama-3-style fixture
// tokenizer splits out, and <|begin_of_text|> first whether or not the prompt
// is a chat (transformers' Llama tokenizer adds it to plain text).
TEST(PromptDataset, LlamaPromptsBeginWithTheBosToken) {
  const Tokenizer tokenizer =
      Tokenizer::from_file(std::string(DELTARL_TEST_FIXTURES_DIR) + "/llama3-tokenizer/tokenizer.json");
  const int32_t bos = *tokenizer.token_to_id("<|begin_of_text|>");
  const int32_t header = *tokenizer.token_to_id("<|start_header_id|>");
  PromptDatasetOptions options;
  options.prompt_template = "Q: {target} from {numbers}?";
  options.bos_token_id = bos;
  const auto data = write_lines("{\"numbers\":[1,2],\"target\":3}\n");
  const PromptDataset plain(data, tokenizer, options);
  EXPECT_EQ(plain[0].token_ids.front(), bos);
  EXPECT_EQ(tokenizer.decode(plain[0].token_ids), "<|begin_of_text|>Q: 3 from 1, 2?");
  options.chat = true;
  options.chat_format = ChatFormat::of_family(ModelFamily::kLlama);
  const PromptDataset chat(data, tokenizer, options);
  ASSERT_GT(chat[0].token_ids.size(), 2u);
  EXPECT_EQ(chat[0].token_ids[0], bos);  // once: the format's own
  EXPECT_EQ(chat[0].token_ids[1], header);
  EXPECT_EQ(tokenizer.decode(chat[0].token_ids),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nQ: 3 from 1, 2?<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(PromptDataset, BadLinesNameFileLineAndField) {
  const Tokenizer tokenizer = countdown_tokenizer();
  PromptDatasetOptions options;
  const auto bad = write_lines("{\"numbers\":[1,2],\"target\":3}\n{\"numbers\":[1,2],\"target\":\"3\"}\n");
  EXPECT_NE(input_error_message([&] { PromptDataset(bad, tokenizer, options); })
                .find("data.jsonl:2: \"target\" must be an integer"),
            std::string::npos);
  options.task = "math";
  EXPECT_NE(input_error_message([&] { PromptDataset(bad, tokenizer, options); })
                .find("data.jsonl:1: needs a \"question\""),
            std::string::npos);
  options.task = "countdown";
  options.prompt_template = "{question}";
  EXPECT_NE(input_error_message([&] { PromptDataset(bad, tokenizer, options); }).find("uses {question}"),
            std::string::npos);
  options.prompt_template = "countdown";
  options.max_prompt_tokens = 5;
  EXPECT_NE(input_error_message([&] { PromptDataset(bad, tokenizer, options); })
                .find("more than the 5 the model's context leaves"),
            std::string::npos);
  EXPECT_NE(input_error_message([&] { PromptDataset(write_lines(""), tokenizer, PromptDatasetOptions{}); })
                .find("no prompts"),
            std::string::npos);
}

TEST(PromptDataset, AnUnsetTemplateIsTheTasksOwn) {
  const Tokenizer tokenizer = countdown_tokenizer();
  PromptDatasetOptions options;
  options.task = "synthetic";
  ASSERT_TRUE(options.prompt_template.empty());
  PromptDataset synthetic(write_lines("{\"targets\":[\"3\",\"K\"]}\n{\"targets\":[\"Q\"],\"note\":1}\n"), tokenizer,
                          options);
  ASSERT_EQ(synthetic.size(), 2u);
  EXPECT_EQ(tokenizer.decode(synthetic[0].token_ids), "Write one of these symbols: 3 K\n");
  EXPECT_EQ(synthetic[0].task, "synthetic");
  EXPECT_EQ(synthetic[0].task_payload_json, "{\"targets\":[\"3\",\"K\"]}");
  EXPECT_EQ(synthetic[1].task_payload_json, "{\"targets\":[\"Q\"]}");
  EXPECT_EQ(PromptDataset::render("", "synthetic", "{\"targets\":[\"7\"]}", "x"), "Write one of these symbols: 7\n");
  EXPECT_EQ(PromptDataset::render("", "math", "{\"question\":\"1+1?\",\"answer\":2}", "x"),
            PromptDataset::render("math", "math", "{\"question\":\"1+1?\",\"answer\":2}", "x"));
  EXPECT_EQ(PromptDataset::render("", "countdown", "{\"numbers\":[1,2],\"target\":3}", "x"),
            PromptDataset::render("countdown", "countdown", "{\"numbers\":[1,2],\"target\":3}", "x"));
  EXPECT_EQ(default_prompt_template("synthetic"), "synthetic");
  EXPECT_NE(input_error_message([] { default_prompt_template("sythetic"); }).find("countdown, math or synthetic"),
            std::string::npos);
  // {targets} in another task's template is named like the other placeholders.
  const char* countdown_line = "{\"numbers\":[1],\"target\":1}";
  EXPECT_NE(input_error_message([&] { PromptDataset::render("{targets}", "countdown", countdown_line, "x"); })
                .find("uses {targets}"),
            std::string::npos);
}

TEST(PromptDataset, BadSyntheticLinesNameFileLineAndField) {
  const Tokenizer tokenizer = countdown_tokenizer();
  PromptDatasetOptions options;
  options.task = "synthetic";
  const auto countdown_file = write_lines("{\"numbers\":[1,2],\"target\":3}\n");
  EXPECT_NE(input_error_message([&] { PromptDataset(countdown_file, tokenizer, options); })
                .find("data.jsonl:1: \"targets\" must be a list of strings (is this a synthetic-task file?)"),
            std::string::npos);
  const auto empty_target = write_lines("{\"targets\":[\"3\"]}\n{\"targets\":[\"\"]}\n");
  EXPECT_NE(input_error_message([&] { PromptDataset(empty_target, tokenizer, options); })
                .find("data.jsonl:2: \"targets\" holds \"\"; each target must be a non-empty string"),
            std::string::npos);
}

}  // namespace
}  // namespace deltarl
