// `deltarl generate --model DIR --prompt TEXT [--chat] [--temperature T]
// [--top-p P] [--max-new-tokens N] [--seed S]`: loads a Hugging Face checkpoint
// folder (config.json, weights, tokenizer.json) and prints the continuation.
#pragma once

#include <CLI/CLI.hpp>

#include "core/status.h"

namespace deltarl {

void register_generate_command(CLI::App& app, Status* status);

}  // namespace deltarl
