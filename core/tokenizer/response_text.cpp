#include "core/tokenizer/response_text.h"

#include "core/input_error.h"

namespace deltarl {

std::string response_text(const Tokenizer& tokenizer, const std::vector<int64_t>& ids, int64_t model_vocab_size) {
  std::vector<int32_t> known;
  known.reserve(ids.size());
  for (int64_t id : ids) {
    if (id < 0 || id >= model_vocab_size) {
      throw InputError("generated token id " + std::to_string(id) + " is outside the model's vocabulary [0, " +
                       std::to_string(model_vocab_size) + ")");
    }
    if (id < tokenizer.vocab_size()) known.push_back(static_cast<int32_t>(id));
  }
  try {
    return tokenizer.decode(known, /*skip_special_tokens=*/true);
  } catch (const InputError&) {
    // An id inside the tokenizer's range with no vocabulary entry (a hole). Byte-level
    // BPE decodes token by token, so joining each token's bytes gives the same text.
    std::string text;
    for (int32_t id : known) {
      try {
        text += tokenizer.decode({id}, /*skip_special_tokens=*/true);
      } catch (const InputError&) {
        // no text for this id: nothing
      }
    }
    return text;
  }
}

}  // namespace deltarl
