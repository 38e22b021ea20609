// Tokenizer parity with Hugging Face `tokenizers` on the real Qwen3 tokenizer,
// over a corpus built to be hard (tests/reference/make_tokenizer_fixtures.py),
// plus decode round trips and bad input.
#include "core/tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/input_error.h"
#include "tests/support/input_error_message.h"
#include "core/file_system.h"
#include "core/tokenizer/chat_format.h"
#include "core/tokenizer/unicode_text.h"

namespace deltarl {
namespace {

using testing_support::input_error_message;

const std::string kFixtures = DELTARL_TEST_FIXTURES_DIR;

const Tokenizer& qwen() {
  static const Tokenizer tokenizer = Tokenizer::from_file(kFixtures + "/qwen3-tokenizer/tokenizer.json");
  return tokenizer;
}

struct ParityCase {
  const char* tokenizer;
  const char* corpus;
};

class TokenizerParity : public ::testing::TestWithParam<ParityCase> {};

TEST_P(TokenizerParity, MatchesHuggingFaceTokenizersOnTheHardCorpus) {
  const Tokenizer tokenizer = Tokenizer::from_file(kFixtures + "/../../" + GetParam().tokenizer);
  std::ifstream corpus(kFixtures + "/tokenizer/" + GetParam().corpus);
  ASSERT_TRUE(corpus) << "missing fixture";
  std::string line;
  int lines = 0, mismatches = 0;
  while (std::getline(corpus, line)) {
    ++lines;
    const auto fixture = nlohmann::json::parse(line);
    const std::string text = fixture["text"];
    const auto expected = fixture["ids"].get<std::vector<int32_t>>();
    const auto ids = tokenizer.encode(text);
    if (ids != expected && ++mismatches <= 5) {
      ADD_FAILURE() << "line " << lines << ": " << fixture["text"].dump() << "\n  expected "
                    << nlohmann::json(expected).dump() << "\n  got      " << nlohmann::json(ids).dump();
    }
    // decode(encode(x)): NFC(x) with an NFC normalizer, x itself without one.
    const char* decoded = fixture.contains("decoded") ? "decoded" : "nfc";
    EXPECT_EQ(tokenizer.decode(ids), fixture[decoded].get<std::string>()) << "line " << lines;
  }
  EXPECT_GT(lines, 400);
  EXPECT_EQ(mismatches, 0) << "of " << lines << " lines";
}

std::string parity_case_name(const ::testing::TestParamInfo<ParityCase>& info) {
  const char* names[] = {"Qwen3", "CountdownPreset", "Llama3"};
  return names[info.index];
}

INSTANTIATE_TEST_SUITE_P(
    Tokenizers, TokenizerParity,
    ::testing::Values(ParityCase{"tests/fixtures/qwen3-tokenizer/tokenizer.json", "qwen3_parity.jsonl"},
                      ParityCase{"core/presets/countdown-tokenizer.json", "countdown_parity.jsonl"},
                      // Llama 3's pre-tokenizer and ignore_merges (tests/reference/make_llama3_tokenizer.py)
                      ParityCase{"tests/fixtures/llama3-tokenizer/tokenizer.json", "llama3_parity.jsonl"}),
    parity_case_name);

TEST(Tokenizer, SpecialTokensAndVocabulary) {
  const Tokenizer& t = qwen();
  EXPECT_EQ(t.vocab_size(), 151669);
  EXPECT_EQ(t.token_to_id("<|im_end|>"), 151645);
  EXPECT_TRUE(t.is_special(151645));
  EXPECT_FALSE(t.is_special(151667));  // <think> is added but not special
  const auto ids = t.encode("a<|im_end|>b");
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[1], 151645);
  EXPECT_EQ(t.decode(ids, /*skip_special_tokens=*/true), "ab");
  const auto plain = t.encode("a<|im_end|>b", /*split_special_tokens=*/false);
  EXPECT_GT(plain.size(), 3u);
  EXPECT_EQ(t.decode(plain), "a<|im_end|>b");
}

TEST(ChatFormat, ChatMlRendersQwen25Turns) {
  const std::string prompt = ChatFormat{}.render({{"system", "Be brief."}, {"user", "2+2?"}});
  EXPECT_EQ(prompt, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
                    "<|im_start|>assistant\n");
  const auto ids = qwen().encode(prompt);
  EXPECT_EQ(ids.front(), 151644);
  EXPECT_THROW(ChatFormat{}.render({{"robot", "hi"}}), InputError);
  EXPECT_THROW(ChatFormat::of_family(ModelFamily::kLlama).render({{"robot", "hi"}}), InputError);
}

// The text transformers' apply_chat_template renders from the real Qwen3
// template (thinking on and off) and Llama 3 Instruct's, and the ids
// `tokenizers` gives it (tests/reference/make_chat_fixtures.py).
TEST(ChatFormat, RendersWhatTheChatTemplatesRender) {
  std::ifstream renders(kFixtures + "/tokenizer/chat_renders.jsonl");
  ASSERT_TRUE(renders) << "missing fixture";
  std::string line;
  int count = 0;
  while (std::getline(renders, line)) {
    const auto fixture = nlohmann::json::parse(line);
    ChatFormat format;
    format.kind = fixture["format"] == "llama3" ? ChatTemplate::kLlama3 : ChatTemplate::kQwen3;
    format.thinking = fixture["thinking"].get<bool>();
    std::vector<ChatMessage> messages;
    for (const auto& message : fixture["messages"]) messages.push_back({message["role"], message["content"]});
    const std::string text = format.render(messages);
    EXPECT_EQ(text, fixture["text"].get<std::string>()) << line;
    const Tokenizer tokenizer = Tokenizer::from_file(kFixtures + "/../../" + fixture["tokenizer"].get<std::string>());
    EXPECT_EQ(tokenizer.encode(text), fixture["ids"].get<std::vector<int32_t>>()) << line;
    ++count;
  }
  EXPECT_EQ(count, 9);
}

TEST(ChatFormat, IsChosenByTheTokenizerConfigsTemplateElseByTheFamily) {
  const auto from_folder = [](const std::string& folder) {
    return ChatFormat::of_tokenizer_config(read_file_text(kFixtures + "/" + folder + "/tokenizer_config.json"), folder);
  };
  EXPECT_EQ(from_folder("qwen3-tokenizer")->kind, ChatTemplate::kQwen3);
  EXPECT_EQ(from_folder("llama3-tokenizer")->kind, ChatTemplate::kLlama3);
  EXPECT_EQ(ChatFormat::of_tokenizer_config(R"({"chat_template": "{{ '<|im_start|>' }}"})", "t")->kind,
            ChatTemplate::kChatMl);
  EXPECT_FALSE(ChatFormat::of_tokenizer_config(R"({"bos_token": null})", "t").has_value());
  EXPECT_NE(input_error_message([] { ChatFormat::of_tokenizer_config(R"({"chat_template": "[INST] {{ x }}"})", "t.json"); })
                .find("t.json: chat_template is neither ChatML"),
            std::string::npos);
  // No tokenizer_config.json: config.json's model_type.
  EXPECT_EQ(ChatFormat::of_model_folder(kFixtures + "/qwen2-tiny/tied").kind, ChatTemplate::kChatMl);
  EXPECT_EQ(ChatFormat::of_model_folder(kFixtures + "/qwen3-tiny/tied").kind, ChatTemplate::kQwen3);
  EXPECT_EQ(ChatFormat::of_model_folder(kFixtures + "/llama-tiny/tied").kind, ChatTemplate::kLlama3);
  EXPECT_STREQ(ChatFormat::of_family(ModelFamily::kQwen3).name(), "qwen3");
}

TEST(TokenizerErrors, InvalidUtf8NamesTheByte) {
  const std::string bad = std::string("ok") + '\xC3' + '(' + "tail";
  const std::string error = input_error_message([&] { qwen().encode(bad); });
  EXPECT_NE(error.find("not valid UTF-8: bad byte 0xc3 at byte 2"), std::string::npos) << error;
  EXPECT_NE(input_error_message([] { qwen().encode(std::string("\xFF")); }), "");
  EXPECT_NE(input_error_message([] { qwen().encode(std::string("\xED\xA0\x80")); }), "");  // a surrogate
}

TEST(TokenizerErrors, DecodeRejectsIdsOutsideTheVocabulary) {
  EXPECT_NE(input_error_message([] { qwen().decode({1, 151669}); }).find("token id 151669 is outside"), std::string::npos);
  EXPECT_NE(input_error_message([] { qwen().decode({-1}); }), "");
}

TEST(TokenizerErrors, MalformedTokenizerJsonNamesTheField) {
  auto error_for = [](const std::string& text) {
    return input_error_message([&] { Tokenizer::from_json_text(text, "my/tokenizer.json"); });
  };
  EXPECT_NE(error_for("{not json").find("my/tokenizer.json: not valid JSON"), std::string::npos);
  EXPECT_NE(error_for("{}").find("missing field \"model\""), std::string::npos);
  EXPECT_NE(error_for(R"({"model": {"type": "WordPiece"}})").find("model.type"), std::string::npos);
  EXPECT_NE(error_for(R"({"model": {"type": "BPE", "merges": []}})").find("\"model.vocab\""), std::string::npos);
  const std::string missing_bytes =
      R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
          "pre_tokenizer": {"type": "ByteLevel", "use_regex": true}})";
  EXPECT_NE(error_for(missing_bytes).find("lacks the byte-level symbol"), std::string::npos);
  EXPECT_NE(error_for(R"({"model": {"type": "BPE", "vocab": {}, "merges": []}, "pre_tokenizer": {"type": "Whitespace"}})")
                .find("pre_tokenizer"),
            std::string::npos);
  EXPECT_NE(error_for(R"({"model": {"type": "BPE", "vocab": {}, "merges": []}, "normalizer": {"type": "NFKC"}})")
                .find("only NFC"),
            std::string::npos);
}

TEST(UnicodeText, NfcComposesAndKeepsAscii) {
  EXPECT_EQ(nfc_normalize("e\xCC\x81"), "\xC3\xA9");  // e + U+0301 → é
  EXPECT_EQ(nfc_normalize("plain"), "plain");
  EXPECT_EQ(nfc_normalize(""), "");
}

}  // namespace
}  // namespace deltarl
