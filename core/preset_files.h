// Files shipped with deltarl for its presets (core/presets/): the CountDown
// tokenizer of the tiny and small models. Found in DELTARL_PRESETS_DIR when that
// environment variable is set, else in the source tree deltarl was built from.
#pragma once

#include <string>

namespace deltarl {

// Path of a shipped preset file; InputError naming the folder when it is missing.
std::string preset_file(const std::string& name);

// core/presets/countdown-tokenizer.json: 512 entries, Qwen2's pre-tokenizer.
inline std::string countdown_tokenizer_path() { return preset_file("countdown-tokenizer.json"); }

}  // namespace deltarl
