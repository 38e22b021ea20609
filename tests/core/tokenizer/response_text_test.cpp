// response_text(): ids a model can emit but its tokenizer has no text for (the
// padding rows of Qwen's embeddings, holes in the tokenizer's ids) decode as
// nothing, so the verifier scores the rest of the response exactly as if they
// were absent; ids the model cannot emit stay an error.
#include "core/tokenizer/response_text.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/preset_files.h"
#include "core/tasks/task_verifier.h"
#include "tests/support/input_error_message.h"

namespace deltarl {
namespace {

using testing_support::input_error_message;

const Tokenizer& countdown_tokenizer() {
  static const Tokenizer tokenizer = Tokenizer::from_file(countdown_tokenizer_path());
  return tokenizer;
}

std::vector<int64_t> encode(const Tokenizer& tokenizer, const std::string& text) {
  const std::vector<int32_t> ids = tokenizer.encode(text);
  return {ids.begin(), ids.end()};
}

TEST(ResponseText, PaddingRowIdsDecodeAsNothingAndTheVerifierScoresTheRest) {
  const Tokenizer& tokenizer = countdown_tokenizer();
  const int64_t tokenizer_size = tokenizer.vocab_size();
  const int64_t model_vocab = tokenizer_size + 64;  // as Qwen: 151,669 tokens, 151,936 rows
  const std::string answer = "<answer>(6+4)*2-1</answer>";
  std::vector<int64_t> ids = encode(tokenizer, answer);
  ASSERT_GT(ids.size(), 3u);
  // Padding ids before, inside and after the answer, the first and the last row.
  ids.insert(ids.begin(), tokenizer_size);
  ids.insert(ids.begin() + 3, model_vocab - 1);
  ids.push_back(tokenizer_size + 7);
  ids.push_back(model_vocab - 1);
  EXPECT_EQ(response_text(tokenizer, ids, model_vocab), answer);
  const TaskVerifier verifier = TaskVerifier::parse("countdown", R"({"numbers":[6,4,2,1],"target":19})", "test");
  EXPECT_EQ(verifier.score(response_text(tokenizer, ids, model_vocab)).outcome, "correct");
  // Only padding: an empty response.
  EXPECT_EQ(response_text(tokenizer, {tokenizer_size, tokenizer_size + 1}, model_vocab), "");
}

TEST(ResponseText, SpecialTokensAreSkippedAndTextIsAsDecode) {
  const Tokenizer& tokenizer = countdown_tokenizer();
  const std::string text = "Using the numbers 3 5 7<|im_end|>";
  const std::vector<int64_t> ids = encode(tokenizer, text);
  const std::vector<int32_t> narrow(ids.begin(), ids.end());
  EXPECT_EQ(response_text(tokenizer, ids, tokenizer.vocab_size()), tokenizer.decode(narrow, true));
  EXPECT_EQ(response_text(tokenizer, ids, tokenizer.vocab_size()), "Using the numbers 3 5 7");
}

TEST(ResponseText, IdsTheModelCannotEmitAreAnError) {
  const Tokenizer& tokenizer = countdown_tokenizer();
  const int64_t model_vocab = tokenizer.vocab_size() + 64;
  EXPECT_NE(input_error_message([&] { response_text(tokenizer, {5, model_vocab}, model_vocab); })
                .find("generated token id " + std::to_string(model_vocab) + " is outside the model's vocabulary [0, " +
                      std::to_string(model_vocab) + ")"),
            std::string::npos);
  EXPECT_NE(input_error_message([&] { response_text(tokenizer, {-1}, model_vocab); }).find("token id -1"),
            std::string::npos);
}

TEST(ResponseText, HolesInTheTokenizersIdsDecodeAsNothing) {
  // The CountDown tokenizer with one more added token 10 ids past its end:
  // ids in between are inside the tokenizer's range but have no text.
  std::ifstream file(countdown_tokenizer_path());
  std::stringstream text;
  text << file.rdbuf();
  nlohmann::json json = nlohmann::json::parse(text.str());
  const int64_t hole = countdown_tokenizer().vocab_size();
  json["added_tokens"].push_back({{"id", hole + 10}, {"content", "<|marker|>"}, {"special", false}});
  const Tokenizer tokenizer = Tokenizer::from_json_text(json.dump(), "tokenizer with a hole");
  ASSERT_EQ(tokenizer.vocab_size(), hole + 11);
  std::vector<int64_t> ids = encode(tokenizer, "<answer>7</answer>");
  ids.insert(ids.begin() + 1, hole);
  ids.push_back(hole + 10);
  EXPECT_EQ(response_text(tokenizer, ids, tokenizer.vocab_size()), "<answer>7</answer><|marker|>");
}

}  // namespace
}  // namespace deltarl
