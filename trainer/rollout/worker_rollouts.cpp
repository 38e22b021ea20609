#include "trainer/rollout/worker_rollouts.h"

#include <algorithm>
#include <chrono>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <torch/torch.h>

#include "core/compute_threads.h"
#include "core/log.h"
#include "trainer/comm/agreement.h"
#include "trainer/comm/string_broadcast.h"
#include "trainer/rollout/rollout_auth_token.h"

namespace deltarl {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Rank 0's address list on every rank, through one string of lines.
std::vector<std::string> broadcast_addresses(Communicator& host, const std::vector<std::string>& addresses) {
  std::string text;
  for (const auto& address : addresses) text += address + "\n";
  text = broadcast_string(host, text);
  std::vector<std::string> agreed;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) agreed.push_back(line);
  }
  return agreed;
}

}  // namespace

std::unique_ptr<WorkerRollouts> start_worker_rollouts(const WorkerRolloutsOptions& options,
                                                       const PromptDataset& dataset, Communicator& host) {
  const int rank = host.rank();
  std::unique_ptr<LocalWorkerPool> pool;
  std::optional<std::string> auth_token;
  std::vector<std::string> addresses = options.workers;
  agree_or_throw(host, "starting the rollout workers", [&] {
    auth_token = read_rollout_auth_token(options.auth_token_file);
    if (rank != 0 || options.spawn_local <= 0) return;
    LocalWorkerPoolOptions pool_options = options.local_workers;
    pool_options.count = options.spawn_local;
    if (pool_options.threads <= 0) {
      pool_options.threads = std::max<int64_t>(1, available_cpus() / options.spawn_local);
    }
    pool = std::make_unique<LocalWorkerPool>(pool_options);
    addresses.insert(addresses.end(), pool->addresses().begin(), pool->addresses().end());
    log_info("spawned " + std::to_string(pool->addresses().size()) + " rollout workers (logs in " +
             pool_options.log_folder + ")");
  });
  addresses = broadcast_addresses(host, addresses);

  std::unique_ptr<WorkerRegistry> registry;
  uint64_t first_version = 0;
  agree_or_throw(host, "asking the rollout workers for their version", [&] {
    registry = std::make_unique<WorkerRegistry>(addresses, auth_token);
    if (rank != 0) return;
    uint64_t newest = 0;
    if (Status status = RolloutFleet(*registry).newest_version(&newest, options.version_deadline_seconds);
        !status.ok()) {
      throw std::runtime_error(status.to_string());
    }
    // Versions only grow on a worker, and it may have served an earlier run:
    // this run's weights go out as the next version, whatever the worker loaded.
    first_version = newest + 1;
  });
  torch::Tensor version = torch::tensor({static_cast<int64_t>(first_version)}, torch::kInt64);
  host.broadcast(version, /*root=*/0);
  first_version = static_cast<uint64_t>(version.item<int64_t>());
  return std::unique_ptr<WorkerRollouts>(
      new WorkerRollouts(options, dataset, host, std::move(pool), std::move(registry), first_version));
}

WorkerRollouts::WorkerRollouts(const WorkerRolloutsOptions& options, const PromptDataset& dataset, Communicator& host,
                               std::unique_ptr<LocalWorkerPool> pool, std::unique_ptr<WorkerRegistry> registry,
                               uint64_t first_version)
    : host_(host),
      options_(options),
      pool_(std::move(pool)),
      registry_(std::move(registry)),
      fleet_(*registry_),
      client_(*registry_, [&] {
        RolloutClientOptions client_options;
        client_options.deadline_seconds = options.deadline_seconds;
        return client_options;
      }()),
      rollouts_(client_, dataset, options.rollouts),
      sampler_(dataset.size(), options.rollouts.seed, options.shuffle_prompts),
      first_version_(first_version),
      agreed_live_workers_(static_cast<int64_t>(registry_->size())) {
  sampler_.seek(options.sampler_cursor);
}

WorkerRollouts::~WorkerRollouts() { cancel_prefetch(); }

void WorkerRollouts::cancel_prefetch() {
  if (!prefetch_) return;
  // The client stays cancelled: only the destructor calls this.
  client_.cancel();
  prefetch_->result.wait();
  prefetch_.reset();
}

StepBatch WorkerRollouts::collect(int64_t step, uint64_t min_version) {
  const auto started = Clock::now();
  RolloutRound first_round;
  Status first_status;
  std::vector<RolloutSample> first_samples;
  if (prefetch_) {
    if (prefetch_->round.step != step) {
      throw std::logic_error("WorkerRollouts::collect(" + std::to_string(step) + ") found step " +
                             std::to_string(prefetch_->round.step) + "'s round prefetched");
    }
    Prefetch pending = std::move(*prefetch_);
    prefetch_.reset();  // before get(), which may throw: nothing is pending any more
    first_round = pending.round;
    std::tie(first_status, first_samples) = pending.result.get();
  } else {
    first_round = rollouts_.draw(sampler_, step, /*round=*/0, options_.rollouts.prompts_per_step);
    first_status = rollouts_.generate(first_round, host_.rank(), host_.world_size(), min_version, &first_samples);
  }
  StepBatch batch =
      rollouts_.finish_step(sampler_, first_round, first_status, std::move(first_samples), host_, min_version);
  batch.generation_seconds = seconds_since(started);
  batch.prompt_cursor = sampler_.cursor();
  return batch;
}

void WorkerRollouts::prefetch(int64_t step, uint64_t min_version) {
  if (prefetch_) {
    throw std::logic_error("WorkerRollouts::prefetch(" + std::to_string(step) + ") while step " +
                           std::to_string(prefetch_->round.step) + "'s round is still pending");
  }
  // Step k+1's first round runs on the workers while step k trains; its
  // samples come from min_version or the next (staleness ≤ 1).
  Prefetch next;
  next.round = rollouts_.draw(sampler_, step, /*round=*/0, options_.rollouts.prompts_per_step);
  const RolloutRound round = next.round;
  const int rank = host_.rank(), world = host_.world_size();
  const StepRollouts& rollouts = rollouts_;
  next.result = std::async(std::launch::async, [&rollouts, round, rank, world, min_version] {
    RoundResult generated;
    generated.first = rollouts.generate(round, rank, world, min_version, &generated.second);
    return generated;
  });
  prefetch_ = std::move(next);
}

std::string WorkerRollouts::publish(CausalLM& model, uint64_t version) {
  const int rank = host_.rank(), world = host_.world_size();
  // This rank's share failing is not yet the run failing: whether any worker took `version` is agreed below.
  if (const Status status = fleet_.publish(model, version, options_.publish, rank, world, &last_publish_);
      !status.ok()) {
    log_warning("publishing v" + std::to_string(version) + " to this rank's workers: " + status.to_string());
  }
  // A prefetch may mark workers dead meanwhile: the answer comes from the
  // agreed flags alone, never from this rank's registry, so it is the same everywhere.
  const std::vector<bool> alive = registry_->alive_flags();
  std::vector<double> dead_here;
  for (bool up : alive) dead_here.push_back(up ? 0.0 : 1.0);
  torch::Tensor dead = torch::tensor(dead_here, torch::kFloat64);
  host_.all_reduce_sum(dead);
  const double* dead_anywhere = dead.data_ptr<double>();
  std::vector<bool> agreed;
  for (size_t w = 0; w < alive.size(); ++w) agreed.push_back(dead_anywhere[w] == 0.0);
  registry_->keep_alive(agreed);
  agreed_live_workers_ = std::count(agreed.begin(), agreed.end(), true);
  if (agreed_live_workers_ > 0) return "";
  return "no rollout worker took weights v" + std::to_string(version) + " (each rank logged its workers' errors)";
}

}  // namespace deltarl
