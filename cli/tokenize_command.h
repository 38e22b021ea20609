// `deltarl tokenize --tokenizer FILE [--decode] [--no-special]`: reads all of
// stdin; writes its token ids separated by spaces, or with --decode reads
// whitespace-separated ids and writes their text.
#pragma once

#include <istream>
#include <ostream>
#include <string>

#include <CLI/CLI.hpp>

#include "core/status.h"
#include "core/tokenizer/tokenizer.h"

namespace deltarl {

void register_tokenize_command(CLI::App& app, Status* status);

// The command's work on streams.
Status tokenize_stream(const Tokenizer& tokenizer, bool decode, bool split_special_tokens, std::istream& input,
                       std::ostream& output);

}  // namespace deltarl
