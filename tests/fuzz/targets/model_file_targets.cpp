// Fuzz targets for a model folder's files: model.safetensors (header and
// offsets), config.json and model.safetensors.index.json, read the way
// `deltarl generate/rollout/train` read them (load_pretrained).
#include <filesystem>

#include <torch/torch.h>

#include "core/model/hf_checkpoint.h"
#include "core/safetensors.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/targets/target_support.h"

namespace deltarl::fuzz {

namespace {

namespace fs = std::filesystem;

const char* kTinyModel = "tests/fixtures/qwen2-tiny/tied";

std::vector<std::string> json_dictionary(std::vector<std::string> words) {
  for (const char* token : {"null", "true", "false", "[]", "{}", "\"\"", ",", ":", "\"x\":1,", "[0,0]", "-1"}) {
    words.emplace_back(token);
  }
  return words;
}

// A safetensors file: 8-byte little-endian header size, JSON header, data.
struct SafetensorsParts {
  std::string header;
  std::string data;
};

SafetensorsParts split_safetensors(const std::string& file) {
  uint64_t size = 0;
  for (int i = 7; i >= 0; --i) size = (size << 8) | static_cast<uint8_t>(file[static_cast<size_t>(i)]);
  return {file.substr(8, size), file.substr(8 + size)};
}

std::string frame_safetensors(const std::string& header, const std::string& data, uint64_t size) {
  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i) file[static_cast<size_t>(i)] = static_cast<char>((size >> (8 * i)) & 0xFF);
  return file + header + data;
}

}  // namespace

FuzzTarget make_safetensors_target(const std::string& work_folder) {
  torch::set_num_threads(1);  // no thread pool in the parent: the children are forked from it
  fs::create_directories(work_folder);
  const std::string generated = work_folder + "/seed.safetensors";
  write_safetensors(generated, {{"f32", torch::arange(6, torch::kFloat32).reshape({2, 3})},
                                {"bf16", torch::arange(4, torch::kFloat32).to(torch::kBFloat16)},
                                {"scalar", torch::tensor(int64_t{7})},
                                {"empty", torch::zeros({0, 3}, torch::kBool)},
                                {"u8", torch::arange(3, torch::kUInt8)},
                                {"f16", torch::ones({1, 1, 2}, torch::kFloat16)}});
  FuzzTarget target;
  target.name = "safetensors";
  target.input_file_name = "input.safetensors";
  target.seeds = {read_whole_file(generated), read_whole_file(source_path(std::string(kTinyModel) + "/cases.safetensors")),
                  read_whole_file(source_path(std::string(kTinyModel) + "/model.safetensors"))};
  target.dictionary = json_dictionary({"\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"", "\"F32\"",
                                       "\"BF16\"", "\"I64\"", "\"BOOL\"", "\"F8_E4M3\"", "\"U64\"", "\"format\"",
                                       "[18446744073709551615]", "[9223372036854775807,1]"});
  // Mostly the header's JSON is mutated and the file framed again, so that the
  // mutations reach the JSON and the offsets instead of the size check.
  target.make_input = [](const Mutator& mutator, Rng& rng) {
    const std::string& seed = mutator.seeds()[std::uniform_int_distribution<size_t>(0, mutator.seeds().size() - 1)(rng)];
    const SafetensorsParts parts = split_safetensors(seed);
    const int choice = std::uniform_int_distribution<int>(0, 99)(rng);
    if (choice < 60) {
      const std::string header = mutator.mutate(parts.header, rng);
      std::string data = parts.data;
      if (std::uniform_int_distribution<int>(0, 9)(rng) == 0) data.resize(data.size() / 2);
      return frame_safetensors(header, data, header.size());
    }
    if (choice < 85) return mutator.mutate(seed, rng);
    static const uint64_t kSizes[] = {0, 1, 2, 7, 8, 100'000'000, 100'000'001, uint64_t{1} << 63, ~uint64_t{0}};
    uint64_t size = kSizes[std::uniform_int_distribution<size_t>(0, 8)(rng)];
    if (std::uniform_int_distribution<int>(0, 1)(rng) == 0) size = parts.header.size() + parts.data.size() + 1;
    return frame_safetensors(parts.header, parts.data, size);
  };
  target.parse = [](const std::string& path) {
    SafetensorsFile file(path);
    for (const auto& [name, entry] : file.entries()) file.tensor(name).clone();  // touches every byte it claims
  };
  return target;
}

FuzzTarget make_config_json_target(const std::string& work_folder) {
  torch::set_num_threads(1);
  fs::create_directories(work_folder);
  fs::copy_file(source_path(std::string(kTinyModel) + "/model.safetensors"), work_folder + "/model.safetensors",
                fs::copy_options::overwrite_existing);
  FuzzTarget target;
  target.name = "config_json";
  target.input_file_name = "config.json";
  const std::string tied = read_whole_file(source_path(std::string(kTinyModel) + "/config.json"));
  nlohmann::json variant = nlohmann::json::parse(tied);
  variant["eos_token_id"] = {2, 1};
  variant["torch_dtype"] = "bfloat16";
  variant["rope_scaling"] = nullptr;
  variant["head_dim"] = 16;
  variant["rope_theta"] = 1000000.0;
  variant.erase("rope_parameters");
  // Llama 3.1's rope scaling, in transformers 5's rope_parameters (seeds must load with the qwen2 weights;
  // the dictionary's "qwen3" and "llama" reach the other families' branches).
  nlohmann::json scaled = nlohmann::json::parse(tied);
  scaled.erase("rope_theta");
  scaled["rope_parameters"] = {{"rope_type", "llama3"}, {"rope_theta", 500000.0}, {"factor", 8.0},
                               {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                               {"original_max_position_embeddings", 64}};
  target.seeds = {tied, read_whole_file(source_path("tests/fixtures/qwen2-tiny/untied/config.json")), variant.dump(1),
                  scaled.dump(1)};
  target.dictionary = json_dictionary(
      {"\"model_type\"", "\"qwen2\"", "\"vocab_size\"", "\"hidden_size\"", "\"intermediate_size\"",
       "\"num_hidden_layers\"", "\"num_attention_heads\"", "\"num_key_value_heads\"", "\"max_position_embeddings\"",
       "\"rms_norm_eps\"", "\"rope_theta\"", "\"rope_scaling\"", "\"rope_parameters\"", "\"rope_type\"", "\"type\"",
       "\"tie_word_embeddings\"", "\"head_dim\"", "\"hidden_act\"", "\"use_sliding_window\"", "\"layer_types\"",
       "\"attention_dropout\"", "\"bos_token_id\"", "\"eos_token_id\"", "\"torch_dtype\"", "\"dtype\"",
       "\"bfloat16\"", "\"float16\"", "\"linear\"", "\"full_attention\"", "\"qwen3\"", "\"llama\"", "\"llama3\"",
       "\"factor\"", "\"low_freq_factor\"", "\"high_freq_factor\"", "\"original_max_position_embeddings\"",
       "\"attention_bias\"", "\"mlp_bias\"", "\"num_experts\"", "\"pretraining_tp\""});
  target.parse = [work_folder](const std::string&) { load_pretrained(work_folder); };
  return target;
}

FuzzTarget make_checkpoint_index_target(const std::string& work_folder) {
  torch::set_num_threads(1);
  fs::create_directories(work_folder);
  fs::copy_file(source_path(std::string(kTinyModel) + "/config.json"), work_folder + "/config.json",
                fs::copy_options::overwrite_existing);
  {  // the tiny model again, in shards of at most 100 kB
    const std::string staging = work_folder + "/staging";
    fs::create_directories(staging);
    CausalLM model = load_pretrained(source_path(kTinyModel));
    save_pretrained(model, staging, torch::kFloat32, /*max_shard_bytes=*/100'000);
    for (const auto& entry : fs::directory_iterator(staging)) {
      fs::copy_file(entry.path(), work_folder + "/" + entry.path().filename().string(),
                    fs::copy_options::overwrite_existing);
    }
  }
  FuzzTarget target;
  target.name = "checkpoint_index";
  target.input_file_name = "model.safetensors.index.json";
  target.seeds = {read_whole_file(work_folder + "/staging/model.safetensors.index.json")};
  target.dictionary = json_dictionary({"\"weight_map\"", "\"metadata\"", "\"total_size\"",
                                       "\"model-00001-of-00005.safetensors\"", "\"..\"", "\"/etc/passwd\"",
                                       "\"config.json\"", "\"staging\"", "\"lm_head.weight\""});
  target.parse = [work_folder](const std::string&) { load_pretrained(work_folder); };
  return target;
}

}  // namespace deltarl::fuzz
