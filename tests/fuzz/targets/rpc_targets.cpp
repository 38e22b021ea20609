// Fuzz targets for the gRPC messages a rollout worker receives, from their
// serialized bytes: a GenerateRequest through the worker's request validation
// (rollout_workers/generate_request.h), and a LoadWeights stream of
// WeightChunks through WeightUpload, as the worker's handlers run them.
#include <cstring>
#include <filesystem>

#include <torch/torch.h>

#include "core/crc32c.h"
#include "core/input_error.h"
#include "core/model/hf_checkpoint.h"
#include "core/safetensors.h"
#include "deltarl/v1/rollout.pb.h"
#include "rollout_workers/generate_request.h"
#include "rollout_workers/weight_upload.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/targets/proto_mutation.h"
#include "tests/fuzz/targets/target_support.h"

namespace deltarl::fuzz {

namespace {

// A model small enough that a whole upload is a few kilobytes.
ModelConfig micro_config() {
  ModelConfig config;
  config.vocab_size = 16;
  config.hidden_size = 8;
  config.intermediate_size = 8;
  config.num_hidden_layers = 1;
  config.num_attention_heads = 2;
  config.num_key_value_heads = 1;
  config.max_position_embeddings = 32;
  config.tie_word_embeddings = true;
  config.eos_token_ids = {2};
  return config;
}

// A LoadWeights stream as one file: each chunk as a 4-byte little-endian size
// and its serialized bytes.
std::string frame_chunks(const std::vector<v1::WeightChunk>& chunks) {
  std::string stream;
  for (const auto& chunk : chunks) {
    const std::string bytes = chunk.SerializeAsString();
    const uint32_t size = static_cast<uint32_t>(bytes.size());
    for (int i = 0; i < 4; ++i) stream += static_cast<char>((size >> (8 * i)) & 0xFF);
    stream += bytes;
  }
  return stream;
}

std::vector<v1::WeightChunk> parse_chunks(const std::string& stream) {
  std::vector<v1::WeightChunk> chunks;
  for (size_t at = 0; at + 4 <= stream.size();) {
    uint32_t size = 0;
    for (int i = 3; i >= 0; --i) size = (size << 8) | static_cast<uint8_t>(stream[at + static_cast<size_t>(i)]);
    at += 4;
    if (size > stream.size() - at) break;
    chunks.emplace_back().ParseFromArray(stream.data() + at, static_cast<int>(size));
    at += size;
  }
  return chunks;
}

size_t random_below(Rng& rng, size_t bound) { return std::uniform_int_distribution<size_t>(0, bound - 1)(rng); }

std::vector<v1::WeightChunk> upload_of(CausalLM& model, uint64_t version, torch::ScalarType dtype,
                                       size_t chunk_bytes) {
  std::vector<v1::WeightChunk> chunks;
  const auto parameters = model->named_parameters(/*recurse=*/true);
  for (size_t index = 0; index < parameters.size(); ++index) {
    const torch::Tensor tensor = parameters[index].value().detach().to(dtype).contiguous();
    const auto* bytes = static_cast<const char*>(tensor.data_ptr());
    const size_t size = static_cast<size_t>(tensor.numel()) * tensor.element_size();
    for (size_t offset = 0; offset < size; offset += chunk_bytes) {
      const size_t length = std::min(chunk_bytes, size - offset);
      v1::WeightChunk chunk;
      chunk.set_version(version);
      chunk.set_tensor_name(parameters[index].key());
      chunk.set_dtype(safetensors_dtype_name(dtype));
      for (int64_t dimension : tensor.sizes()) chunk.add_shape(dimension);
      chunk.set_tensor_bytes(size);
      chunk.set_offset(offset);
      chunk.set_data(bytes + offset, length);
      if (offset + length == size) chunk.set_crc32c(crc32c(bytes, size));
      chunk.set_last_chunk(offset + length == size && index + 1 == parameters.size());
      chunks.push_back(std::move(chunk));
    }
  }
  return chunks;
}

}  // namespace

FuzzTarget make_generate_request_target(const std::string& work_folder) {
  std::filesystem::create_directories(work_folder);
  FuzzTarget target;
  target.name = "generate_request";
  target.input_file_name = "generate_request.bin";
  {
    v1::GenerateRequest request;
    request.set_samples_per_prompt(4);
    request.mutable_sampling()->set_temperature(1.0);
    request.mutable_sampling()->set_top_p(0.9);
    request.mutable_sampling()->set_max_new_tokens(16);
    request.mutable_sampling()->add_stop_token_ids(3);
    request.mutable_sampling()->set_seed(7);
    v1::Prompt* countdown = request.add_prompts();
    countdown->set_group_id(11);
    for (int id : {5, 6, 7, 8}) countdown->add_token_ids(id);
    countdown->set_task("countdown");
    countdown->set_task_payload_json(R"({"numbers":[3,5,7],"target":22,"format_reward":0.1})");
    countdown->set_seed(99);
    v1::Prompt* math = request.add_prompts();
    math->set_group_id(12);
    math->add_token_ids(9);
    math->set_task("math");
    math->set_task_payload_json(R"({"answer":"1/2"})");
    target.seeds.push_back(request.SerializeAsString());
    request.clear_prompts();
    v1::Prompt* plain = request.add_prompts();
    plain->add_token_ids(1);
    request.set_min_policy_version(3);
    target.seeds.push_back(request.SerializeAsString());
  }
  target.dictionary = {"countdown", "math", "numbers", "target", "answer", "format_reward", "{}", "[]",
                       std::string("\x08\xff\xff\xff\xff\x0f", 6), std::string("\x10\x80\x80\x80\x80\x08", 6),
                       std::string("\x12\xff\xff\xff\x7f", 5), std::string("\x19\x00\x00\x00\x00\x00\x00\xf8\x7f", 9)};
  // Half the inputs are parsed requests with one to three fields set to extreme
  // values (they reach the checks); half are byte-level mutations (the parser).
  target.make_input = [](const Mutator& mutator, Rng& rng) {
    const std::string& seed = mutator.seeds()[random_below(rng, mutator.seeds().size())];
    if (random_below(rng, 2) == 0) return mutator.mutate(seed, rng);
    v1::GenerateRequest request;
    request.ParseFromString(seed);
    for (size_t i = 0, count = 1 + random_below(rng, 3); i < count; ++i) mutate_one_field(request, mutator, rng);
    return request.SerializeAsString();
  };
  const ModelConfig config = micro_config();
  target.parse = [config](const std::string& path) {
    v1::GenerateRequest request;
    if (!request.ParseFromString(read_whole_file(path))) {
      throw InputError("not a serialized GenerateRequest (gRPC answers INTERNAL before the handler runs)");
    }
    validate_generate_request(request, config, /*max_sequences=*/65536);
  };
  return target;
}

FuzzTarget make_weight_chunks_target(const std::string& work_folder) {
  torch::set_num_threads(1);
  std::filesystem::create_directories(work_folder);
  torch::manual_seed(0);
  auto served = std::make_shared<CausalLM>(micro_config());
  auto standby = std::make_shared<CausalLM>(micro_config());
  FuzzTarget target;
  target.name = "weight_chunks";
  target.input_file_name = "load_weights.stream";
  target.seeds = {frame_chunks(upload_of(*served, 1, torch::kFloat32, 1 << 20)),
                  frame_chunks(upload_of(*served, 2, torch::kFloat32, 100)),
                  frame_chunks(upload_of(*served, 5, torch::kBFloat16, 64))};
  target.dictionary = {"F32", "BF16", "F16", "I64", "model.norm.weight", "lm_head.weight",
                       std::string("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11),
                       std::string("\x28\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11),
                       std::string("\x30\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10), std::string("\x48\x01", 2)};
  // Mostly whole uploads with chunks changed (a field set to an extreme value),
  // dropped, repeated or swapped; the rest byte-level mutations of the stream.
  target.make_input = [](const Mutator& mutator, Rng& rng) {
    const std::string& seed = mutator.seeds()[random_below(rng, mutator.seeds().size())];
    if (random_below(rng, 4) == 0) return mutator.mutate(seed, rng);
    std::vector<v1::WeightChunk> chunks = parse_chunks(seed);
    for (size_t i = 0, count = 1 + random_below(rng, 3); i < count && !chunks.empty(); ++i) {
      const size_t at = random_below(rng, chunks.size());
      switch (random_below(rng, 5)) {
        case 0: chunks.erase(chunks.begin() + static_cast<std::ptrdiff_t>(at)); break;
        case 1: chunks.insert(chunks.begin() + static_cast<std::ptrdiff_t>(random_below(rng, chunks.size() + 1)), chunks[at]); break;
        case 2: std::swap(chunks[at], chunks[random_below(rng, chunks.size())]); break;
        default: mutate_one_field(chunks[at], mutator, rng); break;
      }
    }
    return frame_chunks(chunks);
  };
  target.parse = [served, standby](const std::string& path) {
    const std::string stream = read_whole_file(path);
    // Odd-sized streams write into the standby in place, even ones stage: both paths of WeightUpload.
    WeightUpload upload(*served, /*current_version=*/0, stream.size() % 2 ? standby.get() : nullptr);
    size_t at = 0;
    while (at < stream.size()) {
      if (stream.size() - at < 4) throw InputError("stream ends inside a chunk's size");
      uint32_t size = 0;
      for (int i = 3; i >= 0; --i) size = (size << 8) | static_cast<uint8_t>(stream[at + static_cast<size_t>(i)]);
      at += 4;
      if (size > stream.size() - at) throw InputError("chunk runs past the stream");
      v1::WeightChunk chunk;
      if (!chunk.ParseFromArray(stream.data() + at, static_cast<int>(size))) {
        throw InputError("not a serialized WeightChunk (gRPC fails the stream before the handler runs)");
      }
      at += size;
      const Status added = upload.add(chunk);
      if (!added.ok()) throw InputError(added.message());
    }
    CausalLM model{nullptr};
    const Status finished = upload.finish(&model);
    if (!finished.ok()) throw InputError(finished.message());
  };
  return target;
}

}  // namespace deltarl::fuzz
