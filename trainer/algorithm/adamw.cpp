#include "trainer/algorithm/adamw.h"

#include <cmath>

#include "core/input_error.h"

namespace deltarl {

AdamW::AdamW(const torch::OrderedDict<std::string, torch::Tensor>& named_parameters, AdamWOptions options)
    : options_(options) {
  torch::NoGradGuard no_grad;
  for (const auto& item : named_parameters) {
    Slot slot;
    slot.name = item.key();
    slot.parameter = item.value();
    if (slot.parameter.scalar_type() != torch::kFloat32) slot.master = slot.parameter.detach().to(torch::kFloat32).clone();
    auto fp32 = torch::TensorOptions().dtype(torch::kFloat32).device(slot.parameter.device());
    slot.exp_avg = torch::zeros(slot.parameter.sizes(), fp32);
    slot.exp_avg_sq = torch::zeros(slot.parameter.sizes(), fp32);
    slot.decay = slot.parameter.dim() >= 2;
    slots_.push_back(std::move(slot));
  }
}

void AdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  ++steps_taken_;
  const double bias_correction1 = 1.0 - std::pow(options_.beta1, static_cast<double>(steps_taken_));
  const double bias_correction2 = 1.0 - std::pow(options_.beta2, static_cast<double>(steps_taken_));
  const double step_size = lr / bias_correction1;
  const double bias_correction2_sqrt = std::sqrt(bias_correction2);
  for (auto& slot : slots_) {
    const torch::Tensor& grad_any = slot.parameter.grad();
    if (!grad_any.defined()) continue;
    torch::Tensor grad = grad_any.to(torch::kFloat32);
    torch::Tensor weights = slot.master.defined() ? slot.master : slot.parameter;
    if (slot.decay && options_.weight_decay != 0) weights.mul_(1.0 - lr * options_.weight_decay);
    slot.exp_avg.mul_(options_.beta1).add_(grad, 1.0 - options_.beta1);
    slot.exp_avg_sq.mul_(options_.beta2).addcmul_(grad, grad, 1.0 - options_.beta2);
    torch::Tensor denominator = (slot.exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(options_.eps);
    weights.addcdiv_(slot.exp_avg, denominator, -step_size);
    if (slot.master.defined()) slot.parameter.copy_(slot.master);
  }
}

void AdamW::zero_grad() {
  for (auto& slot : slots_) {
    if (slot.parameter.grad().defined()) slot.parameter.mutable_grad().zero_();
  }
}

std::vector<std::pair<std::string, torch::Tensor>> AdamW::state_tensors() const {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& slot : slots_) {
    tensors.emplace_back("exp_avg." + slot.name, slot.exp_avg.cpu());
    tensors.emplace_back("exp_avg_sq." + slot.name, slot.exp_avg_sq.cpu());
    if (slot.master.defined()) tensors.emplace_back("master." + slot.name, slot.master.cpu());
  }
  return tensors;
}

void AdamW::load_state(const std::map<std::string, torch::Tensor>& tensors, int64_t steps_taken,
                       const std::string& source) {
  torch::NoGradGuard no_grad;
  auto restore = [&](const std::string& name, torch::Tensor& into) {
    auto found = tensors.find(name);
    if (found == tensors.end()) {
      throw InputError(source + ": optimizer state \"" + name +
                       "\" is missing (a checkpoint of a different model or dtype?)");
    }
    if (found->second.sizes() != into.sizes() || found->second.scalar_type() != torch::kFloat32) {
      throw InputError(source + ": optimizer state \"" + name + "\" has the wrong shape or dtype for this model");
    }
    into.copy_(found->second);
  };
  for (auto& slot : slots_) {
    restore("exp_avg." + slot.name, slot.exp_avg);
    restore("exp_avg_sq." + slot.name, slot.exp_avg_sq);
    if (slot.master.defined()) restore("master." + slot.name, slot.master);
  }
  if (steps_taken < 0) throw InputError(source + ": optimizer step count is negative");
  steps_taken_ = steps_taken;
}

}  // namespace deltarl
