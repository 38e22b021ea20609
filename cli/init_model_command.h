// `deltarl init-model --preset NAME --out DIR [--seed S] [--tokenizer FILE]
// [--dtype float32|bfloat16]`: a randomly initialized model of a preset
// architecture, written as a Hugging Face checkpoint folder (config.json,
// model.safetensors, tokenizer.json) to train from scratch. Refuses a folder
// that already holds a checkpoint.
#pragma once

#include <CLI/CLI.hpp>

#include "core/status.h"

namespace deltarl {

void register_init_model_command(CLI::App& app, Status* status);

}  // namespace deltarl
