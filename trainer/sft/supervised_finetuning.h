// Supervised fine-tuning (`deltarl sft`): next-token cross-entropy on the
// response tokens of prompt/response pairs (the prompt is context only), mean
// over the batch's response tokens, AdamW with warmup and cosine decay. The
// usual warm start before RLVR. One process, every CPU it may use.
//
//   SftOptions options{.model_folder = "models/tiny", .data_path = "sft.jsonl", .out_folder = "models/sft"};
//   SftResult result = run_supervised_finetuning(options, [](const SftProgress& p) { ... });
//
// Data: JSONL lines {"prompt": "...", "response": "..."}; the response gets the
// model's first EOS token appended, so the model learns to stop.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace deltarl {

struct SftOptions {
  std::string model_folder;       // HF folder with tokenizer.json
  std::string data_path;          // JSONL with prompt/response
  std::string out_folder;         // written at the end: model + tokenizer.json (must not exist)
  int64_t epochs = 1;
  int64_t batch_size = 16;        // sequences per optimizer step
  double lr = 1e-3;
  double warmup_ratio = 0.05;
  double min_lr_ratio = 0.1;
  double weight_decay = 0.0;
  double grad_clip = 1.0;
  uint64_t seed = 0;
  int64_t threads = 0;            // 0: every CPU this process may use (available_cpus)
  void validate() const;          // InputError naming the option
};

struct SftProgress {
  int64_t step = 0, total_steps = 0;
  double loss = 0;                // mean over this step's response tokens
  double tokens_per_second = 0;
  double seconds = 0;
};

struct SftResult {
  int64_t steps = 0;
  double final_loss = 0;          // mean of the last 10% of steps
  double seconds = 0;
};

// Throws InputError naming the file and line for bad data, or the folder.
SftResult run_supervised_finetuning(const SftOptions& options,
                                    const std::function<void(const SftProgress&)>& on_step = {});

}  // namespace deltarl
