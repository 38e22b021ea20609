// Fuzz target for tokenizer.json: Tokenizer::from_file, then encoding and
// decoding a text that holds added tokens, digits, CJK and emoji, with the
// tokenizer's own promise checked: every id it produces is inside its vocabulary.
#include <filesystem>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "core/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/targets/target_support.h"

namespace deltarl::fuzz {

namespace {

// The Qwen3 tokenizer's layout (Sequence[Split(Regex), ByteLevel], NFC, added
// tokens) with its vocabulary cut to the first 600 ids and the merges among
// them, so that a mutated copy is small enough to write thousands of times.
std::string small_qwen3_tokenizer() {
  nlohmann::json full =
      nlohmann::json::parse(read_whole_file(source_path("tests/fixtures/qwen3-tokenizer/tokenizer.json")));
  nlohmann::json vocab = nlohmann::json::object();
  std::unordered_set<std::string> kept;
  for (auto it = full["model"]["vocab"].begin(); it != full["model"]["vocab"].end(); ++it) {
    if (it.value().get<int64_t>() < 600) vocab[it.key()] = it.value(), kept.insert(it.key());
  }
  nlohmann::json merges = nlohmann::json::array();
  for (const auto& merge : full["model"]["merges"]) {
    std::string left, right;
    if (merge.is_array()) {
      left = merge[0], right = merge[1];
    } else {
      const std::string text = merge;
      left = text.substr(0, text.find(' ')), right = text.substr(text.find(' ') + 1);
    }
    if (kept.count(left) && kept.count(right) && kept.count(left + right)) merges.push_back(merge);
  }
  full["model"]["vocab"] = vocab;
  full["model"]["merges"] = merges;
  nlohmann::json added = nlohmann::json::array();
  for (const auto& token : full["added_tokens"]) {
    if (added.size() < 6) added.push_back(token);
  }
  full["added_tokens"] = added;
  return full.dump(1);
}

}  // namespace

FuzzTarget make_tokenizer_target(const std::string& work_folder) {
  std::filesystem::create_directories(work_folder);
  FuzzTarget target;
  target.name = "tokenizer";
  target.input_file_name = "tokenizer.json";
  target.seeds = {read_whole_file(source_path("core/presets/countdown-tokenizer.json")), small_qwen3_tokenizer(),
                  read_whole_file(source_path("tests/fixtures/llama3-tokenizer/tokenizer.json"))};  // ignore_merges
  target.dictionary = {
      "\"model\"", "\"type\"", "\"BPE\"", "\"vocab\"", "\"merges\"", "\"pre_tokenizer\"", "\"ByteLevel\"",
      "\"Sequence\"", "\"Split\"", "\"Regex\"", "\"pattern\"", "\"behavior\"", "\"Isolated\"", "\"invert\"",
      "\"use_regex\"", "\"add_prefix_space\"", "\"normalizer\"", "\"NFC\"", "\"NFKC\"", "\"decoder\"",
      "\"added_tokens\"", "\"id\"", "\"content\"", "\"special\"", "\"single_word\"", "\"lstrip\"", "\"rstrip\"",
      "\"dropout\"", "\"byte_fallback\"", "\"ignore_merges\"", "\"continuing_subword_prefix\"", "(a*)*b",
      "(?:(?:a|a)+)+$", "\\\\p{Zzz}", "(?R)", "(?", "[", "\\\\K", ".*.*.*.*.*.*=", "(?<=a)", "\\\\X", "null",
      "true", "false", "[]", "{}", "\"\"", "\"<|im_start|>\"", "\"a b\"", "[\"a\",\"b\"]", "-1", "2147483647"};
  target.parse = [](const std::string& path) {
    const Tokenizer tokenizer = Tokenizer::from_file(path);
    const std::string text =
        "<|im_start|>user\nUsing the numbers [3, 5, 7], make 22 = 3*5+7. \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80"
        "  aaaa\taaaa\r\n<|im_end|><|endoftext|> 1234567890 ''''";
    for (bool split_special : {true, false}) {
      const std::vector<int32_t> ids = tokenizer.encode(text, split_special);
      for (int32_t id : ids) {
        if (id < 0 || id >= tokenizer.vocab_size()) {
          throw BrokenPromise("encode produced id " + std::to_string(id) + " outside [0, " +
                              std::to_string(tokenizer.vocab_size()) + ")");
        }
      }
      tokenizer.decode(ids);
    }
  };
  return target;
}

}  // namespace deltarl::fuzz
