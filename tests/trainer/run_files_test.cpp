// The run folder's files: TensorBoard records, metrics.jsonl on resume, and
// checkpoints (atomic, pruned, found again).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/crc32c.h"
#include "core/file_system.h"
#include "core/model/hf_checkpoint.h"
#include "core/preset_files.h"
#include "deltarl/tensorboard/event.pb.h"
#include "tests/support/input_error_message.h"
#include "trainer/algorithm/adamw.h"
#include "trainer/run/metrics_log.h"
#include "trainer/run/tensorboard_writer.h"
#include "trainer/run/training_checkpoint.h"

namespace deltarl {
namespace {

std::string read_all(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

TEST(TensorBoardWriter, RecordsAreFramedAndChecksummed) {
  // The masked CRC of TensorFlow's record format, against a value from TensorFlow's
  // own tests (crc32c("a") = 0xc1d04330, masked = rotr15 + 0xa282ead8).
  EXPECT_EQ(crc32c("a", 1), 0xc1d04330u);
  EXPECT_EQ(masked_crc32c("a", 1), ((0xc1d04330u >> 15) | (0xc1d04330u << 17)) + 0xa282ead8u);

  const std::string folder = make_temporary_directory("tb-test");
  std::string path;
  {
    TensorBoardWriter board(folder, /*start_step=*/5);
    board.add_scalar("reward/mean", 0.25, 6);
    board.flush();
    path = board.path();
  }
  const std::string bytes = read_all(path);
  std::vector<tensorboard::Event> events;
  for (size_t at = 0; at < bytes.size();) {
    uint64_t length;
    uint32_t length_crc, data_crc;
    std::memcpy(&length, bytes.data() + at, 8);
    std::memcpy(&length_crc, bytes.data() + at + 8, 4);
    EXPECT_EQ(length_crc, masked_crc32c(bytes.data() + at, 8));
    const std::string data = bytes.substr(at + 12, length);
    std::memcpy(&data_crc, bytes.data() + at + 12 + length, 4);
    EXPECT_EQ(data_crc, masked_crc32c(data.data(), data.size()));
    tensorboard::Event event;
    ASSERT_TRUE(event.ParseFromString(data));
    events.push_back(event);
    at += 12 + length + 4;
  }
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].file_version(), "brain.Event:2");
  EXPECT_EQ(events[1].session_log().status(), tensorboard::SessionLog::START);
  EXPECT_EQ(events[1].step(), 5);
  EXPECT_EQ(events[2].step(), 6);
  EXPECT_EQ(events[2].summary().value(0).tag(), "reward/mean");
  EXPECT_EQ(events[2].summary().value(0).simple_value(), 0.25f);
}

TEST(MetricsLog, ResumeDropsStepsPastTheCheckpoint) {
  const std::string path = join_path(make_temporary_directory("metrics-test"), "metrics.jsonl");
  {
    MetricsLog log(path, 0);
    for (int64_t step = 1; step <= 4; ++step) log.append(step, {{"reward/mean", step * 0.5}});
  }
  {
    MetricsLog log(path, 2);  // resumed from the step-2 checkpoint
    log.append(3, {{"reward/mean", 9.0}, {"nan", std::nan("")}});
  }
  EXPECT_EQ(read_all(path),
            "{\"step\":1,\"reward/mean\":0.5}\n{\"step\":2,\"reward/mean\":1.0}\n"
            "{\"step\":3,\"reward/mean\":9.0,\"nan\":null}\n");
  std::ofstream(path, std::ios::app) << "{\"step\":4,\"rew";  // a crash mid-append
  { MetricsLog log(path, 3); }
  EXPECT_EQ(read_all(path).back(), '\n');
  EXPECT_EQ(read_all(path).find("rew\"") , std::string::npos);
  std::ofstream(path, std::ios::app) << "{broken\n";
  EXPECT_THROW(MetricsLog(path, 1), InputError);
  EXPECT_NE(read_all(path).find("{broken"), std::string::npos);  // left alone
}

TEST(TrainingCheckpoint, AtomicPrunedAndFound) {
  const std::string run = make_temporary_directory("checkpoint-test");
  const std::string folder = join_path(run, "checkpoints");
  CausalLM model(ModelConfig::preset("tiny"));
  AdamW optimizer(model->named_parameters(), AdamWOptions{});
  for (int64_t step : {2, 4, 6}) {
    TrainerState state;
    state.step = step;
    state.sampler_cursor = 10 * step;
    state.policy_version = step + 1;
    state.seed = 9;
    state.config_yaml = "train:\n  steps: 8\n";
    save_training_checkpoint(folder, model, torch::kFloat32, read_all(countdown_tokenizer_path()), optimizer.state_tensors(), state,
                             /*keep_last=*/2);
  }
  EXPECT_EQ(list_directory(folder), (std::vector<std::string>{"step-00000004", "step-00000006"}));
  // A crash mid-write leaves only a .partial folder: never chosen for resume.
  make_directories(join_path(folder, "step-00000008.partial"));
  EXPECT_EQ(find_checkpoint(run), join_path(folder, "step-00000006"));
  EXPECT_EQ(find_checkpoint(join_path(folder, "step-00000004")), join_path(folder, "step-00000004"));
  // Resuming from step 4 sets step 6 aside (kept, never chosen, never pruned).
  {
    const auto renamed = set_aside_checkpoints_after(folder, 4);
    ASSERT_EQ(renamed.size(), 1u);
    EXPECT_NE(renamed[0].find("step-00000006.abandoned-"), std::string::npos);
    EXPECT_EQ(find_checkpoint(run), join_path(folder, "step-00000004"));
    rename(renamed[0].c_str(), join_path(folder, "step-00000006").c_str());
  }
  const TrainerState state = load_trainer_state(find_checkpoint(folder));
  EXPECT_EQ(state.step, 6);
  EXPECT_EQ(state.sampler_cursor, 60u);
  EXPECT_EQ(state.config_yaml, "train:\n  steps: 8\n");
  EXPECT_EQ(load_optimizer_tensors(join_path(folder, "step-00000006")).size(), 2 * model->parameters().size());
  // The model folder is a Hugging Face checkpoint with its tokenizer.
  EXPECT_EQ(read_all(join_path(join_path(folder, "step-00000006"), "tokenizer.json")),
            read_all(countdown_tokenizer_path()));
  HfCheckpoint saved(join_path(folder, "step-00000006"));
  EXPECT_TRUE(saved.contains("model.norm.weight"));

  std::ofstream(join_path(join_path(folder, "step-00000006"), "trainer_state.json")) << "{\"step\": \"six\"}";
  EXPECT_NE(testing_support::input_error_message([&] { load_trainer_state(join_path(folder, "step-00000006")); })
                .find("trainer_state.json: \"step\" is missing or not an integer"),
            std::string::npos);
  EXPECT_NE(testing_support::input_error_message([&] { find_checkpoint(make_temporary_directory("empty")); })
                .find("no checkpoint here"),
            std::string::npos);
}

}  // namespace
}  // namespace deltarl
