// `deltarl sft --model DIR --data FILE --out DIR [--epochs N --batch-size B --lr X ...]`:
// supervised fine-tuning on prompt/response JSONL, loss on the response only
// (trainer/sft/supervised_finetuning.h). Writes a Hugging Face folder with the
// tokenizer, ready for `deltarl train` or `deltarl eval`.
#pragma once

#include <CLI/CLI.hpp>

#include "core/status.h"

namespace deltarl {

void register_sft_command(CLI::App& app, Status* status);

}  // namespace deltarl
