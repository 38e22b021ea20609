#include "trainer/algorithm/adamw.h"

#include <algorithm>
#include <cmath>

#include "core/input_error.h"

namespace deltarl {

namespace {

std::vector<torch::Tensor> values_of(const torch::OrderedDict<std::string, torch::Tensor>& named) {
  std::vector<torch::Tensor> values;
  for (const auto& item : named) values.push_back(item.value());
  return values;
}

}  // namespace

AdamW::AdamW(const torch::OrderedDict<std::string, torch::Tensor>& named_parameters, AdamWOptions options,
             OptimizerShard shard)
    : parameters_(values_of(named_parameters)),
      shard_(shard),
      layout_(parameters_, shard.count),
      options_(options) {
  TORCH_CHECK(shard.count >= 1 && shard.rank >= 0 && shard.rank < shard.count, "AdamW: shard ", shard.rank, " of ",
              shard.count);
  torch::NoGradGuard no_grad;
  for (const auto& item : named_parameters) names_.push_back(item.key());
  const torch::Device device = parameters_.empty() ? torch::Device(torch::kCPU) : parameters_.front().device();
  const auto fp32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  exp_avg_ = torch::zeros({layout_.shard_numel()}, fp32);
  exp_avg_sq_ = torch::zeros({layout_.shard_numel()}, fp32);
  const std::vector<ParameterPiece> pieces = layout_.pieces(shard.rank);
  for (const ParameterPiece& piece : pieces) {
    if (parameters_[piece.parameter].scalar_type() != torch::kFloat32 && !master_.defined()) {
      master_ = torch::zeros({layout_.shard_numel()}, fp32);
    }
  }
  for (const ParameterPiece& piece : pieces) {
    Slot slot;
    slot.piece = piece;
    slot.exp_avg = exp_avg_.narrow(/*dim=*/0, piece.shard_offset, piece.numel());
    slot.exp_avg_sq = exp_avg_sq_.narrow(/*dim=*/0, piece.shard_offset, piece.numel());
    const torch::Tensor& parameter = parameters_[piece.parameter];
    slot.has_master = parameter.scalar_type() != torch::kFloat32;
    slot.decay = parameter.dim() >= 2;
    slots_.push_back(std::move(slot));
    Slot& added = slots_.back();
    if (added.has_master) {
      added.weights = master_.narrow(/*dim=*/0, piece.shard_offset, piece.numel());
      added.weights.copy_(parameter_slice(added));
    }
  }
}

torch::Tensor AdamW::parameter_slice(const Slot& slot) const {
  return parameters_[slot.piece.parameter].detach().view({-1}).narrow(/*dim=*/0, slot.piece.begin,
                                                                      slot.piece.numel());
}

void AdamW::update(Slot& slot, const torch::Tensor& gradient, double lr, double step_size,
                   double bias_correction2_sqrt) {
  // A view of the parameter taken now, never cached: prepare_inference fuses
  // q/k/v by set_data, which moves the parameters to new storage.
  torch::Tensor weights = slot.has_master ? slot.weights : parameter_slice(slot);
  // In chunks, so that the temporaries (the fp32 gradient of a bf16
  // parameter, the denominator) are a few MiB rather than two copies of the
  // largest parameter: 1.1 GB for Qwen2.5-0.5B's embedding in fp32, 4.4 GB
  // for the 7B's. Every operation is elementwise, so chunking changes nothing.
  const int64_t numel = weights.numel();
  for (int64_t begin = 0; begin < numel; begin += kUpdateChunkElements) {
    const int64_t length = std::min(kUpdateChunkElements, numel - begin);
    const torch::Tensor grad = gradient.narrow(/*dim=*/0, begin, length).to(torch::kFloat32);
    torch::Tensor chunk = weights.narrow(/*dim=*/0, begin, length);
    torch::Tensor exp_avg = slot.exp_avg.narrow(/*dim=*/0, begin, length);
    torch::Tensor exp_avg_sq = slot.exp_avg_sq.narrow(/*dim=*/0, begin, length);
    if (slot.decay && options_.weight_decay != 0) chunk.mul_(1.0 - lr * options_.weight_decay);
    exp_avg.mul_(options_.beta1).add_(grad, 1.0 - options_.beta1);
    exp_avg_sq.mul_(options_.beta2).addcmul_(grad, grad, 1.0 - options_.beta2);
    torch::Tensor denominator = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(options_.eps);
    chunk.addcdiv_(exp_avg, denominator, -step_size);
  }
  if (slot.has_master) parameter_slice(slot).copy_(weights);
}

void AdamW::step(double lr) {
  TORCH_CHECK(!sharded(), "AdamW::step(lr) reads whole .grad tensors; a sharded AdamW takes its gradient shard");
  torch::NoGradGuard no_grad;
  ++steps_taken_;
  const double bias_correction1 = 1.0 - std::pow(options_.beta1, static_cast<double>(steps_taken_));
  const double bias_correction2 = 1.0 - std::pow(options_.beta2, static_cast<double>(steps_taken_));
  for (auto& slot : slots_) {
    const torch::Tensor& grad = parameters_[slot.piece.parameter].grad();
    if (!grad.defined()) continue;
    update(slot, grad.reshape({-1}), lr, lr / bias_correction1, std::sqrt(bias_correction2));
  }
}

void AdamW::step(double lr, const torch::Tensor& gradient_shard) {
  TORCH_CHECK(gradient_shard.dim() == 1 && gradient_shard.numel() == layout_.shard_numel() &&
                  gradient_shard.scalar_type() == torch::kFloat32,
              "AdamW::step: the gradient shard must be (", layout_.shard_numel(), ",) fp32, got ",
              gradient_shard.sizes(), " ", gradient_shard.scalar_type());
  torch::NoGradGuard no_grad;
  ++steps_taken_;
  const double bias_correction1 = 1.0 - std::pow(options_.beta1, static_cast<double>(steps_taken_));
  const double bias_correction2 = 1.0 - std::pow(options_.beta2, static_cast<double>(steps_taken_));
  for (auto& slot : slots_) {
    update(slot, gradient_shard.narrow(/*dim=*/0, slot.piece.shard_offset, slot.piece.numel()), lr,
           lr / bias_correction1, std::sqrt(bias_correction2));
  }
}

void AdamW::zero_grad() {
  for (auto& parameter : parameters_) {
    if (parameter.grad().defined()) parameter.mutable_grad().zero_();
  }
}

torch::Tensor AdamW::pack_shard_weights() const {
  torch::NoGradGuard no_grad;
  const torch::Tensor& any = parameters_.front();
  torch::Tensor packed = torch::zeros({layout_.shard_numel()}, any.options().requires_grad(false));
  for (const auto& slot : slots_) {
    packed.narrow(/*dim=*/0, slot.piece.shard_offset, slot.piece.numel()).copy_(parameter_slice(slot));
  }
  return packed;
}

void AdamW::unpack_weights(const torch::Tensor& gathered) {
  TORCH_CHECK(gathered.numel() == layout_.padded_numel(), "AdamW::unpack_weights: expected ",
              layout_.padded_numel(), " elements, got ", gathered.numel());
  torch::NoGradGuard no_grad;
  for (size_t p = 0; p < parameters_.size(); ++p) {
    parameters_[p].detach().view({-1}).copy_(gathered.narrow(/*dim=*/0, layout_.offset(p), layout_.numel(p)));
  }
}

int64_t AdamW::state_bytes() const {
  int64_t bytes = (exp_avg_.numel() + exp_avg_sq_.numel()) * 4;
  if (master_.defined()) bytes += master_.numel() * 4;
  return bytes;
}

std::vector<std::pair<std::string, torch::Tensor>> AdamW::state_tensors() const {
  TORCH_CHECK(!sharded(), "AdamW::state_tensors: a sharded optimizer holds one shard; use gather_state");
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& slot : slots_) {
    const std::string& name = names_[slot.piece.parameter];
    const auto shape = parameters_[slot.piece.parameter].sizes();
    tensors.emplace_back("exp_avg." + name, slot.exp_avg.view(shape).cpu());
    tensors.emplace_back("exp_avg_sq." + name, slot.exp_avg_sq.view(shape).cpu());
    if (slot.has_master) tensors.emplace_back("master." + name, slot.weights.view(shape).cpu());
  }
  return tensors;
}

std::vector<std::pair<std::string, torch::Tensor>> AdamW::gather_state(Communicator& communicator) const {
  if (!sharded()) return state_tensors();
  TORCH_CHECK(communicator.world_size() == shard_.count && communicator.rank() == shard_.rank,
              "AdamW::gather_state: the optimizer is shard ", shard_.rank, " of ", shard_.count,
              " but the communicator is rank ", communicator.rank(), " of ", communicator.world_size());
  torch::NoGradGuard no_grad;
  auto gather = [&](const torch::Tensor& shard) {
    torch::Tensor whole = torch::empty({layout_.padded_numel()}, shard.options());  // (padded_numel,)
    communicator.all_gather_into(shard, whole);
    return whole.cpu();
  };
  const torch::Tensor exp_avg = gather(exp_avg_), exp_avg_sq = gather(exp_avg_sq_);
  const torch::Tensor master = master_.defined() ? gather(master_) : torch::Tensor();
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (size_t p = 0; p < parameters_.size(); ++p) {
    const auto shape = parameters_[p].sizes();
    auto part = [&](const torch::Tensor& whole) {
      return whole.narrow(/*dim=*/0, layout_.offset(p), layout_.numel(p)).view(shape);
    };
    tensors.emplace_back("exp_avg." + names_[p], part(exp_avg));
    tensors.emplace_back("exp_avg_sq." + names_[p], part(exp_avg_sq));
    if (parameters_[p].scalar_type() != torch::kFloat32) tensors.emplace_back("master." + names_[p], part(master));
  }
  return tensors;
}

void AdamW::load_state(const std::map<std::string, torch::Tensor>& tensors, int64_t steps_taken,
                       const std::string& source) {
  torch::NoGradGuard no_grad;
  auto restore = [&](const std::string& name, const Slot& slot, const torch::Tensor& into) {
    auto found = tensors.find(name);
    if (found == tensors.end()) {
      throw InputError(source + ": optimizer state \"" + name +
                       "\" is missing (a checkpoint of a different model or dtype?)");
    }
    if (found->second.sizes() != parameters_[slot.piece.parameter].sizes() ||
        found->second.scalar_type() != torch::kFloat32) {
      throw InputError(source + ": optimizer state \"" + name + "\" has the wrong shape or dtype for this model");
    }
    into.copy_(found->second.reshape({-1}).narrow(/*dim=*/0, slot.piece.begin, slot.piece.numel()));
  };
  for (auto& slot : slots_) {
    const std::string& name = names_[slot.piece.parameter];
    restore("exp_avg." + name, slot, slot.exp_avg);
    restore("exp_avg_sq." + name, slot, slot.exp_avg_sq);
    if (slot.has_master) restore("master." + name, slot, slot.weights);
  }
  if (steps_taken < 0) throw InputError(source + ": optimizer step count is negative");
  steps_taken_ = steps_taken;
}

}  // namespace deltarl
