// The fuzz targets: one per parser of what deltarl reads from outside (files
// at start-up, lines of data, RPC messages). Each is built from valid seeds
// (the repository's fixtures, or made here) in its own work folder.
// tests/fuzz/README-style notes live in docs/testing.md ("Fuzzing").
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tests/fuzz/mutation_fuzzer.h"

namespace deltarl::fuzz {

struct TargetEntry {
  std::string name;
  std::string parser;           // what it runs, for --list and the docs
  int64_t bounded_iterations;   // the suite's run: a few seconds on 2 cores
  std::function<FuzzTarget(const std::string& work_folder)> make;
};

const std::vector<TargetEntry>& fuzz_targets();

FuzzTarget make_safetensors_target(const std::string& work_folder);
FuzzTarget make_config_json_target(const std::string& work_folder);
FuzzTarget make_checkpoint_index_target(const std::string& work_folder);
FuzzTarget make_tokenizer_target(const std::string& work_folder);
FuzzTarget make_training_config_target(const std::string& work_folder);
FuzzTarget make_prompt_dataset_target(const std::string& work_folder);
FuzzTarget make_rollout_jsonl_target(const std::string& work_folder);
FuzzTarget make_trainer_state_target(const std::string& work_folder);
FuzzTarget make_generate_request_target(const std::string& work_folder);
FuzzTarget make_weight_chunks_target(const std::string& work_folder);
FuzzTarget make_token_file_target(const std::string& work_folder);
FuzzTarget make_worker_address_target(const std::string& work_folder);

}  // namespace deltarl::fuzz
