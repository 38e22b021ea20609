// Fuzz targets for JSON Lines: training data (PromptDataset: countdown and
// math lines, templates, chat) and rollout/result lines (`deltarl weights`
// {group, length}, `deltarl reward` {response, numbers, target | answer}, the
// run's metrics.jsonl read back on resume, a step's recorded rollouts as
// `deltarl update` reads them).
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/reward_command.h"
#include "cli/weights_command.h"
#include "core/input_error.h"
#include "core/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/targets/target_support.h"
#include "trainer/run/metrics_log.h"
#include "trainer/run/rollout_records.h"
#include "trainer/prompts/prompt_dataset.h"

namespace deltarl::fuzz {

namespace {

const std::vector<std::string>& jsonl_dictionary() {
  static const std::vector<std::string> words = {
      "\"numbers\"", "\"target\"", "\"question\"", "\"prompt\"", "\"answer\"", "\"response\"", "\"group\"",
      "\"length\"", "\"step\"", "\"reward\"", "\"format_reward\"", "\"targets\"", "{}", "[]", "null", "true", "\n",
      "\r\n", "\n\n", "{\"a\":1}\n", "\"{numbers}\"", "\"<|im_start|>\"", ",", ":", "\"\\u0000\""};
  return words;
}

// Runs `step`; an InputError is remembered (the input was rejected there), any
// other exception propagates as a failure.
bool accepted(const std::function<void()>& step, std::string* rejection) {
  try {
    step();
    return true;
  } catch (const InputError& error) {
    *rejection = error.what();
    return false;
  }
}

}  // namespace

FuzzTarget make_prompt_dataset_target(const std::string& work_folder) {
  std::filesystem::create_directories(work_folder);
  auto tokenizer = std::make_shared<Tokenizer>(Tokenizer::from_file(source_path("core/presets/countdown-tokenizer.json")));
  FuzzTarget target;
  target.name = "prompt_dataset";
  target.input_file_name = "train.jsonl";
  target.seeds = {
      "{\"numbers\": [3, 5, 7], \"target\": 22, \"solution\": \"3*5+7\"}\n{\"numbers\": [1, 2], \"target\": 3}\n",
      "{\"question\": \"What is 2+2?\", \"answer\": \"4\"}\n\n{\"prompt\": \"1/2 + 1/4 = ?\", \"answer\": 0.75}\r\n",
      "{\"targets\": [\"3\", \"K\"]}\n{\"targets\": [\"Q\"], \"note\": 1}\n",
  };
  target.dictionary = jsonl_dictionary();
  target.parse = [tokenizer](const std::string& path) {
    std::string rejection;
    bool any = false;
    for (const char* task : {"countdown", "math", "synthetic"}) {
      for (bool chat : {false, true}) {
        PromptDatasetOptions options;
        options.task = task;
        // countdown-compact for countdown; the task's own preset for the others.
        options.prompt_template = task == std::string("countdown") ? "countdown-compact" : "";
        options.chat = chat;
        options.max_prompt_tokens = 400;
        options.format_reward = 0.1;
        any |= accepted([&] { PromptDataset dataset(path, *tokenizer, options); }, &rejection);
      }
    }
    if (!any) throw InputError(rejection);
  };
  return target;
}

FuzzTarget make_rollout_jsonl_target(const std::string& work_folder) {
  std::filesystem::create_directories(work_folder);
  FuzzTarget target;
  target.name = "rollout_jsonl";
  target.input_file_name = "rollouts.jsonl";
  target.seeds = {
      "{\"group\":0,\"length\":50}\n{\"group\":0,\"length\":800}\n{\"group\":\"b\",\"length\":3}\n",
      "{\"response\":\"<answer>(6+4)*2-1</answer>\",\"numbers\":[6,4,2,1],\"target\":19,\"group\":1,\"length\":9}\n"
      "{\"response\":\"so \\\\boxed{0.5}\",\"answer\":\"1/2\",\"group\":1,\"length\":4}\n",
      "{\"step\":1,\"reward\":0.5,\"accuracy\":0.25}\n{\"step\":2,\"reward\":0.75}\n{\"step\":3,\"reward\":1}\n{\"step\":4,\"re",
      "{\"step\":1,\"group\":0,\"sample_index\":0,\"reward\":1,\"correct\":true,\"truncated\":false,"
      "\"policy_version\":0,\"prompt_ids\":[5,6],\"response_ids\":[7,8],\"rollout_log_probs\":[-1.5,-0.25]}\n"
      "{\"step\":1,\"group\":0,\"sample_index\":1,\"reward\":0,\"correct\":false,\"truncated\":true,"
      "\"policy_version\":0,\"prompt_ids\":[5,6],\"response_ids\":[9],\"rollout_log_probs\":[-3]}\n",
  };
  target.dictionary = jsonl_dictionary();
  const std::string metrics_copy = work_folder + "/metrics.jsonl";
  target.parse = [metrics_copy](const std::string& path) {
    const std::string text = read_whole_file(path);
    std::string rejection;
    bool any = false;
    auto status_step = [&](const Status& status) {
      if (!status.ok()) throw InputError(status.message());
    };
    WeightsOptions weights;
    weights.max_response_length = 1024;
    for (const char* mode : {"delta-l", "seq-mean-token-mean"}) {
      weights.mode = mode;
      any |= accepted([&] {
        std::istringstream input(text);
        std::ostringstream output;
        status_step(compute_weights(weights, input, path, output));
      }, &rejection);
    }
    for (const char* task : {"countdown", "math", "synthetic"}) {
      RewardOptions reward;
      reward.task = task;
      any |= accepted([&] {
        std::istringstream input(text);
        std::ostringstream output;
        status_step(score_responses(reward, input, path, output));
      }, &rejection);
    }
    // Resuming at step 2 rewrites the metrics without later steps; on a copy.
    write_whole_file(metrics_copy, text);
    any |= accepted([&] { MetricsLog log(metrics_copy, /*resume_step=*/2); }, &rejection);
    any |= accepted([&] { read_rollout_records(path); }, &rejection);
    if (!any) throw InputError(rejection);
  };
  return target;
}

}  // namespace deltarl::fuzz
