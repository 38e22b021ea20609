#include "cli/tokenize_command.h"

#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>

#include "core/input_error.h"

namespace deltarl {

Status tokenize_stream(const Tokenizer& tokenizer, bool decode, bool split_special_tokens, std::istream& input,
                       std::ostream& output) {
  try {
    if (decode) {
      std::vector<int32_t> ids;
      std::string word;
      while (input >> word) {
        try {
          size_t used = 0;
          const long long id = std::stoll(word, &used);
          if (used != word.size() || id < INT32_MIN || id > INT32_MAX) throw std::invalid_argument(word);
          ids.push_back(static_cast<int32_t>(id));
        } catch (const std::logic_error&) {
          throw InputError("input word " + std::to_string(ids.size() + 1) + " \"" + word + "\" is not a token id");
        }
      }
      output << tokenizer.decode(ids);
      return Status();
    }
    const std::string text((std::istreambuf_iterator<char>(input)), std::istreambuf_iterator<char>());
    const auto ids = tokenizer.encode(text, split_special_tokens);
    for (size_t i = 0; i < ids.size(); ++i) output << (i ? " " : "") << ids[i];
    output << "\n";
    return Status();
  } catch (const InputError& error) {
    return Status(StatusCode::kInvalidArgument, error.what());
  }
}

void register_tokenize_command(CLI::App& app, Status* status) {
  struct Options {
    std::string tokenizer_path;
    bool decode = false;
    bool no_special = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand("tokenize", "Text on stdin to token ids, or ids to text with --decode");
  command->add_option("--tokenizer", options->tokenizer_path, "a Hugging Face tokenizer.json")->required();
  command->add_flag("--decode", options->decode, "read ids, write text");
  command->add_flag("--no-special", options->no_special, "treat special-token text as plain text");
  command->callback([options, status] {
    try {
      const Tokenizer tokenizer = Tokenizer::from_file(options->tokenizer_path);
      *status = tokenize_stream(tokenizer, options->decode, !options->no_special, std::cin, std::cout);
    } catch (const InputError& error) {
      *status = Status(StatusCode::kInvalidArgument, error.what());
    }
  });
}

}  // namespace deltarl
