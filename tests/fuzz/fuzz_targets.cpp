#include "tests/fuzz/fuzz_targets.h"

namespace deltarl::fuzz {

// Bounded iterations: about 2-4 s each on the 2-core CI machine (docs/testing.md).
const std::vector<TargetEntry>& fuzz_targets() {
  static const std::vector<TargetEntry> targets = {
      {"safetensors", "SafetensorsFile (header, dtypes, shapes, offsets) and every tensor it hands out", 400,
       make_safetensors_target},
      {"config_json", "config.json through load_pretrained (ModelConfig, then the weights)", 400,
       make_config_json_target},
      {"checkpoint_index", "model.safetensors.index.json through load_pretrained (sharded checkpoints)", 300,
       make_checkpoint_index_target},
      {"tokenizer", "tokenizer.json through Tokenizer::from_file, then encode and decode", 300,
       make_tokenizer_target},
      {"training_config", "the YAML training config through load_training_config", 400,
       make_training_config_target},
      {"prompt_dataset", "training JSONL through PromptDataset (countdown and math, plain and chat)", 500,
       make_prompt_dataset_target},
      {"rollout_jsonl", "rollout JSONL through deltarl weights, deltarl reward and MetricsLog's resume", 400,
       make_rollout_jsonl_target},
      {"trainer_state", "a checkpoint's trainer_state.json through load_trainer_state and its config_yaml", 600,
       make_trainer_state_target},
      {"generate_request", "serialized GenerateRequest through the worker's validate_generate_request", 1000,
       make_generate_request_target},
      {"weight_chunks", "a serialized LoadWeights stream through WeightUpload::add and finish", 600,
       make_weight_chunks_target},
      {"token_file", "the workers' token file through read_rollout_auth_token", 800, make_token_file_target},
      {"worker_address", "a worker's address file through --set rollout.workers and a gRPC channel", 300,
       make_worker_address_target},
  };
  return targets;
}

}  // namespace deltarl::fuzz
