#include "trainer/run/training_run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <future>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include <torch/torch.h>

#include "core/atomic_file_writer.h"
#include "core/file_system.h"
#include "core/input_error.h"
#include "core/log.h"
#include "core/model/hf_checkpoint.h"
#include "core/tokenizer/tokenizer.h"
#include "trainer/algorithm/adamw.h"
#include "trainer/comm/agreement.h"
#include "trainer/algorithm/learning_rate_schedule.h"
#include "trainer/rollout/local_worker_pool.h"
#include "trainer/run/metrics_log.h"
#include "trainer/comm/mpi_communicator.h"
#include "trainer/algorithm/policy_update.h"
#include "trainer/rollout/rollout_auth_token.h"
#include "trainer/prompts/prompt_dataset.h"
#include "trainer/prompts/prompt_sampler.h"
#include "trainer/rollout/rollout_client.h"
#include "trainer/rollout/rollout_fleet.h"
#include "trainer/comm/sample_exchange.h"
#include "trainer/comm/single_process_communicator.h"
#include "trainer/rollout/step_rollouts.h"
#include "trainer/evaluation/task_evaluation.h"
#include "trainer/run/stop_signal.h"
#include "trainer/run/tensorboard_writer.h"
#include "trainer/run/training_checkpoint.h"
#ifdef DELTARL_HAVE_NCCL
#include "trainer/comm/nccl_communicator.h"
#endif

namespace deltarl {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Rank 0's string on every rank.
std::string broadcast_string(Communicator& host, const std::string& text) {
  torch::Tensor length = torch::tensor({static_cast<int64_t>(text.size())}, torch::kInt64);
  host.broadcast(length, /*root=*/0);
  torch::Tensor bytes = torch::zeros({std::max<int64_t>(length.item<int64_t>(), 1)}, torch::kUInt8);
  if (host.rank() == 0) std::copy(text.begin(), text.end(), bytes.data_ptr<uint8_t>());
  host.broadcast(bytes, /*root=*/0);
  return std::string(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()), length.item<int64_t>());
}

std::string format_duration(double seconds) {
  const auto total = static_cast<int64_t>(std::max(0.0, seconds));
  std::ostringstream text;
  if (total >= 3600) text << total / 3600 << "h";
  if (total >= 60) text << (total % 3600) / 60 << "m";
  text << total % 60 << "s";
  return text.str();
}

torch::Device choose_device(const std::string& wanted, int local_rank) {
  const bool cuda = torch::cuda::is_available();
  if (wanted == "cuda" && !cuda) {
    throw InputError("train.device is cuda, but LibTorch sees no CUDA device (a CPU build, or no GPU here?)");
  }
  if (wanted == "cpu" || !cuda) return torch::kCPU;
  const auto devices = static_cast<int>(torch::cuda::device_count());
  return torch::Device(torch::kCUDA, static_cast<torch::DeviceIndex>(local_rank % devices));
}

std::unique_ptr<Communicator> make_device_communicator(MpiCommunicator& host, torch::Device device) {
  if (device.is_cpu()) return nullptr;  // the host communicator carries CPU tensors
#ifdef DELTARL_HAVE_NCCL
  return std::make_unique<NcclCommunicator>(host, device.index());
#else
  if (host.world_size() == 1) return std::make_unique<SingleProcessCommunicator>(device);
  throw InputError("train.device resolves to CUDA with " + std::to_string(host.world_size()) +
                   " ranks, but this deltarl was built without NCCL (DELTARL_WITH_NCCL)");
#endif
}

// How long a rank waits for a stop signal after the workers failed, before
// calling the failure a fault: a scheduler signals every process of the job,
// and the workers may drain a moment before the learners see their signal.
constexpr double kStopGraceSeconds = 10;

int64_t hardware_threads() { return std::max<int64_t>(1, std::thread::hardware_concurrency()); }

// The step's metrics that need every rank's learner sums: one all-gather of a
// small vector, also carrying each rank's stop-signal flag.
struct LearnerTotals {
  double tokens = 0, clipped = 0, entropy = 0, kl = 0, mismatch = 0, mismatch_max = 0, ratio_max = 0, loss = 0;
  double forward_backward_seconds = 0;  // the slowest rank's
  bool stop_requested = false;
};

LearnerTotals gather_learner_totals(Communicator& host, const PolicyUpdateResult& local, bool stop_requested) {
  torch::Tensor mine = torch::tensor({local.tokens, local.clipped_tokens, local.entropy_sum, local.kl_sum,
                                      local.mismatch_sum, local.mismatch_max, local.ratio_max, local.loss,
                                      local.forward_backward_seconds, stop_requested ? 1.0 : 0.0},
                                     torch::kFloat64);
  const torch::Tensor all = host.all_gather(mine);  // (world, 10)
  const torch::Tensor sums = all.sum(0), maxima = std::get<0>(all.max(0));
  LearnerTotals totals;
  totals.tokens = sums[0].item<double>();
  totals.clipped = sums[1].item<double>();
  totals.entropy = sums[2].item<double>();
  totals.kl = sums[3].item<double>();
  totals.mismatch = sums[4].item<double>();
  totals.mismatch_max = maxima[5].item<double>();
  totals.ratio_max = maxima[6].item<double>();
  totals.loss = sums[7].item<double>();
  totals.forward_backward_seconds = maxima[8].item<double>();
  totals.stop_requested = sums[9].item<double>() > 0;
  return totals;
}

using RoundResult = std::pair<Status, std::vector<RolloutSample>>;

struct Prefetch {
  RolloutRound round;
  std::future<RoundResult> result;
};

}  // namespace

TrainingRunResult run_training(const TrainingConfig& config, const TrainingRunOptions& options) {
  MpiCommunicator host(MPI_COMM_WORLD);
  const int rank = host.rank(), world = host.world_size();
  if (world > 1) set_log_rank(rank);
  StopSignal::install();
  const std::string run_folder = config.output.dir;
  const std::string checkpoints_folder = join_path(run_folder, "checkpoints");

  // ---- Setup: anything that can fail on one rank goes through agree_or_throw.
  std::string checkpoint_folder;
  TrainerState resumed;
  agree_or_throw(host, "reading the checkpoint", [&] {
    if (options.resume.empty()) return;
    checkpoint_folder = find_checkpoint(options.resume);
    resumed = load_trainer_state(checkpoint_folder);
    if (resumed.seed != config.train.seed) {
      throw InputError("--resume " + checkpoint_folder + " was trained with train.seed " + std::to_string(resumed.seed) +
                       ", the config says " + std::to_string(config.train.seed) +
                       ": the prompts and samples would not continue the run; use the same seed");
    }
    if (resumed.step >= config.train.steps) {
      throw InputError("--resume " + checkpoint_folder + " is at step " + std::to_string(resumed.step) +
                       ", already at train.steps = " + std::to_string(config.train.steps) + "; raise train.steps");
    }
  });
  const std::string model_folder = checkpoint_folder.empty() ? config.model.path : checkpoint_folder;
  const torch::ScalarType dtype = config.model.dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat32;
  torch::Device device = torch::kCPU;
  std::unique_ptr<Communicator> device_communicator;
  Qwen2ForCausalLM model{nullptr}, reference{nullptr};
  std::unique_ptr<PromptDataset> dataset, eval_dataset;
  std::unique_ptr<Tokenizer> tokenizer;
  EvaluationOptions eval_options;
  std::unique_ptr<AdamW> optimizer;
  std::string tokenizer_json;  // written into every checkpoint
  int local_rank = 0, local_size = 1;
  {
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &local_rank);
    MPI_Comm_size(local, &local_size);
    MPI_Comm_free(&local);
  }
  agree_or_throw(host, "loading the model and data", [&] {
    device = choose_device(config.train.device, local_rank);
    torch::set_num_threads(static_cast<int>(
        config.train.threads > 0 ? config.train.threads : std::max<int64_t>(1, hardware_threads() / local_size)));
    const std::string tokenizer_path = join_path(model_folder, "tokenizer.json");
    if (!path_exists(tokenizer_path)) {
      throw InputError(model_folder + " has no tokenizer.json (workers and prompts need the model's tokenizer)");
    }
    model = load_pretrained(model_folder, device, dtype);
    {
      std::ifstream file(tokenizer_path, std::ios::binary);
      std::stringstream text;
      text << file.rdbuf();
      tokenizer_json = text.str();
    }
    tokenizer = std::make_unique<Tokenizer>(Tokenizer::from_json_text(tokenizer_json, tokenizer_path));
    PromptDatasetOptions data_options;
    data_options.task = config.data.task;
    data_options.prompt_template = config.data.prompt_template;
    data_options.chat = config.data.chat;
    data_options.format_reward = config.data.format_reward;
    data_options.max_prompt_tokens = model->config().max_position_embeddings - config.rollout.max_new_tokens;
    if (data_options.max_prompt_tokens < 1) {
      throw InputError(config.source + ": rollout.max_new_tokens (" + std::to_string(config.rollout.max_new_tokens) +
                       ") leaves no room for prompts in the model's context of " +
                       std::to_string(model->config().max_position_embeddings));
    }
    dataset = std::make_unique<PromptDataset>(config.data.train, *tokenizer, data_options);
    if (!config.eval.data.empty()) {
      eval_options.prompts = data_options;
      eval_options.max_new_tokens =
          config.eval.max_new_tokens > 0 ? config.eval.max_new_tokens : config.rollout.max_new_tokens;
      eval_options.prompts.max_prompt_tokens = model->config().max_position_embeddings - eval_options.max_new_tokens;
      eval_options.samples_per_prompt = config.eval.samples;
      eval_options.temperature = config.eval.temperature;
      eval_options.limit = config.eval.limit;
      eval_options.seed = mix_seed(config.train.seed, /*a=*/0xe7a1);
      eval_options.shard_index = rank;
      eval_options.shard_count = world;
      eval_dataset = std::make_unique<PromptDataset>(config.eval.data, *tokenizer, eval_options.prompts);
    }
    if (config.algorithm.kl_coef > 0) {
      reference = load_pretrained(config.model.path, device, dtype);
      reference->eval();
      for (auto& parameter : reference->parameters()) parameter.set_requires_grad(false);
    }
    AdamWOptions adamw;
    adamw.beta1 = config.optim.beta1;
    adamw.beta2 = config.optim.beta2;
    adamw.eps = config.optim.eps;
    adamw.weight_decay = config.optim.weight_decay;
    optimizer = std::make_unique<AdamW>(model->named_parameters(), adamw);
    if (!checkpoint_folder.empty()) {
      optimizer->load_state(load_optimizer_tensors(checkpoint_folder), resumed.optimizer_steps, checkpoint_folder);
    }
  });
  // The device communicator's set-up is itself collective (MPI broadcast, NCCL
  // init): only once every rank has loaded, and only if all ranks chose alike.
  torch::Tensor cuda_ranks = torch::tensor({device.is_cuda() ? 1.0 : 0.0}, torch::kFloat64);
  host.all_reduce_sum(cuda_ranks);
  if (cuda_ranks.item<double>() != 0 && cuda_ranks.item<double>() != world) {
    throw InputError("train.device: only " + std::to_string(static_cast<int>(cuda_ranks.item<double>())) + " of " +
                     std::to_string(world) + " ranks see a CUDA device (mixed GPU/CPU nodes?); set train.device");
  }
  device_communicator = make_device_communicator(host, device);
  Communicator& communicator = device_communicator ? *device_communicator : static_cast<Communicator&>(host);

  // Only now, with the config, model and data known good, does anything get written.
  agree_or_throw(host, "preparing the run folder", [&] {
    if (rank != 0) return;
    if (config.rollout.spawn_local > 0 && local_size != world) {
      throw InputError(config.source + ": rollout.spawn_local starts workers on rank 0's host only (127.0.0.1), "
                       "but the ranks span several hosts; start workers yourself and list them in rollout.workers");
    }
    if (!checkpoint_folder.empty()) {
      for (const auto& folder : set_aside_checkpoints_after(checkpoints_folder, resumed.step)) {
        log_warning("resuming from step " + std::to_string(resumed.step) + ": set aside the later checkpoint as " +
                    folder);
      }
    }
    if (options.resume.empty() &&
        (path_exists(join_path(run_folder, "metrics.jsonl")) || path_exists(checkpoints_folder))) {
      throw InputError("output.dir " + run_folder + " already holds a run (metrics.jsonl or checkpoints/); pass "
                       "--resume " + run_folder + " to continue it, or choose another output.dir");
    }
    make_directories(join_path(run_folder, "workers"));
    AtomicFileWriter config_file(join_path(run_folder, "config.yaml"));
    config_file.stream() << "# deltarl train: the full configuration of this run (every key, defaults included)\n"
                         << training_config_to_yaml(config);
    config_file.commit();
  });


  // ---- Workers: rank 0 spawns the local ones, learns the versions, publishes this run's weights.
  std::unique_ptr<LocalWorkerPool> pool;
  std::unique_ptr<RolloutFleet> fleet;
  std::optional<std::string> auth_token;
  std::vector<std::string> worker_addresses = config.rollout.workers;
  uint64_t version = 0;
  agree_or_throw(host, "starting the rollout workers", [&] {
    auth_token = read_rollout_auth_token(config.rollout.auth_token_file);
    if (rank != 0) return;
    if (config.rollout.spawn_local > 0) {
      LocalWorkerPoolOptions pool_options;
      pool_options.executable = options.executable;
      pool_options.model_folder = model_folder;
      pool_options.count = config.rollout.spawn_local;
      pool_options.threads = config.rollout.worker_threads > 0
                                 ? config.rollout.worker_threads
                                 : std::max<int64_t>(1, hardware_threads() / config.rollout.spawn_local);
      pool_options.max_batch = config.rollout.worker_max_batch;
      pool_options.log_folder = join_path(run_folder, "workers");
      pool = std::make_unique<LocalWorkerPool>(pool_options);
      worker_addresses.insert(worker_addresses.end(), pool->addresses().begin(), pool->addresses().end());
      log_info("spawned " + std::to_string(pool->addresses().size()) + " rollout workers (logs in " +
               pool_options.log_folder + ")");
    }
  });
  std::string addresses_text;
  for (const auto& address : worker_addresses) addresses_text += address + "\n";
  addresses_text = broadcast_string(host, addresses_text);
  worker_addresses.clear();
  for (std::istringstream lines(addresses_text); std::getline(lines, addresses_text);) {
    if (!addresses_text.empty()) worker_addresses.push_back(addresses_text);
  }
  PublishOptions publish_options;
  agree_or_throw(host, "asking the rollout workers for their version", [&] {
    fleet = std::make_unique<RolloutFleet>(worker_addresses, auth_token);
    if (rank != 0) return;
    uint64_t newest = 0;
    if (Status status = fleet->newest_version(&newest); !status.ok()) throw std::runtime_error(status.to_string());
    // Versions only grow on a worker, and it may have served an earlier run:
    // this run's weights go out as the next version, whatever the worker loaded.
    version = newest + 1;
  });
  torch::Tensor version_tensor = torch::tensor({static_cast<int64_t>(version)}, torch::kInt64);
  host.broadcast(version_tensor, /*root=*/0);
  version = static_cast<uint64_t>(version_tensor.item<int64_t>());
  // Every rank uploads `v` to its share of the workers; then all agree which
  // workers are gone. Returns "" or the error, the same on every rank.
  auto publish_from_every_rank = [&](uint64_t v) -> std::string {
    // This rank's share failing is not yet the run failing: whether any worker took `v` is agreed below.
    if (const Status status = fleet->publish(model, v, publish_options, rank, world); !status.ok()) {
      log_warning("publishing v" + std::to_string(v) + " to this rank's workers: " + status.to_string());
    }
    const std::vector<bool> alive = fleet->alive();
    std::vector<double> dead_here;
    for (bool up : alive) dead_here.push_back(up ? 0.0 : 1.0);
    torch::Tensor dead = torch::tensor(dead_here, torch::kFloat64);
    host.all_reduce_sum(dead);
    const double* dead_anywhere = dead.data_ptr<double>();
    std::vector<bool> agreed;
    for (size_t w = 0; w < alive.size(); ++w) agreed.push_back(dead_anywhere[w] == 0.0);
    fleet->keep_alive(agreed);
    if (fleet->live_workers() > 0) return "";
    return "no rollout worker took weights v" + std::to_string(v) + " (each rank logged its workers' errors)";
  };
  if (const std::string error = publish_from_every_rank(version); !error.empty()) {
    throw std::runtime_error("publishing the starting weights: " + error);
  }

  RolloutClientOptions client_options;
  client_options.workers = worker_addresses;
  client_options.auth_token = auth_token;
  client_options.deadline_seconds = config.rollout.deadline_seconds;
  RolloutClient client(client_options);

  StepRolloutOptions rollout_options;
  rollout_options.prompts_per_step = config.train.prompts_per_step;
  rollout_options.samples_per_prompt = static_cast<int32_t>(config.rollout.samples_per_prompt);
  rollout_options.sampling.set_temperature(config.rollout.temperature);
  rollout_options.sampling.set_top_p(config.rollout.top_p);
  rollout_options.sampling.set_max_new_tokens(static_cast<int32_t>(config.rollout.max_new_tokens));
  rollout_options.seed = config.train.seed;
  rollout_options.filter_equal_rewards = config.rollout.filter_equal_rewards;
  rollout_options.max_refill_rounds = config.rollout.max_refill_rounds;
  StepRollouts rollouts(client, *dataset, rollout_options);
  PromptSampler sampler(dataset->size(), config.train.seed, config.data.shuffle);
  sampler.seek(resumed.sampler_cursor);

  PolicyUpdateOptions update_options;
  update_options.aggregation = config.algorithm.aggregation;
  update_options.aggregation.max_response_length = config.max_response_length();
  update_options.advantage = config.algorithm.advantage;
  update_options.loss.clip_ratio_low = config.algorithm.clip_ratio_low;
  update_options.loss.clip_ratio_high = config.algorithm.clip_ratio_high;
  update_options.loss.kl_coef = config.algorithm.kl_coef;
  update_options.loss.entropy_coef = config.algorithm.entropy_coef;
  update_options.temperature = config.rollout.temperature;
  update_options.old_log_probs_from_rollout = config.algorithm.old_log_probs == "rollout";
  update_options.micro_batch_size = config.train.micro_batch_size;
  update_options.grad_clip = config.optim.grad_clip;
  PolicyUpdater updater(model, reference ? &reference : nullptr, *optimizer, update_options);
  const LearningRateSchedule schedule{config.optim.lr, config.optim.warmup_steps, config.train.steps,
                                      config.optim.min_lr_ratio};

  std::unique_ptr<MetricsLog> metrics;
  std::unique_ptr<TensorBoardWriter> board;
  agree_or_throw(host, "opening the metrics files", [&] {
    if (rank != 0) return;
    metrics = std::make_unique<MetricsLog>(join_path(run_folder, "metrics.jsonl"), resumed.step);
    if (config.output.tensorboard) {
      board = std::make_unique<TensorBoardWriter>(join_path(run_folder, "tensorboard"),
                                                  resumed.step > 0 ? resumed.step + 1 : 0);
    }
  });
  if (rank == 0) {
    log_info("training " + std::to_string(config.train.steps) + " steps on " + std::to_string(world) + " rank(s), " +
             device.str() + ", " + std::to_string(worker_addresses.size()) + " rollout worker(s), loss " +
             config.algorithm.aggregation.describe() +
             (checkpoint_folder.empty() ? std::string() : ", resumed from " + checkpoint_folder));
  }

  // Held-out accuracy of the current weights: each rank decodes its shard, one
  // all-gather adds them up. Collective.
  auto evaluate = [&]() -> std::vector<std::pair<std::string, double>> {
    if (!eval_dataset) return {};
    const EvaluationTotals mine = evaluate_task_totals(model, *tokenizer, *eval_dataset, config.eval.data, eval_options);
    const torch::Tensor all = host.all_gather(torch::tensor(
        {mine.prompts, mine.samples, mine.correct, mine.prompts_solved, mine.reward, mine.length, mine.truncated},
        torch::kFloat64));
    const torch::Tensor sums = all.sum(0);
    EvaluationTotals totals;
    totals.prompts = sums[0].item<double>();
    totals.samples = sums[1].item<double>();
    totals.correct = sums[2].item<double>();
    totals.prompts_solved = sums[3].item<double>();
    totals.reward = sums[4].item<double>();
    totals.length = sums[5].item<double>();
    totals.truncated = sums[6].item<double>();
    const EvaluationResult r = finish_evaluation(totals);
    return {{"eval/accuracy", r.accuracy},
            {"eval/pass_at_n", r.pass_at_n},
            {"eval/reward", r.mean_reward},
            {"eval/response_length", r.mean_length}};
  };
  auto report_evaluation = [&](int64_t step, const std::vector<std::pair<std::string, double>>& row) {
    if (rank != 0 || row.empty() || !options.console_progress) return;
    char line[160];
    std::snprintf(line, sizeof(line), "eval at step %lld | held-out accuracy %.3f | pass@%lld %.3f",
                  static_cast<long long>(step), row[0].second, static_cast<long long>(config.eval.samples),
                  row[1].second);
    std::cout << line << std::endl;
  };

  TrainingRunResult result;
  result.final_step = resumed.step;
  result.last_checkpoint = checkpoint_folder;
  if (eval_dataset && resumed.step == 0) {
    const auto row = evaluate();  // the starting point, as step 0
    if (rank == 0) {
      metrics->append(0, row);
      if (board) {
        for (const auto& [name, value] : row) board->add_scalar(name, value, 0);
        board->flush();
      }
    }
    report_evaluation(0, row);
  }
  // Checkpoints, on every rank together: the state after `done_step`.
  int64_t last_checkpoint_step = resumed.step;
  auto write_checkpoint = [&](int64_t done_step, uint64_t sampler_cursor, uint64_t at_version) {
    agree_or_throw(host, "writing the checkpoint", [&] {
      if (rank != 0) return;
      TrainerState state;
      state.step = done_step;
      state.sampler_cursor = sampler_cursor;
      state.policy_version = at_version;
      state.seed = config.train.seed;
      state.optimizer_steps = optimizer->steps_taken();
      state.config_yaml = training_config_to_yaml(config);
      result.last_checkpoint = save_training_checkpoint(checkpoints_folder, model, dtype, tokenizer_json, *optimizer,
                                                        state, config.checkpoint.keep_last);
      log_info("checkpoint " + result.last_checkpoint);
    });
    result.last_checkpoint = broadcast_string(host, result.last_checkpoint);
    last_checkpoint_step = done_step;
  };
  // Whether any rank has a stop signal: a collective, for deciding together
  // that a worker failure is the job stopping (a scheduler signals workers and
  // learners at once) rather than a fault. After a failure each rank first
  // gives the signal `grace_seconds` to arrive: the workers may have seen it
  // (and drained) a moment before the learners.
  auto stop_agreed = [&](double grace_seconds) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(grace_seconds * 1000));
    while (!StopSignal::requested() && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    torch::Tensor flag = torch::tensor({StopSignal::requested() ? 1.0 : 0.0}, torch::kFloat64);
    host.all_reduce_sum(flag);
    return flag.item<double>() > 0;
  };
  uint64_t cursor_after_last_step = sampler.cursor();
  // Ends the run after `done_step` on a stop signal: its checkpoint unless it has one.
  auto stop_after = [&](int64_t done_step) {
    if (done_step > last_checkpoint_step) write_checkpoint(done_step, cursor_after_last_step, version);
    result.stopped_by_signal = true;
    if (rank == 0) {
      log_info("stop signal received: stopped after step " + std::to_string(done_step) +
               (result.last_checkpoint.empty() ? std::string("; no step finished, nothing to resume")
                                               : "; resume with --resume " + run_folder));
    }
  };
  std::optional<Prefetch> prefetch;
  double step_seconds_sum = 0;
  int64_t steps_timed = 0;
  // A background rollout must not outlive the loop: on any exit it is cancelled first.
  struct PrefetchGuard {
    std::optional<Prefetch>& prefetch;
    RolloutClient& client;
    ~PrefetchGuard() {
      if (!prefetch) return;
      client.cancel();
      prefetch->result.wait();
    }
  } prefetch_guard{prefetch, client};
  try {
    for (int64_t step = resumed.step + 1; step <= config.train.steps; ++step) {
      // A signal that came after the last step's stop check (while it published,
      // evaluated or checkpointed) stops here rather than a whole step later.
      if (stop_agreed(/*grace_seconds=*/0)) {
        stop_after(step - 1);
        break;
      }
      const auto step_started = Clock::now();
      // ---- 1–2. Rollouts (round 0 may have been generated during the last step).
      auto generation_started = Clock::now();
      RolloutRound first_round;
      Status first_status;
      std::vector<RolloutSample> first_samples;
      if (prefetch) {
        first_round = prefetch->round;
        std::tie(first_status, first_samples) = prefetch->result.get();
        prefetch.reset();
      } else {
        first_round = rollouts.draw(sampler, step, /*round=*/0, config.train.prompts_per_step);
        first_status = rollouts.generate(first_round, rank, world, version, &first_samples);
      }
      StepBatch batch;
      try {
        batch = rollouts.finish_step(sampler, first_round, first_status, std::move(first_samples), host, version);
      } catch (const RolloutsFailed& error) {  // thrown on every rank together
        if (!stop_agreed(kStopGraceSeconds)) throw;
        if (rank == 0) log_warning(std::string("rollouts ended by the stop: ") + error.what());
        stop_after(step - 1);
        break;
      }
      const double generation_seconds = seconds_since(generation_started);
      const uint64_t cursor_after_step = sampler.cursor();
      if (config.rollout.one_step_off && step < config.train.steps && !StopSignal::requested()) {
        // Step k+1's first round runs on the workers while this step trains; its
        // samples come from this version or the next (staleness ≤ 1, logged).
        Prefetch next;
        next.round = rollouts.draw(sampler, step + 1, /*round=*/0, config.train.prompts_per_step);
        const RolloutRound round = next.round;
        const uint64_t min_version = version;
        next.result = std::async(std::launch::async, [&rollouts, round, rank, world, min_version] {
          RoundResult generated;
          generated.first = rollouts.generate(round, rank, world, min_version, &generated.second);
          return generated;
        });
        prefetch = std::move(next);
      }

      // ---- 3. Balance samples across ranks by tokens.
      auto training_started = Clock::now();
      ExchangedSamples samples = exchange_samples(host, batch.local_samples);

      // ---- 4–6. Statistics (one all-reduce), weights, advantages, PPO-clip, gradient all-reduce, AdamW.
      StepStatistics stats(batch.groups, config.algorithm.aggregation.alpha);
      for (const auto& sample : samples.mine) {
        stats.add_sample(sample.group, std::max<int64_t>(1, static_cast<int64_t>(sample.response_ids.size())),
                         sample.reward);
      }
      const double learning_rate = schedule.at(step);
      const PolicyUpdateResult update = updater.update(samples.mine, stats, communicator, learning_rate);
      const double training_seconds = seconds_since(training_started);

      const LearnerTotals learner = gather_learner_totals(host, update, StopSignal::requested());
      // A stop signal makes this the last step (the end of the run stops anyway).
      bool stopping = learner.stop_requested && step < config.train.steps;

      // ---- 7. Publish version + 1 to every worker before the next rollout;
      // not when stopping: a resumed run publishes its weights first anyway.
      auto sync_started = Clock::now();
      ++version;
      if (!stopping) {
        const std::string publish_error = publish_from_every_rank(version);
        if (!publish_error.empty()) {
          if (!stop_agreed(kStopGraceSeconds)) throw std::runtime_error("publishing weights failed: " + publish_error);
          if (rank == 0) log_warning("publishing weights ended by the stop: " + publish_error);
          stopping = true;
        }
      }
      const double sync_seconds = seconds_since(sync_started);
      // Not when stopping: the checkpoint must beat the scheduler's kill.
      const bool evaluating =
          eval_dataset && !stopping && (step % config.eval.every == 0 || step == config.train.steps);
      const std::vector<std::pair<std::string, double>> evaluation =
          evaluating ? evaluate() : std::vector<std::pair<std::string, double>>();
      report_evaluation(step, evaluation);
      result.final_step = step;
      const double step_seconds = seconds_since(step_started);
      step_seconds_sum += step_seconds;
      ++steps_timed;

      if (rank == 0) {
        double reward_sum = 0, correct = 0, length_sum = 0, length_max = 0, truncated = 0, lag_sum = 0, lag_max = 0;
        double generated_tokens = 0, trained_tokens = 0;
        for (const auto& sample : samples.all) {
          reward_sum += sample.reward;
          correct += sample.correct;
          const auto length = static_cast<double>(sample.response_ids.size());
          length_sum += length;
          length_max = std::max(length_max, length);
          truncated += sample.truncated;
          const double lag = static_cast<double>(version - 1) - static_cast<double>(sample.policy_version);
          lag_sum += lag;
          lag_max = std::max(lag_max, lag);
          generated_tokens += length;
          trained_tokens += static_cast<double>(sample.tokens());
        }
        const double count = std::max<double>(1, static_cast<double>(samples.all.size()));
        const double tokens = std::max(1.0, learner.tokens);
        std::vector<std::pair<std::string, double>> row = {
            {"reward/mean", reward_sum / count},
            {"reward/accuracy", correct / count},
            {"reward/unfiltered_mean", batch.unfiltered_reward_mean},
            {"reward/unfiltered_accuracy", batch.unfiltered_accuracy},
            {"response_length/mean", length_sum / count},
            {"response_length/max", length_max},
            {"response_length/truncated_fraction", truncated / count},
            {"actor/loss", learner.loss},
            {"actor/clip_fraction", learner.clipped / tokens},
            {"actor/entropy", learner.entropy / tokens},
            {"actor/kl", learner.kl / tokens},
            {"actor/ratio_max", learner.ratio_max},
            {"actor/grad_norm", update.grad_norm},
            {"actor/lr", learning_rate},
            {"actor/update_skipped", update.skipped ? 1.0 : 0.0},
            {"rollout/logprob_mismatch_mean", learner.mismatch / tokens},
            {"rollout/logprob_mismatch_max", learner.mismatch_max},
            {"rollout/policy_version_lag_mean", lag_sum / count},
            {"rollout/policy_version_lag_max", lag_max},
            {"rollout/groups", static_cast<double>(batch.groups)},
            {"rollout/groups_filtered", static_cast<double>(batch.filtered_groups)},
            {"rollout/rounds", static_cast<double>(batch.rounds)},
            {"rollout/live_workers", static_cast<double>(fleet->live_workers())},
            {"perf/generation_tokens_per_second", generated_tokens / std::max(1e-9, generation_seconds)},
            {"perf/learner_tokens_per_second", trained_tokens / std::max(1e-9, training_seconds)},
            {"perf/tokens_per_second", (generated_tokens + trained_tokens) / std::max(1e-9, step_seconds)},
            {"time/generation", generation_seconds},
            {"time/training", training_seconds},
            {"time/statistics_allreduce", update.statistics_seconds},
            {"time/gradient_allreduce", update.gradient_sync_seconds},
            {"time/weight_sync", sync_seconds},
            {"time/step", step_seconds},
            {"policy_version", static_cast<double>(version)},
        };
        row.insert(row.end(), evaluation.begin(), evaluation.end());
        metrics->append(step, row);
        if (board) {
          for (const auto& [name, value] : row) board->add_scalar(name, value, step);
          board->flush();
        }
        if (options.console_progress) {
          const double eta = step_seconds_sum / steps_timed * static_cast<double>(config.train.steps - step);
          char line[512];
          std::snprintf(line, sizeof(line),
                        "step %lld/%lld | reward %.3f acc %.3f | len %.1f (max %.0f) | gnorm %.3g | %.0f tok/s | "
                        "gen %.1fs train %.1fs sync %.1fs | eta %s",
                        static_cast<long long>(step), static_cast<long long>(config.train.steps), reward_sum / count,
                        correct / count, length_sum / count, length_max, update.grad_norm,
                        (generated_tokens + trained_tokens) / std::max(1e-9, step_seconds), generation_seconds,
                        training_seconds, sync_seconds, format_duration(eta).c_str());
          std::cout << line << std::endl;
        }
      }

      // ---- Checkpoint: every N steps, at the end, and when a stop signal arrived on any rank.
      cursor_after_last_step = cursor_after_step;
      const bool due = (config.checkpoint.every > 0 && step % config.checkpoint.every == 0) ||
                       step == config.train.steps || stopping;
      if (due) write_checkpoint(step, cursor_after_step, version);
      if (stopping) {
        stop_after(step);  // its checkpoint is written above
        break;
      }
    }
  } catch (const InputError& error) {
    // Past set-up, bad input (a non-finite reward, say) is seen by one rank
    // only: it is a failure that must end every rank, not an agreed input error.
    throw std::runtime_error(error.what());
  }
  return result;
}

}  // namespace deltarl
