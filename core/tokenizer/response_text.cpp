#include "core/tokenizer/response_text.h"

#include "core/input_error.h"

namespace deltarl {

std::string response_text(const Tokenizer& tokenizer, const std::vector<int64_t>& ids, int64_t model_vocab_size) {
  std::vector<int32_t> with_text;
  with_text.reserve(ids.size());
  for (int64_t id : ids) {
    if (id < 0 || id >= model_vocab_size) {
      throw InputError("generated token id " + std::to_string(id) + " is outside the model's vocabulary [0, " +
                       std::to_string(model_vocab_size) + ")");
    }
    if (tokenizer.has_text(id)) with_text.push_back(static_cast<int32_t>(id));
  }
  return tokenizer.decode(with_text, /*skip_special_tokens=*/true);
}

}  // namespace deltarl
