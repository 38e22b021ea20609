#include "cli/countdown_files.h"

#include <random>

#include <nlohmann/json.hpp>

#include "core/atomic_file_writer.h"
#include "core/input_error.h"
#include "core/tasks/countdown_reasoning.h"
#include "trainer/prompts/prompt_dataset.h"
#include "trainer/prompts/prompt_sampler.h"

namespace deltarl {

void write_countdown_file(const std::string& path, const std::vector<CountdownExample>& examples,
                          const std::string& sft_prompt_template, int64_t max_failed_attempts, uint64_t seed) {
  if (max_failed_attempts < 0) throw InputError("--max-failed-attempts must be ≥ 0");
  AtomicFileWriter writer(path);
  std::mt19937_64 random(mix_seed(seed, /*a=*/0x5f7));
  for (const auto& example : examples) {
    nlohmann::ordered_json line;
    line["numbers"] = example.problem.numbers;
    line["target"] = example.problem.target;
    line["solution"] = example.solution;
    if (!sft_prompt_template.empty()) {
      line["prompt"] = PromptDataset::render(sft_prompt_template, "countdown", line.dump(), "--sft-prompt-template");
      line["response"] = countdown_reasoning_response(example, max_failed_attempts, random);
    }
    writer.stream() << line.dump() << '\n';
  }
  writer.commit();
}

}  // namespace deltarl
