// A randomly initialized preset model written as a Hugging Face folder with its
// tokenizer: what `deltarl init-model` makes, and the quickstart's starting point.
// For the tiny/small presets the vocabulary is the tokenizer's and the EOS ids
// are its <|endoftext|> and <|im_end|>, so generation and SFT know when to stop.
#pragma once

#include <cstdint>
#include <string>

#include <torch/types.h>

#include "core/model/model_config.h"

namespace deltarl {

// `tokenizer_path` "" means the shipped CountDown tokenizer (tiny/small only).
// Throws InputError when `folder` already holds a checkpoint, the tokenizer does
// not fit the preset, or the preset is unknown. Returns the config written.
ModelConfig write_preset_checkpoint(const std::string& preset, const std::string& tokenizer_path,
                                    const std::string& folder, uint64_t seed,
                                    torch::ScalarType dtype = torch::kFloat32);

}  // namespace deltarl
