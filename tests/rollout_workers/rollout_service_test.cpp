// A real rollout worker on 127.0.0.1 (ephemeral port) with a tiny model and the
// CountDown tokenizer, driven through the generated gRPC stub.
#include "rollout_workers/rollout_server.h"

#include <gtest/gtest.h>

#include <grpcpp/grpcpp.h>
#include <torch/torch.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "core/file_system.h"
#include "core/model/hf_checkpoint.h"
#include "core/model/token_log_probs.h"
#include "core/crc32c.h"
#include "core/preset_files.h"
#include "tests/support/greedy_margin.h"
#include "trainer/rollout/weight_publisher.h"

namespace deltarl {
namespace {

class RolloutServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    folder_ = new std::string(make_temporary_directory("deltarl_worker_"));
    torch::manual_seed(5);
    ModelConfig config = ModelConfig::preset("tiny");
    config.max_position_embeddings = 96;
    CausalLM model(config);
    save_pretrained(model, *folder_);
    copy_file(countdown_tokenizer_path(), join_path(*folder_, "tokenizer.json"));
    RolloutServerOptions options;
    options.model_folder = *folder_;
    options.max_batch_sequences = 8;
    server_ = new RolloutServer(options);
  }
  static void TearDownTestSuite() {
    delete server_;
    remove_tree(*folder_);
    delete folder_;
  }
  void SetUp() override {
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    stub_ = v1::RolloutService::NewStub(channel_);
  }

  static v1::GenerateRequest request(int prompts, int samples, int max_new_tokens, uint64_t seed = 1) {
    v1::GenerateRequest r;
    for (int p = 0; p < prompts; ++p) {
      v1::Prompt* prompt = r.add_prompts();
      prompt->set_group_id(100 + p);
      for (int t = 0; t < 5 + p; ++t) prompt->add_token_ids(20 + 7 * t + p);
    }
    r.set_samples_per_prompt(samples);
    r.mutable_sampling()->set_temperature(1.0);
    r.mutable_sampling()->set_max_new_tokens(max_new_tokens);
    r.mutable_sampling()->set_seed(seed);
    return r;
  }

  std::vector<v1::Completion> run(const v1::GenerateRequest& r, grpc::Status* status,
                                  const std::string& token = "") {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    auto reader = stub_->Generate(&context, r);
    std::vector<v1::Completion> completions;
    v1::Completion completion;
    while (reader->Read(&completion)) completions.push_back(completion);
    *status = reader->Finish();
    return completions;
  }

  static std::string* folder_;
  static RolloutServer* server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::RolloutService::Stub> stub_;
};

std::string* RolloutServiceTest::folder_ = nullptr;
RolloutServer* RolloutServiceTest::server_ = nullptr;

TEST_F(RolloutServiceTest, StatusReportsVersionAndHealth) {
  grpc::ClientContext context;
  v1::WorkerStatus status;
  ASSERT_TRUE(stub_->GetStatus(&context, v1::GetStatusRequest(), &status).ok());
  EXPECT_EQ(status.policy_version(), 0u);
  EXPECT_TRUE(status.healthy());
  EXPECT_EQ(status.model(), "qwen2 4x128 vocab 512");
  EXPECT_GT(status.kv_blocks(), 0);
  EXPECT_LE(status.free_kv_blocks(), status.kv_blocks());
}

// The engine's KV-cache counters travel in WorkerStatus: a run of three
// prompt groups prefills one row per group (the server's engine is shared by
// the tests, so at least three more than before).
TEST_F(RolloutServiceTest, StatusCarriesTheKvCacheCounters) {
  const auto ask = [&] {
    grpc::ClientContext context;
    v1::WorkerStatus status;
    EXPECT_TRUE(stub_->GetStatus(&context, v1::GetStatusRequest(), &status).ok());
    return status;
  };
  const v1::WorkerStatus before = ask();
  grpc::Status status;
  EXPECT_EQ(run(request(3, 2, 4), &status).size(), 6u);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const v1::WorkerStatus after = ask();
  EXPECT_GE(after.prefill_rows(), before.prefill_rows() + 3);
  EXPECT_GE(after.admission_waits(), before.admission_waits());
  EXPECT_GE(after.preemptions(), before.preemptions());
  EXPECT_EQ(after.kv_blocks(), before.kv_blocks());
}

TEST_F(RolloutServiceTest, EveryGroupAndSampleArrivesOnceWithTheLearnersLogProbs) {
  grpc::Status status;
  const v1::GenerateRequest sent = request(3, 4, 12);
  const auto completions = run(sent, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(completions.size(), 12u);
  std::set<std::pair<uint64_t, int>> seen;
  CausalLM learner = load_pretrained(*folder_);
  learner->eval();
  torch::NoGradGuard no_grad;
  for (const auto& c : completions) {
    EXPECT_TRUE(seen.insert({c.group_id(), c.sample_index()}).second) << "duplicate";
    EXPECT_EQ(c.length(), c.token_ids_size());
    ASSERT_EQ(c.log_probs_size(), c.token_ids_size());
    EXPECT_EQ(c.policy_version(), 0u);
    EXPECT_NE(c.finish_reason(), v1::FINISH_REASON_UNSPECIFIED);
    // Recompute log π(token) as the learner will: prompt + response through the model.
    const v1::Prompt& prompt = sent.prompts(static_cast<int>(c.group_id() - 100));
    std::vector<int64_t> ids(prompt.token_ids().begin(), prompt.token_ids().end());
    ids.insert(ids.end(), c.token_ids().begin(), c.token_ids().end());
    const torch::Tensor input = torch::tensor(ids).unsqueeze(0);
    const torch::Tensor logits = learner->forward(input);
    const int64_t p = prompt.token_ids_size(), n = c.token_ids_size();
    const torch::Tensor lp = token_log_probs(logits.narrow(1, p - 1, n), input.narrow(1, p, n), 1.0)[0];
    for (int64_t t = 0; t < n; ++t) EXPECT_NEAR(c.log_probs(static_cast<int>(t)), lp[t].item<float>(), 1e-4);
  }
  EXPECT_EQ(seen.size(), 12u);
}

TEST_F(RolloutServiceTest, SameSeedSameTokensAndRewardsAreScored) {
  grpc::Status status;
  v1::GenerateRequest r = request(1, 2, 10, /*seed=*/42);
  r.mutable_prompts(0)->set_task("countdown");
  r.mutable_prompts(0)->set_task_payload_json(R"({"numbers": [3, 5], "target": 8})");
  auto by_sample = [](std::vector<v1::Completion> completions) {
    std::map<int, std::vector<int32_t>> tokens;
    for (const auto& c : completions) tokens[c.sample_index()] = {c.token_ids().begin(), c.token_ids().end()};
    return tokens;
  };
  const auto first = run(r, &status);
  ASSERT_TRUE(status.ok());
  const auto second = run(r, &status);
  EXPECT_EQ(by_sample(first), by_sample(second));
  EXPECT_NE(by_sample(first)[0], by_sample(first)[1]);  // seed + k differs per sample
  for (const auto& c : first) {
    EXPECT_FALSE(c.reward_outcome().empty());
    EXPECT_EQ(c.reward(), c.reward_outcome() == "correct" ? 1.0 : 0.0);
  }
  r.mutable_sampling()->set_seed(43);
  EXPECT_NE(by_sample(run(r, &status)), by_sample(first));
}

TEST_F(RolloutServiceTest, BadRequestsGetInvalidArgumentNamingTheField) {
  auto expect_invalid = [&](v1::GenerateRequest r, const std::string& fragment,
                            grpc::StatusCode code = grpc::StatusCode::INVALID_ARGUMENT) {
    grpc::Status status;
    const auto completions = run(r, &status);
    EXPECT_TRUE(completions.empty());
    EXPECT_EQ(status.error_code(), code) << status.error_message();
    EXPECT_NE(status.error_message().find(fragment), std::string::npos) << status.error_message();
  };
  v1::GenerateRequest r = request(1, 1, 5);
  r.mutable_prompts(0)->set_token_ids(2, 512);
  expect_invalid(r, "prompts[0].token_ids has 512, outside the vocabulary");
  r = request(1, 1, 95);
  expect_invalid(r, "exceeds the context of 96");
  r = request(1, 1, 5);
  r.mutable_sampling()->set_temperature(1000);
  expect_invalid(r, "sampling.temperature");
  r = request(1, 1, 5);
  r.mutable_sampling()->set_top_p(1.5);
  expect_invalid(r, "top_p");
  r = request(1, 0, 5);
  expect_invalid(r, "samples_per_prompt");
  r = request(1, 1, 0);
  expect_invalid(r, "max_new_tokens");
  r = request(1, 1, 5);
  r.mutable_prompts(0)->set_task("chess");
  expect_invalid(r, "prompts[0].task \"chess\" is unknown");
  r = request(1, 1, 5);
  r.mutable_prompts(0)->set_task("countdown");
  r.mutable_prompts(0)->set_task_payload_json("{oops");
  expect_invalid(r, "task_payload_json is not valid JSON");
  r = request(1, 1, 5);
  r.clear_prompts();
  expect_invalid(r, "prompts is empty");
  r = request(1, 1, 5);
  r.set_min_policy_version(3);
  expect_invalid(r, "serves policy version 0", grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(RolloutServiceTest, ACancelledStreamEndsAndTheWorkerKeepsServing) {
  grpc::ClientContext context;
  auto reader = stub_->Generate(&context, request(8, 8, 60));
  v1::Completion completion;
  ASSERT_TRUE(reader->Read(&completion));
  context.TryCancel();
  while (reader->Read(&completion)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  grpc::Status status;
  EXPECT_EQ(run(request(1, 2, 4), &status).size(), 2u);
  EXPECT_TRUE(status.ok());
}

TEST_F(RolloutServiceTest, ASequenceIsStreamedTheMomentItFinishes) {
  // Greedy outputs of two prompts, computed locally; a stop token that only the
  // first emits, early, makes it finish long before the second.
  CausalLM local = load_pretrained(*folder_);
  local->eval();
  const std::vector<int64_t> a = {20, 27, 34, 41, 48}, b = {21, 28, 35, 42, 49, 56};
  GenerationOptions greedy;
  greedy.sampling.temperature = 0;
  greedy.max_new_tokens = 40;
  greedy.stop_token_ids = local->config().eos_token_ids;
  const auto free_run = generate(local, {a, b}, {0, 0}, greedy);
  int64_t stop = -1;
  for (size_t t = 0; t < 4 && t < free_run[0].tokens.size() && stop < 0; ++t) {
    const int64_t candidate = free_run[0].tokens[t];
    if (std::find(free_run[1].tokens.begin(), free_run[1].tokens.end(), candidate) == free_run[1].tokens.end()) {
      stop = candidate;
    }
  }
  if (stop < 0 || free_run[1].tokens.size() < 20) GTEST_SKIP() << "this random model gives no usable stop token";
  v1::GenerateRequest request;
  for (const auto& prompt : {a, b}) {
    v1::Prompt* p = request.add_prompts();
    p->set_group_id(static_cast<uint64_t>(request.prompts_size()));
    for (int64_t id : prompt) p->add_token_ids(static_cast<int32_t>(id));
  }
  request.set_samples_per_prompt(1);
  request.mutable_sampling()->set_temperature(0);
  request.mutable_sampling()->set_max_new_tokens(40);
  request.mutable_sampling()->add_stop_token_ids(static_cast<int32_t>(stop));
  grpc::Status status;
  const auto completions = run(request, &status);
  ASSERT_TRUE(status.ok());
  ASSERT_EQ(completions.size(), 2u);
  EXPECT_EQ(completions[0].group_id(), 1u);  // the short one first
  EXPECT_EQ(completions[0].finish_reason(), v1::FINISH_REASON_STOP);
  EXPECT_LT(completions[0].length(), completions[1].length());
}

TEST_F(RolloutServiceTest, ANewRequestJoinsARunningBatch) {
  // A long greedy generation (checked locally not to stop early) is running when
  // a short request arrives: with continuous batching the short one is admitted
  // into the running batch and finishes first.
  CausalLM local = load_pretrained(*folder_);
  local->eval();
  const std::vector<int64_t> long_prompt = {30, 31, 32};
  GenerationOptions greedy;
  greedy.sampling.temperature = 0;
  greedy.max_new_tokens = 80;
  greedy.stop_token_ids = local->config().eos_token_ids;
  if (generate(local, {long_prompt}, {0}, greedy)[0].tokens.size() < 80) GTEST_SKIP() << "greedy run stops early";
  auto make = [](const std::vector<int64_t>& ids, int max_new_tokens) {
    v1::GenerateRequest request;
    v1::Prompt* prompt = request.add_prompts();
    for (int64_t id : ids) prompt->add_token_ids(static_cast<int32_t>(id));
    request.set_samples_per_prompt(1);
    request.mutable_sampling()->set_temperature(0);
    request.mutable_sampling()->set_max_new_tokens(max_new_tokens);
    return request;
  };
  std::atomic<int> order{0};
  int long_finished_at = -1, short_finished_at = -1;
  std::thread long_stream([&] {
    grpc::Status status;
    run(make(long_prompt, 80), &status);
    long_finished_at = order++;
  });
  for (int waited = 0; waited < 200; ++waited) {  // until the long one is decoding
    grpc::ClientContext context;
    v1::WorkerStatus worker;
    stub_->GetStatus(&context, v1::GetStatusRequest(), &worker);
    if (worker.running_sequences() > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  grpc::Status status;
  EXPECT_EQ(run(make({40, 41}, 3), &status).size(), 1u);
  short_finished_at = order++;
  long_stream.join();
  EXPECT_LT(short_finished_at, long_finished_at);
}

TEST(RolloutServiceAuth, TheTokenIsRequiredWhenSet) {
  const std::string folder = make_temporary_directory("deltarl_worker_auth_");
  torch::manual_seed(6);
  CausalLM model(ModelConfig::preset("tiny"));
  save_pretrained(model, folder);
  copy_file(countdown_tokenizer_path(), join_path(folder, "tokenizer.json"));
  RolloutServerOptions options;
  options.model_folder = folder;
  options.auth_token = "s3cret";
  {
    RolloutServer server(options);
    auto stub = v1::RolloutService::NewStub(grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));
    v1::WorkerStatus status;
    grpc::ClientContext anonymous;
    EXPECT_EQ(stub->GetStatus(&anonymous, v1::GetStatusRequest(), &status).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    grpc::ClientContext wrong;
    wrong.AddMetadata("authorization", "Bearer nope");
    EXPECT_EQ(stub->GetStatus(&wrong, v1::GetStatusRequest(), &status).error_code(), grpc::StatusCode::UNAUTHENTICATED);
    grpc::ClientContext right;
    right.AddMetadata("authorization", "Bearer s3cret");
    EXPECT_TRUE(stub->GetStatus(&right, v1::GetStatusRequest(), &status).ok());
  }
  remove_tree(folder);
}

}  // namespace
}  // namespace deltarl

namespace deltarl {
namespace {

// A worker of its own, since these tests change its version.
class LoadWeightsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = make_temporary_directory("deltarl_worker_weights_");
    torch::manual_seed(7);
    CausalLM model(ModelConfig::preset("tiny"));
    save_pretrained(model, folder_);
    copy_file(countdown_tokenizer_path(), join_path(folder_, "tokenizer.json"));
    RolloutServerOptions options;
    options.model_folder = folder_;
    server_ = std::make_unique<RolloutServer>(options);
    stub_ = v1::RolloutService::NewStub(grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    server_.reset();
    remove_tree(folder_);
  }
  uint64_t served_version() {
    grpc::ClientContext context;
    v1::WorkerStatus status;
    EXPECT_TRUE(stub_->GetStatus(&context, v1::GetStatusRequest(), &status).ok());
    return status.policy_version();
  }
  // The served model's greedy completion of the prompt {5, 60, 61, 62}.
  v1::Completion greedy_completion(int max_new_tokens, uint64_t min_version = 0) {
    v1::GenerateRequest request;
    v1::Prompt* prompt = request.add_prompts();
    prompt->set_group_id(1);
    for (int id : {5, 60, 61, 62}) prompt->add_token_ids(id);
    request.set_samples_per_prompt(1);
    request.mutable_sampling()->set_temperature(0);
    request.mutable_sampling()->set_max_new_tokens(max_new_tokens);
    request.set_min_policy_version(min_version);
    grpc::ClientContext context;
    auto stream = stub_->Generate(&context, request);
    v1::Completion completion;
    EXPECT_TRUE(stream->Read(&completion));
    EXPECT_TRUE(stream->Finish().ok());
    return completion;
  }
  Status send(const std::vector<v1::WeightChunk>& chunks) {
    grpc::ClientContext context;
    v1::LoadWeightsReply reply;
    auto writer = stub_->LoadWeights(&context, &reply);
    for (const auto& chunk : chunks) {
      if (!writer->Write(chunk)) break;
    }
    writer->WritesDone();
    const grpc::Status status = writer->Finish();
    return status.ok() ? Status() : Status(StatusCode::kInternal, std::to_string(status.error_code()) + ": " + status.error_message());
  }

  std::string folder_;
  std::unique_ptr<RolloutServer> server_;
  std::unique_ptr<v1::RolloutService::Stub> stub_;
};

TEST_F(LoadWeightsTest, NewWeightsChangeTheLogitsExactlyAndTagCompletions) {
  // Version 1 fills the standby allocated at start; version 2 refills the model version 1 retired.
  for (uint64_t version : {1u, 2u}) {
    torch::manual_seed(98 + version);
    CausalLM fresh(ModelConfig::preset("tiny"));
    fresh->eval();
    v1::LoadWeightsReply reply;
    PublishOptions options;
    options.chunk_bytes = 10000;  // several chunks per large tensor
    const Status published = publish_weights(*stub_, WeightSnapshot(fresh), version, options, &reply);
    ASSERT_TRUE(published.ok()) << published.to_string();
    EXPECT_EQ(reply.version(), version);
    EXPECT_EQ(reply.tensors(), fresh->named_parameters().size());
    EXPECT_EQ(served_version(), version);

    const v1::Completion completion = greedy_completion(6, version);
    EXPECT_EQ(completion.policy_version(), version);
    // Exactly the new model's greedy tokens and log-probabilities.
    GenerationOptions greedy;
    greedy.sampling.temperature = 0;
    greedy.max_new_tokens = 6;
    greedy.stop_token_ids = fresh->config().eos_token_ids;
    const auto expected = generate(fresh, {{5, 60, 61, 62}}, {0}, greedy)[0];
    EXPECT_EQ(std::vector<int64_t>(completion.token_ids().begin(), completion.token_ids().end()), expected.tokens);
    // The worker's packed products round differently from this unpacked model;
    // equal tokens must not hang on that (log-probs agree to 1e-5 below).
    EXPECT_GT(testing_support::smallest_greedy_margin(fresh, {5, 60, 61, 62}, expected.tokens), 1e-3);
    for (size_t t = 0; t < expected.log_probs.size(); ++t) {
      EXPECT_NEAR(completion.log_probs(static_cast<int>(t)), expected.log_probs[t], 1e-5);
    }
  }
}

TEST_F(LoadWeightsTest, ABatchRunningDuringAnUploadFinishesOnItsOwnVersion) {
  v1::GenerateRequest request;
  for (int g = 0; g < 4; ++g) {
    v1::Prompt* prompt = request.add_prompts();
    prompt->set_group_id(static_cast<uint64_t>(g));
    for (int id : {5, 60 + g, 61, 62}) prompt->add_token_ids(id);
  }
  request.set_samples_per_prompt(4);
  request.mutable_sampling()->set_temperature(1.0);
  request.mutable_sampling()->set_max_new_tokens(100);
  grpc::ClientContext context;
  auto stream = stub_->Generate(&context, request);
  v1::Completion completion;
  ASSERT_TRUE(stream->Read(&completion));  // generation under version 0 is under way
  torch::manual_seed(5);
  CausalLM fresh(ModelConfig::preset("tiny"));
  ASSERT_TRUE(publish_weights(*stub_, WeightSnapshot(fresh), 1, {}).ok());
  std::set<uint64_t> versions{completion.policy_version()};
  int received = 1;
  while (stream->Read(&completion)) {
    versions.insert(completion.policy_version());
    ++received;
  }
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(received, 16);
  // The default engine batch (64) holds all 16, started under version 0: every
  // completion says 0, none is a mixture reported as 1.
  EXPECT_EQ(versions, std::set<uint64_t>{0});
  EXPECT_EQ(served_version(), 1u);
}

TEST_F(LoadWeightsTest, StaleCorruptOrIncompleteUploadsChangeNothing) {
  torch::manual_seed(100);
  CausalLM fresh(ModelConfig::preset("tiny"));
  ASSERT_TRUE(publish_weights(*stub_, WeightSnapshot(fresh), 2, {}).ok());
  // Not newer:
  EXPECT_EQ(publish_weights(*stub_, WeightSnapshot(fresh), 2, {}).code(), StatusCode::kFailedPrecondition);

  // One tensor, marked last: the rest are missing.
  const torch::Tensor norm = fresh->model->norm->weight.detach().contiguous();
  v1::WeightChunk chunk;
  chunk.set_version(3);
  chunk.set_tensor_name("model.norm.weight");
  chunk.set_dtype("F32");
  chunk.add_shape(norm.size(0));
  chunk.set_tensor_bytes(norm.numel() * 4);
  chunk.set_data(norm.data_ptr(), norm.numel() * 4);
  chunk.set_crc32c(crc32c(norm.data_ptr(), norm.numel() * 4));
  chunk.set_last_chunk(true);
  Status status = send({chunk});
  EXPECT_NE(status.message().find("incomplete upload"), std::string::npos) << status.message();
  // A wrong checksum.
  chunk.set_crc32c(chunk.crc32c() ^ 1);
  chunk.set_last_chunk(false);
  chunk.set_tensor_name("model.norm.weight");
  status = send({chunk});  // no last chunk either
  EXPECT_NE(status.message().find("ended before a chunk marked last_chunk"), std::string::npos) << status.message();
  // Unknown tensor and wrong shape are refused as they arrive.
  chunk.set_tensor_name("model.extra.weight");
  EXPECT_NE(send({chunk}).message().find("not a parameter of the served model"), std::string::npos);
  chunk.set_tensor_name("model.norm.weight");
  chunk.set_shape(0, 3);
  EXPECT_NE(send({chunk}).message().find("shape does not match"), std::string::npos);
  // Every tensor whole, one checksum wrong: DATA_LOSS, nothing installed.
  std::vector<v1::WeightChunk> all;
  for (const auto& item : fresh->named_parameters()) {
    const torch::Tensor t = item.value().detach().contiguous();
    v1::WeightChunk whole;
    whole.set_version(4);
    whole.set_tensor_name(item.key());
    whole.set_dtype("F32");
    for (int64_t d : t.sizes()) whole.add_shape(d);
    whole.set_tensor_bytes(t.numel() * 4);
    whole.set_data(t.data_ptr(), t.numel() * 4);
    whole.set_crc32c(crc32c(t.data_ptr(), t.numel() * 4));
    all.push_back(whole);
  }
  all.back().set_last_chunk(true);
  all.front().set_crc32c(all.front().crc32c() + 1);
  status = send(all);
  EXPECT_NE(status.message().find(std::to_string(grpc::StatusCode::DATA_LOSS) + ": tensor"), std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find("CRC-32C mismatch"), std::string::npos);
  EXPECT_EQ(served_version(), 2u);
  all.front().set_crc32c(all.front().crc32c() - 1);
  EXPECT_TRUE(send(all).ok());
  EXPECT_EQ(served_version(), 4u);
}

// Chunks straight into the standby (matching dtype) or staged and converted
// (another dtype); out of order is fine, a gap left by overlapping chunks is not.
TEST_F(LoadWeightsTest, ChunksInAnyOrderOrDtypeAndGapsAreCaught) {
  torch::manual_seed(300);
  CausalLM fresh(ModelConfig::preset("tiny"));
  auto chunks_of = [&](uint64_t version, torch::ScalarType dtype) {
    std::vector<v1::WeightChunk> chunks;
    for (const auto& item : fresh->named_parameters()) {
      const torch::Tensor t = item.value().detach().to(dtype).contiguous();
      const auto* bytes = static_cast<const char*>(t.data_ptr());
      const size_t size = t.numel() * t.element_size(), half = size / 2;
      // Second half first.
      for (size_t offset : {half, size_t{0}}) {
        v1::WeightChunk chunk;
        chunk.set_version(version);
        chunk.set_tensor_name(item.key());
        chunk.set_dtype(dtype == torch::kBFloat16 ? "BF16" : "F32");
        for (int64_t d : t.sizes()) chunk.add_shape(d);
        chunk.set_tensor_bytes(size);
        chunk.set_offset(offset);
        chunk.set_data(bytes + offset, offset == 0 ? half : size - half);
        chunk.set_crc32c(crc32c(bytes, size));
        chunks.push_back(chunk);
      }
    }
    chunks.back().set_last_chunk(true);
    return chunks;
  };
  auto greedy_tokens = [&]() {
    const v1::Completion completion = greedy_completion(8);
    return std::vector<int64_t>(completion.token_ids().begin(), completion.token_ids().end());
  };
  GenerationOptions greedy;
  greedy.sampling.temperature = 0;
  greedy.max_new_tokens = 8;
  greedy.stop_token_ids = fresh->config().eos_token_ids;

  Status status = send(chunks_of(1, torch::kFloat32));  // into the standby
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(served_version(), 1u);
  const std::vector<int64_t> fresh_tokens = generate(fresh, {{5, 60, 61, 62}}, {0}, greedy)[0].tokens;
  EXPECT_EQ(greedy_tokens(), fresh_tokens);
  // Equal tokens must not hang on the packed products' rounding.
  EXPECT_GT(testing_support::smallest_greedy_margin(fresh, {5, 60, 61, 62}, fresh_tokens), 1e-3);

  // BF16 into an F32 worker: staged, then converted.
  status = send(chunks_of(2, torch::kBFloat16));
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(served_version(), 2u);
  CausalLM rounded(fresh->config());
  {
    torch::NoGradGuard no_grad;
    auto from = fresh->named_parameters();
    for (auto& item : rounded->named_parameters()) item.value().copy_(from[item.key()].to(torch::kBFloat16));
  }
  const auto served_tokens = greedy_tokens();
  EXPECT_EQ(served_tokens, generate(rounded, {{5, 60, 61, 62}}, {0}, greedy)[0].tokens);

  // New weights with the first half of a tensor sent twice and the second
  // never: the byte count adds up, but the gap holds the standby's old bytes
  // (version 1's: the same as `fresh` so far, hence the change) and the
  // checksum says so. Nothing changes.
  {
    torch::NoGradGuard no_grad;
    for (auto& parameter : fresh->parameters()) parameter.mul_(1.5);
  }
  auto gapped = chunks_of(3, torch::kFloat32);
  const std::string name = gapped.front().tensor_name();
  for (auto& chunk : gapped) {
    if (chunk.tensor_name() == name && chunk.offset() != 0) {
      const size_t first_half = chunk.tensor_bytes() / 2;
      const v1::WeightChunk* head = nullptr;
      for (const auto& other : gapped) {
        if (other.tensor_name() == name && other.offset() == 0) head = &other;
      }
      ASSERT_EQ(chunk.data().size(), first_half) << "the test wants an even split";
      chunk.set_offset(0);
      chunk.set_data(head->data());
    }
  }
  status = send(gapped);
  EXPECT_NE(status.message().find("CRC-32C mismatch"), std::string::npos) << status.message();
  EXPECT_EQ(served_version(), 2u);
  EXPECT_EQ(greedy_tokens(), served_tokens);
  // And the standby that upload scribbled on still takes the next one.
  status = send(chunks_of(4, torch::kFloat32));
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(greedy_tokens(), generate(fresh, {{5, 60, 61, 62}}, {0}, greedy)[0].tokens);
}

}  // namespace
}  // namespace deltarl
