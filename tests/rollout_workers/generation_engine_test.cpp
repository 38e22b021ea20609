// GenerationEngine's boundary: nothing thrown on the engine thread ends the
// process. A callback that throws, a prefill or a step that fails ends the
// requests concerned with kFailed and a Status naming the cause, and the next
// request is served as if nothing happened.
#include "rollout_workers/generation_engine.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <atomic>
#include <future>
#include <stdexcept>
#include <thread>

#include "core/input_error.h"
#include "tests/rollout_workers/dominant_output_rows.h"

namespace deltarl {
namespace {

struct Outcome {
  std::vector<FinishedSequence> sequences;
  GenerationRequest::End end = GenerationRequest::End::kCompleted;
  Status failure;
};

class GenerationEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(11);
    ModelConfig config = ModelConfig::preset("tiny", /*vocab_size=*/512);
    config.max_position_embeddings = 64;
    config.tie_word_embeddings = false;
    model_ = CausalLM(config);
    model_->eval();
  }

  void start_engine() {
    policy_ = std::make_shared<VersionedPolicy>(model_, /*version=*/0);
    EngineOptions options;
    options.max_batch_sequences = 4;
    options.kv_cache_bytes = 64 << 20;
    engine_ = std::make_unique<GenerationEngine>(policy_, options);
  }

  static std::vector<SequenceRequest> sequences(int count) {
    std::vector<SequenceRequest> result;
    for (int i = 0; i < count; ++i) result.push_back({{20, 21, 22 + i}, /*seed=*/7u + i, /*tag=*/uint64_t(i)});
    return result;
  }

  // Runs a request to its end; `on_sequence` runs before each sequence is recorded.
  Outcome run(int count, std::function<void(const FinishedSequence&)> on_sequence = {},
              std::function<void()> on_end = {}) {
    GenerationOptions options;
    options.sampling.temperature = 1.0;
    options.max_new_tokens = 6;
    auto outcome = std::make_shared<Outcome>();
    auto ended = std::make_shared<std::promise<void>>();
    engine_->submit(
        sequences(count), options,
        [outcome, on_sequence](FinishedSequence finished) {
          if (on_sequence) on_sequence(finished);
          outcome->sequences.push_back(std::move(finished));
        },
        [outcome, ended, on_end](GenerationRequest::End end, const Status& failure) {
          outcome->end = end;
          outcome->failure = failure;
          ended->set_value();
          if (on_end) on_end();
        });
    EXPECT_EQ(ended->get_future().wait_for(std::chrono::seconds(60)), std::future_status::ready);
    return *outcome;
  }

  void expect_served_normally() {
    const Outcome next = run(3);
    EXPECT_EQ(next.end, GenerationRequest::End::kCompleted) << next.failure.to_string();
    EXPECT_EQ(next.sequences.size(), 3u);
    for (const auto& sequence : next.sequences) EXPECT_EQ(sequence.generated.tokens.size(), 6u);
  }

  CausalLM model_{nullptr};
  std::shared_ptr<VersionedPolicy> policy_;
  std::unique_ptr<GenerationEngine> engine_;
};

TEST_F(GenerationEngineTest, AnOnSequenceThatThrowsFailsItsRequestAndTheNextIsServed) {
  start_engine();
  const Outcome failed = run(3, [](const FinishedSequence&) { throw std::runtime_error("the verifier exploded"); });
  EXPECT_EQ(failed.end, GenerationRequest::End::kFailed);
  EXPECT_EQ(failed.failure.code(), StatusCode::kInternal);
  EXPECT_NE(failed.failure.message().find("the verifier exploded"), std::string::npos) << failed.failure.message();
  EXPECT_TRUE(failed.sequences.empty());  // the first threw; the others were dropped
  expect_served_normally();
}

TEST_F(GenerationEngineTest, AnInputErrorInACallbackIsTheRequestsBadInput) {
  start_engine();
  std::atomic<int> calls{0};
  const Outcome failed = run(3, [&](const FinishedSequence&) {
    if (++calls == 2) throw InputError("token id 9 is outside the vocabulary [0, 5)");
  });
  EXPECT_EQ(failed.end, GenerationRequest::End::kFailed);
  EXPECT_EQ(failed.failure.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(failed.failure.message().find("outside the vocabulary"), std::string::npos);
  EXPECT_EQ(failed.sequences.size(), 1u);  // delivered before the failure
  expect_served_normally();
}

TEST_F(GenerationEngineTest, AnOnEndThatThrowsIsContained) {
  start_engine();
  const Outcome ended = run(2, {}, [] { throw std::runtime_error("the reactor is gone"); });
  EXPECT_EQ(ended.end, GenerationRequest::End::kCompleted);
  expect_served_normally();
}

TEST_F(GenerationEngineTest, AFailedPrefillFailsItsRequestWithTheCause) {
  start_engine();
  // An embedding of 4 rows: the prompts' ids (20..) are out of its range, so the
  // prefill's forward throws (c10::Error) on the engine thread.
  torch::Tensor embedding = model_->model->embed_tokens->weight;
  const torch::Tensor full = embedding.data();
  embedding.set_data(full.narrow(0, 0, 4).clone());
  const Outcome failed = run(3);
  embedding.set_data(full);
  EXPECT_EQ(failed.end, GenerationRequest::End::kFailed);
  EXPECT_EQ(failed.failure.code(), StatusCode::kInternal);
  EXPECT_NE(failed.failure.message().find("prefill failed"), std::string::npos) << failed.failure.message();
  expect_served_normally();
}

TEST_F(GenerationEngineTest, AFailedStepFailsItsRequestWithTheCause) {
  // Every first token is sampled from rows 256..511 (for certain, see
  // dominant_output_rows.h), but the embedding has 256 rows: the prefill runs,
  // the step that feeds the sampled token back throws.
  testing_support::make_output_rows_dominant(model_, /*first_row=*/256);
  ASSERT_FALSE(HasFatalFailure());
  start_engine();
  torch::Tensor embedding = model_->model->embed_tokens->weight;
  const torch::Tensor full = embedding.data();
  embedding.set_data(full.narrow(0, 0, 256).clone());
  const Outcome failed = run(3);
  embedding.set_data(full);
  EXPECT_EQ(failed.end, GenerationRequest::End::kFailed);
  EXPECT_EQ(failed.failure.code(), StatusCode::kInternal);
  EXPECT_NE(failed.failure.message().find("generation step failed"), std::string::npos) << failed.failure.message();
  EXPECT_TRUE(failed.sequences.empty());
  expect_served_normally();
}

// An idle engine holds no version's group: once its last sequence has ended,
// the model an install() retires can be taken for the next upload. (The
// latest group used to outlive its sequences, holding the old model and its
// KV cache until the next request came.)
TEST_F(GenerationEngineTest, AnIdleEngineHoldsNoModelSoTheRetiredOneCanBeReused) {
  start_engine();
  expect_served_normally();
  CausalLM next(model_->config());
  next->eval();
  policy_->install(next, /*version=*/1);
  std::shared_ptr<CausalLM> retired;
  // The engine drops the group just after the request's end is delivered.
  for (int attempt = 0; attempt < 500 && retired == nullptr; ++attempt) {
    retired = policy_->take_retired();
    if (retired == nullptr) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(retired, nullptr) << "the idle engine still holds version 0's model";
  expect_served_normally();  // on version 1, in a new group
}

}  // namespace
}  // namespace deltarl
