// Rollout worker throughput over loopback gRPC against the same engine called
// in-process (the gRPC overhead) and against `generate()`, the batch-synchronous
// decoding loop (what continuous batching costs), and LoadWeights throughput.
//
//   rollout_bench [--batches 1,8,64] [--new-tokens 64] [--greedy] [--model DIR] [--upload]
//                 [--malloc-defaults]
//
// --upload also measures publishing ~1 GB of weights (the qwen2.5-0.5b
// architecture in bf16, random) to a worker over loopback. --malloc-defaults
// leaves glibc malloc as it is (core/tensor_memory_reuse.h), to measure that.
#include <torch/torch.h>

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <future>
#include <sstream>

#include "core/compute_threads.h"
#include "core/file_system.h"
#include "core/model/hf_checkpoint.h"
#include "core/model/text_generator.h"
#include "core/preset_files.h"
#include "core/tensor_memory_reuse.h"
#include "rollout_workers/generation_engine.h"
#include "rollout_workers/kv_cache_budget.h"
#include "rollout_workers/rollout_server.h"
#include "trainer/rollout/weight_publisher.h"

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::string make_model(const std::string& preset, torch::ScalarType dtype, uint64_t seed) {
  const std::string folder = deltarl::make_temporary_directory("deltarl_bench_");
  torch::manual_seed(seed);
  deltarl::ModelConfig config = deltarl::ModelConfig::preset(preset);
  config.tie_word_embeddings = true;
  deltarl::CausalLM model(config);
  deltarl::save_pretrained(model, folder, dtype);
  deltarl::copy_file(deltarl::countdown_tokenizer_path(), deltarl::join_path(folder, "tokenizer.json"));
  return folder;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> batches = {1, 8, 64};
  int64_t new_tokens = 64;
  bool upload = false, greedy = false, reuse_memory = true;
  std::string model_folder;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--upload") upload = true;
    else if (flag == "--greedy") greedy = true;
    else if (flag == "--malloc-defaults") reuse_memory = false;
    else if (flag == "--model" && i + 1 < argc) model_folder = argv[++i];
    else if (flag == "--new-tokens" && i + 1 < argc) new_tokens = std::stoll(argv[++i]);
    else if (flag == "--batches" && i + 1 < argc) {
      batches.clear();
      std::stringstream list(argv[++i]);
      for (std::string item; std::getline(list, item, ',');) batches.push_back(std::stoll(item));
    }
  }
  if (reuse_memory) deltarl::keep_freed_tensor_memory();  // as the deltarl binary does
  torch::set_num_threads(2);
  const bool own_model = model_folder.empty();
  const std::string folder = own_model ? make_model("small", torch::kFloat32, 1) : model_folder;
  deltarl::CausalLM local = deltarl::load_pretrained(folder);
  local->eval();
  local->prepare_inference(deltarl::LinearForm::kFused);
  deltarl::RolloutServerOptions server_options;
  server_options.model_folder = folder;
  server_options.max_batch_sequences = *std::max_element(batches.begin(), batches.end());
  deltarl::RolloutServer server(server_options);
  // The worker's engine without the server around it, on its own copy of the model.
  deltarl::EngineOptions engine_options;
  engine_options.max_batch_sequences = server_options.max_batch_sequences;
  engine_options.kv_cache_bytes = deltarl::default_kv_cache_bytes(torch::kCPU, /*sharing=*/2);  // beside the server's
  deltarl::GenerationEngine engine(std::make_shared<deltarl::VersionedPolicy>(deltarl::load_pretrained(folder), 0),
                                   engine_options);
  auto stub = deltarl::v1::RolloutService::NewStub(grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));

  for (int64_t batch : batches) {
    std::vector<std::vector<int64_t>> prompts;
    std::vector<uint64_t> seeds;
    deltarl::v1::GenerateRequest request;
    for (int64_t b = 0; b < batch; ++b) {
      std::vector<int64_t> prompt;
      deltarl::v1::Prompt* wire = request.add_prompts();
      wire->set_group_id(static_cast<uint64_t>(b));
      for (int t = 0; t < 32; ++t) {
        prompt.push_back(3 + (b * 37 + t * 11) % 500);
        wire->add_token_ids(static_cast<int32_t>(prompt.back()));
      }
      prompts.push_back(prompt);
      seeds.push_back(static_cast<uint64_t>(b));
    }
    request.set_samples_per_prompt(1);
    request.mutable_sampling()->set_temperature(greedy ? 0.0 : 1.0);
    request.mutable_sampling()->set_max_new_tokens(static_cast<int32_t>(new_tokens));
    deltarl::GenerationOptions options;
    options.max_new_tokens = new_tokens;
    if (greedy) options.sampling.temperature = 0;
    std::vector<deltarl::SequenceRequest> sequences;
    for (int64_t b = 0; b < batch; ++b) sequences.push_back({prompts[static_cast<size_t>(b)], seeds[static_cast<size_t>(b)], static_cast<uint64_t>(b)});
    std::vector<double> in_process, over_grpc, engine_rates;
    int64_t tokens_in_process = 0, tokens_over_grpc = 0;
    for (int repeat = 0; repeat < 6; ++repeat) {  // the first of each is warm-up
      auto start = Clock::now();
      const auto results = deltarl::generate(local, prompts, seeds, options);
      const double local_seconds = seconds_since(start);
      deltarl::release_compute_threads();  // as a worker's threads do: one OpenMP pool at a time
      tokens_in_process = 0;
      for (const auto& r : results) tokens_in_process += static_cast<int64_t>(r.tokens.size());
      start = Clock::now();
      grpc::ClientContext context;
      auto stream = stub->Generate(&context, request);
      deltarl::v1::Completion completion;
      tokens_over_grpc = 0;
      while (stream->Read(&completion)) tokens_over_grpc += completion.length();
      if (!stream->Finish().ok()) return 1;
      const double grpc_seconds = seconds_since(start);
      start = Clock::now();
      std::atomic<int64_t> tokens_in_engine{0};
      std::promise<void> ended;
      engine.submit(
          sequences, options, [&](deltarl::FinishedSequence finished) { tokens_in_engine += static_cast<int64_t>(finished.generated.tokens.size()); },
          [&](deltarl::GenerationRequest::End, const deltarl::Status&) { ended.set_value(); });
      ended.get_future().wait();
      const double engine_seconds = seconds_since(start);
      if (repeat > 0) {
        in_process.push_back(tokens_in_process / local_seconds);
        over_grpc.push_back(tokens_over_grpc / grpc_seconds);
        engine_rates.push_back(tokens_in_engine / engine_seconds);
      }
    }
    // Medians of the five measured repeats.
    std::sort(in_process.begin(), in_process.end());
    std::sort(over_grpc.begin(), over_grpc.end());
    std::sort(engine_rates.begin(), engine_rates.end());
    std::cout << "{\"bench\": \"rollout\", \"greedy\": " << (greedy ? "true" : "false") << ", \"batch\": " << batch << ", \"new_tokens\": " << new_tokens
              << ", \"generate_tokens_per_s\": " << in_process[2] << ", \"engine_tokens_per_s\": " << engine_rates[2]
              << ", \"grpc_tokens_per_s\": " << over_grpc[2] << ", \"grpc_over_engine\": " << over_grpc[2] / engine_rates[2]
              << ", \"engine_over_generate\": " << engine_rates[2] / in_process[2] << "}" << std::endl;
  }

  if (upload) {
    const std::string big = make_model("qwen2.5-0.5b", torch::kBFloat16, 2);
    deltarl::RolloutServerOptions big_options;
    big_options.model_folder = big;
    deltarl::RolloutServer big_server(big_options);
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 << 20);
    arguments.SetMaxSendMessageSize(64 << 20);
    auto big_stub = deltarl::v1::RolloutService::NewStub(
        grpc::CreateCustomChannel(big_server.address(), grpc::InsecureChannelCredentials(), arguments));
    deltarl::CausalLM weights = deltarl::load_pretrained(big);
    deltarl::v1::LoadWeightsReply reply;
    const auto start = Clock::now();
    deltarl::PublishOptions publish;
    publish.chunk_bytes = size_t{16} << 20;
    const deltarl::Status status =
        deltarl::publish_weights(*big_stub, deltarl::WeightSnapshot(weights), 1, publish, &reply);
    const double seconds = seconds_since(start);
    if (!status.ok()) {
      std::cerr << status.to_string() << "\n";
      return 1;
    }
    std::cout << "{\"bench\": \"load_weights\", \"version\": 1, \"bytes\": " << reply.bytes() << ", \"seconds\": "
              << seconds << ", \"gb_per_s\": " << reply.bytes() / 1e9 / seconds << "}" << std::endl;
    // The second upload fills the model the first one retired, in place.
    const auto again = Clock::now();
    if (!deltarl::publish_weights(*big_stub, deltarl::WeightSnapshot(weights), 2, publish, &reply).ok()) return 1;
    const double again_seconds = seconds_since(again);
    std::cout << "{\"bench\": \"load_weights\", \"version\": 2, \"bytes\": " << reply.bytes() << ", \"seconds\": "
              << again_seconds << ", \"gb_per_s\": " << reply.bytes() / 1e9 / again_seconds << "}" << std::endl;
    deltarl::remove_tree(big);
  }
  if (own_model) deltarl::remove_tree(folder);
  return 0;
}
