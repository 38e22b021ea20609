#include "trainer/run/learner_model.h"

#include <algorithm>

#include <torch/torch.h>

#include "core/compute_threads.h"
#include "core/file_system.h"
#include "core/input_error.h"
#include "core/model/hf_checkpoint.h"
#include "trainer/run/training_checkpoint.h"

namespace deltarl {

LearnerModel load_learner_model(const TrainingConfig& config, const LearnerModelSource& source,
                                const Communicator& communicator, int local_size) {
  const torch::Device device = communicator.device();
  LearnerModel learner;
  learner.dtype = config.model.dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat32;
  torch::set_num_threads(static_cast<int>(config.train.threads > 0 ? config.train.threads
                                                                   : std::max(1, available_cpus() / local_size)));
  const std::string tokenizer_path = join_path(source.model_folder, "tokenizer.json");
  if (!path_exists(tokenizer_path)) {
    throw InputError(source.model_folder +
                     " has no tokenizer.json (workers, prompts and checkpoints need the model's tokenizer)");
  }
  learner.model = load_pretrained(source.model_folder, device, learner.dtype);
  learner.model->model->activation_checkpointing = config.train.activation_checkpointing;
  learner.model->model->training_attention = training_attention(config);
  learner.tokenizer_json = read_file_text(tokenizer_path);
  if (config.algorithm.kl_coef > 0) {
    learner.reference = load_pretrained(config.model.path, device, learner.dtype);
    learner.reference->eval();
    for (auto& parameter : learner.reference->parameters()) parameter.set_requires_grad(false);
    // Its weights never change: prepared once. Fused, never packed: the reference's
    // log-probs enter the gradient (Note [Inference form numerics]).
    learner.reference->prepare_inference(LinearForm::kFused);
  }
  AdamWOptions adamw;
  adamw.beta1 = config.optim.beta1;
  adamw.beta2 = config.optim.beta2;
  adamw.eps = config.optim.eps;
  adamw.weight_decay = config.optim.weight_decay;
  const OptimizerShard shard = config.train.zero_stage >= 1
                                    ? OptimizerShard{communicator.rank(), communicator.world_size()}
                                    : OptimizerShard{};
  learner.optimizer = std::make_unique<AdamW>(learner.model->named_parameters(), adamw, shard);
  if (!source.checkpoint_folder.empty()) {
    learner.optimizer->load_state(load_optimizer_tensors(source.checkpoint_folder), source.optimizer_steps,
                                  source.checkpoint_folder);
  }
  return learner;
}

}  // namespace deltarl
