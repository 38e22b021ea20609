#include "trainer/rollout/step_rollouts.h"

#include <map>

#include <torch/torch.h>

#include "core/log.h"
#include "trainer/comm/agreement.h"

namespace deltarl {

namespace {

bool rewards_all_equal(const std::vector<const RolloutSample*>& group) {
  for (const auto* sample : group) {
    if (sample->reward != group.front()->reward) return false;
  }
  return true;
}

}  // namespace

StepRollouts::StepRollouts(RolloutClient& client, const PromptDataset& dataset, StepRolloutOptions options)
    : client_(client), dataset_(dataset), options_(std::move(options)) {}

RolloutRound StepRollouts::draw(PromptSampler& sampler, int64_t step, int64_t round, int64_t count) const {
  RolloutRound result;
  result.step = step;
  result.round = round;
  result.dataset_indices = sampler.draw(static_cast<uint64_t>(count));
  return result;
}

Status StepRollouts::generate(const RolloutRound& round, int rank, int world_size, uint64_t min_version,
                              std::vector<RolloutSample>* samples) const {
  std::vector<PromptGroup> prompts;
  for (size_t position = static_cast<size_t>(rank); position < round.dataset_indices.size();
       position += static_cast<size_t>(world_size)) {
    const PromptRecord& record = dataset_[round.dataset_indices[position]];
    PromptGroup group;
    group.group_id = position;
    group.token_ids = record.token_ids;
    group.task = record.task;
    group.task_payload_json = record.task_payload_json;
    group.seed = mix_seed(options_.seed, static_cast<uint64_t>(round.step),
                          (static_cast<uint64_t>(round.round) << 32) | position);
    prompts.push_back(std::move(group));
  }
  samples->clear();
  if (prompts.empty()) return Status();
  std::vector<GroupCompletions> groups;
  Status status = client_.generate(prompts, options_.samples_per_prompt, options_.sampling, min_version, &groups);
  if (!status.ok()) return status;
  for (size_t g = 0; g < groups.size(); ++g) {
    for (const auto& completion : groups[g].samples) {
      RolloutSample sample;
      sample.group = static_cast<int64_t>(groups[g].group_id);
      sample.sample_index = completion.sample_index();
      sample.prompt_ids = prompts[g].token_ids;
      sample.response_ids.assign(completion.token_ids().begin(), completion.token_ids().end());
      sample.rollout_log_probs.assign(completion.log_probs().begin(), completion.log_probs().end());
      sample.reward = completion.reward();
      sample.correct = completion.reward_outcome() == "correct";
      sample.truncated = completion.finish_reason() == v1::FINISH_REASON_LENGTH;
      sample.policy_version = static_cast<int64_t>(completion.policy_version());
      samples->push_back(std::move(sample));
    }
  }
  return Status();
}

StepBatch StepRollouts::finish_step(PromptSampler& sampler, const RolloutRound& first_round, Status first_status,
                                    std::vector<RolloutSample> first_samples, Communicator& host,
                                    uint64_t min_version) const {
  StepBatch batch;
  RolloutRound round = first_round;
  Status status = std::move(first_status);
  std::vector<RolloutSample> round_samples = std::move(first_samples);
  while (true) {
    // A failed round on one rank must not leave the others waiting in the next collective.
    const AgreedFailure failure = agree_on_failure(host, !status.ok(), /*input_error_here=*/false);
    if (!status.ok()) throw RolloutsFailed("rollouts failed: " + status.to_string());
    if (failure.any()) throw RolloutsFailed(failure.describe("rollouts"));
    if (round.round == first_round.round) {
      double reward_sum = 0, correct = 0;
      for (const auto& sample : round_samples) reward_sum += sample.reward, correct += sample.correct;
      torch::Tensor round_totals =
          torch::tensor({reward_sum, correct, static_cast<double>(round_samples.size())}, torch::kFloat64);
      host.all_reduce_sum(round_totals);
      const double drawn = std::max(1.0, round_totals[2].item<double>());
      batch.unfiltered_reward_mean = round_totals[0].item<double>() / drawn;
      batch.unfiltered_accuracy = round_totals[1].item<double>() / drawn;
    }

    // Which of this round's groups to keep: the owner rank decides, one all-reduce tells everyone.
    const auto positions = static_cast<int64_t>(round.dataset_indices.size());
    std::map<int64_t, std::vector<const RolloutSample*>> by_position;
    for (const auto& sample : round_samples) by_position[sample.group].push_back(&sample);
    torch::Tensor keep = torch::zeros({std::max<int64_t>(positions, 1)}, torch::kFloat64);
    for (const auto& [position, group] : by_position) {
      keep[position] = (!options_.filter_equal_rewards || !rewards_all_equal(group)) ? 1.0 : 0.0;
    }
    host.all_reduce_sum(keep);
    const bool last_round =
        !options_.filter_equal_rewards || round.round >= options_.max_refill_rounds;
    std::map<int64_t, int64_t> renumbered;  // position → step group index
    for (int64_t position = 0; position < positions && batch.groups < options_.prompts_per_step; ++position) {
      if (keep[position].item<double>() > 0.5) {
        renumbered[position] = batch.groups++;
      } else {
        ++batch.filtered_groups;
      }
    }
    if (batch.groups == 0 && last_round) {
      // Nothing survived any round: train on this round as it is (zero-advantage
      // groups add no policy gradient) rather than on an empty step.
      if (host.rank() == 0) {
        log_warning("every group of step " + std::to_string(round.step) +
                    " had equal rewards after all refill rounds; training on the last round unfiltered");
      }
      for (int64_t position = 0; position < positions && batch.groups < options_.prompts_per_step; ++position) {
        renumbered[position] = batch.groups++;
      }
      batch.filtered_groups -= batch.groups;
    }
    for (auto& sample : round_samples) {
      auto found = renumbered.find(sample.group);
      if (found == renumbered.end()) continue;
      sample.group = found->second;
      batch.local_samples.push_back(std::move(sample));
    }
    if (batch.groups >= options_.prompts_per_step || last_round) break;
    round = draw(sampler, round.step, round.round + 1, options_.prompts_per_step - batch.groups);
    ++batch.rounds;
    status = generate(round, host.rank(), host.world_size(), min_version, &round_samples);
  }
  return batch;
}

}  // namespace deltarl
