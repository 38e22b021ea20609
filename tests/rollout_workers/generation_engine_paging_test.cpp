// The engine on its paged KV cache: a prompt group is prefilled once and its
// samples decode the tokens generate() gives each alone; a pool too small for
// the work makes sequences wait and be preempted, yet every one completes with
// the same tokens and the pool gets every block back; a sequence no budget
// could hold fails its request at once, naming the budget that would.
#include "rollout_workers/generation_engine.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <torch/torch.h>

#include <chrono>
#include <future>
#include <iostream>
#include <map>
#include <thread>

#include "core/input_error.h"
#include "tests/support/greedy_margin.h"

namespace deltarl {
namespace {

struct Outcome {
  std::map<uint64_t, FinishedSequence> sequences;  // by tag
  GenerationRequest::End end = GenerationRequest::End::kCompleted;
  Status failure;
};

class GenerationEnginePagingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(21);
    ModelConfig config = ModelConfig::preset("tiny", /*vocab_size=*/512);
    config.max_position_embeddings = 96;
    config.tie_word_embeddings = false;
    model_ = CausalLM(config);
    model_->eval();
    policy_ = std::make_shared<VersionedPolicy>(model_, /*version=*/0);
  }

  // Bytes of one block of `block_size` positions of this model.
  int64_t block_bytes(int64_t block_size) const {
    const ModelConfig& config = model_->config();
    return PagedKvCache::block_bytes(config.num_hidden_layers, config.num_key_value_heads, config.head_dim(),
                                     block_size, torch::kFloat32);
  }

  void start(int64_t max_batch, int64_t block_size, int64_t blocks) {
    EngineOptions options;
    options.max_batch_sequences = max_batch;
    options.block_size = block_size;
    options.kv_cache_bytes = blocks * block_bytes(block_size);
    engine_ = std::make_unique<GenerationEngine>(policy_, options);
    ASSERT_EQ(engine_->statistics().kv_blocks, blocks);
  }

  Outcome run(std::vector<SequenceRequest> sequences, const GenerationOptions& options) {
    auto outcome = std::make_shared<Outcome>();
    auto ended = std::make_shared<std::promise<void>>();
    engine_->submit(
        std::move(sequences), options,
        [outcome](FinishedSequence finished) { outcome->sequences[finished.tag] = std::move(finished); },
        [outcome, ended](GenerationRequest::End end, const Status& failure) {
          outcome->end = end;
          outcome->failure = failure;
          ended->set_value();
        });
    EXPECT_EQ(ended->get_future().wait_for(std::chrono::seconds(120)), std::future_status::ready);
    return *outcome;
  }

  // Each sequence's tokens are what generate() gives it alone, far above
  // rounding, and its log-probs agree within 1e-5.
  void expect_as_generate_alone(const std::vector<SequenceRequest>& sequences, const GenerationOptions& options,
                                const Outcome& outcome) {
    ASSERT_EQ(outcome.end, GenerationRequest::End::kCompleted) << outcome.failure.to_string();
    ASSERT_EQ(outcome.sequences.size(), sequences.size());
    for (const SequenceRequest& sequence : sequences) {
      const GeneratedSequence alone = generate(model_, {sequence.prompt}, {sequence.seed}, options)[0];
      const GeneratedSequence& served = outcome.sequences.at(sequence.tag).generated;
      EXPECT_EQ(served.tokens, alone.tokens) << "sequence " << sequence.tag;
      ASSERT_EQ(served.log_probs.size(), alone.log_probs.size());
      for (size_t i = 0; i < alone.log_probs.size(); ++i) {
        EXPECT_NEAR(served.log_probs[i], alone.log_probs[i], 1e-5) << "sequence " << sequence.tag << " token " << i;
      }
      EXPECT_GT(testing_support::smallest_greedy_margin(model_, sequence.prompt, alone.tokens), 1e-4)
          << "sequence " << sequence.tag << ": greedy tokens this close to a tie prove nothing";
    }
  }

  // All blocks back in the pool once the engine has gone idle.
  void expect_every_block_returned() {
    for (int attempt = 0; attempt < 500 && engine_->statistics().free_kv_blocks != engine_->statistics().kv_blocks;
         ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(engine_->statistics().free_kv_blocks, engine_->statistics().kv_blocks);
  }

  CausalLM model_{nullptr};
  std::shared_ptr<VersionedPolicy> policy_;
  std::unique_ptr<GenerationEngine> engine_;
};

GenerationOptions greedy(int64_t max_new_tokens) {
  GenerationOptions options;
  options.sampling.temperature = 0;
  options.max_new_tokens = max_new_tokens;
  return options;
}

TEST_F(GenerationEnginePagingTest, APromptGroupIsPrefilledOnceAndEachSampleDecodesAsAlone) {
  start(/*max_batch=*/16, /*block_size=*/4, /*blocks=*/64);
  // Groups of 3, 2 and 1 samples; prompt lengths 6 (a partly filled last
  // block, copied per sample), 8 (full blocks only, all shared) and 3.
  const std::vector<int64_t> a = {11, 12, 13, 14, 15, 16}, b = {40, 41, 42, 43, 44, 45, 46, 47}, c = {7, 8, 9};
  const std::vector<SequenceRequest> sequences = {{a, 1, 0}, {a, 2, 1}, {a, 3, 2}, {b, 4, 3}, {b, 5, 4}, {c, 6, 5}};
  const GenerationOptions options = greedy(14);
  const Outcome outcome = run(sequences, options);
  expect_as_generate_alone(sequences, options, outcome);
  EXPECT_EQ(engine_->statistics().prefill_rows, 3) << "one prefill row per prompt group";
  EXPECT_EQ(engine_->statistics().preemptions, 0);
  expect_every_block_returned();
}

TEST_F(GenerationEnginePagingTest, AnExhaustedPoolMakesSequencesWaitAndBePreemptedYetAllComplete) {
  // 10 blocks of 4 positions; each sequence grows to 24-25 positions (7
  // blocks): two fit at a time at most, and admission is optimistic.
  start(/*max_batch=*/8, /*block_size=*/4, /*blocks=*/10);
  std::vector<SequenceRequest> sequences;
  for (uint64_t i = 0; i < 6; ++i) {
    std::vector<int64_t> prompt;
    for (uint64_t t = 0; t < 4 + i % 2; ++t) prompt.push_back(static_cast<int64_t>(30 + 17 * i + 5 * t));
    sequences.push_back({prompt, i, i});
  }
  const GenerationOptions options = greedy(20);
  const Outcome outcome = run(sequences, options);
  expect_as_generate_alone(sequences, options, outcome);
  const EngineStatistics statistics = engine_->statistics();
  EXPECT_GT(statistics.preemptions, 0) << "the pool never ran out: the test does not test preemption";
  EXPECT_GT(statistics.admission_waits, 0) << "nothing ever waited for blocks";
  EXPECT_GT(statistics.prefill_rows, 6) << "preempted sequences resume by a prefill";
  expect_every_block_returned();
}

TEST_F(GenerationEnginePagingTest, ASequenceNoPoolOfThisBudgetHoldsFailsItsRequestNamingTheMinimum) {
  start(/*max_batch=*/4, /*block_size=*/4, /*blocks=*/10);
  // 3 + 60 positions need 16 blocks; the pool has 10.
  const Outcome outcome = run({{{5, 6, 7}, 0, 0}}, greedy(60));
  EXPECT_EQ(outcome.end, GenerationRequest::End::kFailed);
  EXPECT_EQ(outcome.failure.code(), StatusCode::kInvalidArgument);
  const std::string minimum = std::to_string(16 * block_bytes(4));
  EXPECT_NE(outcome.failure.message().find("at least " + minimum + " bytes"), std::string::npos)
      << outcome.failure.message();
  EXPECT_EQ(engine_->minimum_kv_cache_bytes(63), 16 * block_bytes(4));
  // The engine goes on serving what fits.
  const std::vector<SequenceRequest> fits = {{{5, 6, 7}, 0, 0}};
  expect_as_generate_alone(fits, greedy(20), run(fits, greedy(20)));
}

// Label gpu (engine_cuda in CMakeLists.txt): skips without a CUDA device. The
// engine on the device, plain and through CUDA graphs, gives generate()'s
// greedy tokens there; the margins are read on a CPU copy of the model.
TEST_F(GenerationEnginePagingTest, OnCudaGreedyTokensAreGeneratesWithAndWithoutCudaGraphs) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  CausalLM on_cpu(model_->config());
  on_cpu->eval();
  {
    torch::NoGradGuard no_grad;
    const auto source = model_->named_parameters();
    for (auto& item : on_cpu->named_parameters()) item.value().copy_(source[item.key()]);
  }
  model_->to(torch::kCUDA);
  policy_ = std::make_shared<VersionedPolicy>(model_, /*version=*/0);
  const std::vector<int64_t> a = {11, 12, 13, 14, 15, 16}, b = {40, 41, 42, 43, 44, 45, 46, 47};
  const std::vector<SequenceRequest> sequences = {{a, 1, 0}, {a, 2, 1}, {a, 3, 2}, {b, 4, 3}, {{7, 8, 9}, 6, 4}};
  const GenerationOptions options = greedy(20);
  for (const bool graphs : {false, true}) {
    if (graphs && !CudaDecodeGraphs::available()) continue;
    EngineOptions engine_options;
    engine_options.max_batch_sequences = 8;
    engine_options.block_size = 4;
    engine_options.kv_cache_bytes = 64 * block_bytes(4);
    engine_options.cuda_graphs = graphs;
    engine_ = std::make_unique<GenerationEngine>(policy_, engine_options);
    const Outcome outcome = run(sequences, options);
    ASSERT_EQ(outcome.end, GenerationRequest::End::kCompleted) << outcome.failure.to_string();
    for (const SequenceRequest& sequence : sequences) {
      const GeneratedSequence alone = generate(model_, {sequence.prompt}, {sequence.seed}, options)[0];
      const GeneratedSequence& served = outcome.sequences.at(sequence.tag).generated;
      EXPECT_EQ(served.tokens, alone.tokens) << "sequence " << sequence.tag << (graphs ? " with graphs" : "");
      for (size_t i = 0; i < alone.log_probs.size() && i < served.log_probs.size(); ++i) {
        EXPECT_NEAR(served.log_probs[i], alone.log_probs[i], 1e-4) << "sequence " << sequence.tag << " token " << i;
      }
      EXPECT_GT(testing_support::smallest_greedy_margin(on_cpu, sequence.prompt, alone.tokens), 1e-3);
    }
    engine_.reset();
  }
}

int64_t peak_resident_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

// The process's peak resident memory, not the pool's size: the work's keys
// and values, held at once, would take 8× the budget; the peak grows by the
// budget and 12 MiB of transients (resumptions' prefills, the allocator) at
// most: 11.5 MiB in all was measured for this 4 MiB budget.
// (Each test case runs in a process of its own under ctest, so the peak
// before is this case's own.)
TEST(GenerationEngineMemory, ThePeakResidentMemoryStaysWithinTheBudget) {
  torch::manual_seed(3);
  ModelConfig config = ModelConfig::preset("small", /*vocab_size=*/512);
  config.max_position_embeddings = 320;
  CausalLM model(config);
  model->eval();
  const int64_t block_size = 16, blocks = 64;
  const int64_t block_bytes = PagedKvCache::block_bytes(config.num_hidden_layers, config.num_key_value_heads,
                                                        config.head_dim(), block_size, torch::kFloat32);
  EngineOptions options;
  options.max_batch_sequences = 32;
  options.block_size = block_size;
  options.kv_cache_bytes = blocks * block_bytes;  // 4 MiB
  std::vector<SequenceRequest> sequences;
  for (uint64_t i = 0; i < 32; ++i) sequences.push_back({{static_cast<int64_t>(3 + i), 9, 10, 11, 12, 13, 14, 15}, i, i});
  GenerationOptions generation = greedy(248);  // 256 positions each: 16 blocks, 32 sequences → 512 blocks
  auto policy = std::make_shared<VersionedPolicy>(model, 0);
  GenerationEngine engine(policy, options);
  {
    // A short request first: the engine thread, its OpenMP pool and its malloc
    // arena cost the same whatever the budget, and are not the cache.
    std::promise<void> warmed;
    engine.submit({sequences[0]}, greedy(8), [](FinishedSequence) {},
                  [&](GenerationRequest::End, const Status&) { warmed.set_value(); });
    warmed.get_future().wait();
  }
  const int64_t before = peak_resident_bytes();
  std::promise<void> ended;
  size_t completed = 0;
  engine.submit(sequences, generation, [&](FinishedSequence finished) {
    completed += finished.generated.tokens.size() == 248 ? 1 : 0;
  }, [&](GenerationRequest::End, const Status&) { ended.set_value(); });
  ASSERT_EQ(ended.get_future().wait_for(std::chrono::seconds(300)), std::future_status::ready);
  EXPECT_EQ(completed, sequences.size());
  EXPECT_GT(engine.statistics().preemptions + engine.statistics().admission_waits, 0);
  const int64_t growth = peak_resident_bytes() - before;
  const int64_t all_at_once = 32 * 16 * block_bytes;
  std::cout << "peak RSS growth " << growth << " B, budget " << options.kv_cache_bytes << " B\n";
  EXPECT_LE(growth, options.kv_cache_bytes + (12 << 20))
      << "peak RSS grew " << growth << " B for a " << options.kv_cache_bytes << " B budget (all the keys and values at "
      << "once: " << all_at_once << " B)";
}

// A sequence the pool holds exactly is served: a prompt whose last block is
// partly filled costs no extra copy for the group's last sample (admission
// once counted one, and such a sequence waited forever).
TEST_F(GenerationEnginePagingTest, ASequenceThatFillsThePoolExactlyIsServed) {
  start(/*max_batch=*/4, /*block_size=*/4, /*blocks=*/2);
  const std::vector<SequenceRequest> sequences = {{{5, 6, 7, 8, 9, 10}, 0, 0}};  // 6 + 2 positions: 2 blocks
  expect_as_generate_alone(sequences, greedy(2), run(sequences, greedy(2)));
  // And a group of two, prefilled once: the prompt's 2 blocks, the other
  // sample's copy, and the 1-block reserve kept once anything is admitted.
  start(/*max_batch=*/4, /*block_size=*/4, /*blocks=*/4);
  const std::vector<SequenceRequest> pair = {{{5, 6, 7, 8, 9, 10}, 0, 0}, {{5, 6, 7, 8, 9, 10}, 1, 1}};
  expect_as_generate_alone(pair, greedy(2), run(pair, greedy(2)));
  EXPECT_EQ(engine_->statistics().prefill_rows, 1);
  expect_every_block_returned();
}

TEST_F(GenerationEnginePagingTest, ABudgetBelowOneBlockIsAnInputErrorNamingBoth) {
  EngineOptions options;
  options.block_size = 16;
  options.kv_cache_bytes = block_bytes(16) - 1;
  try {
    GenerationEngine engine(policy_, options);
    FAIL() << "a budget below one block was accepted";
  } catch (const InputError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find(std::to_string(block_bytes(16)) + " bytes"), std::string::npos) << message;
    EXPECT_NE(message.find("--kv-cache-memory"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace deltarl
