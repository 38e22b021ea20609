// CountDown JSONL files for `deltarl data countdown` and `deltarl quickstart`:
// one problem per line ({"numbers", "target", "solution"}), plus, for SFT,
// "prompt" (rendered as `deltarl train` renders data.prompt_template) and
// "response" (reasoning with failed attempts, core/tasks/countdown_reasoning.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tasks/countdown_generator.h"

namespace deltarl {

// Writes `examples` to `path` atomically. With `sft_prompt_template` empty, no
// prompt/response fields. Deterministic for `seed`.
void write_countdown_file(const std::string& path, const std::vector<CountdownExample>& examples,
                          const std::string& sft_prompt_template, int64_t max_failed_attempts, uint64_t seed);

}  // namespace deltarl
