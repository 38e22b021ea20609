#include "core/model/fused_projection.h"

#include <c10/util/Exception.h>

namespace deltarl {

FusedProjection::FusedProjection(std::vector<torch::nn::Linear> parts) : parts_(std::move(parts)) {
  TORCH_CHECK(!parts_.empty(), "FusedProjection needs at least one part");
  const bool has_bias = parts_.front()->bias.defined();
  for (const auto& part : parts_) {
    TORCH_CHECK(part->weight.size(1) == parts_.front()->weight.size(1), "fused parts must share their input size");
    TORCH_CHECK(part->bias.defined() == has_bias, "fused parts must all have a bias or none");
  }
}

bool FusedProjection::is_fused() const {
  if (!weight_.defined()) return false;
  const int64_t in = weight_.size(1);
  const auto* weights = static_cast<const char*>(weight_.data_ptr());
  const auto* biases = bias_.defined() ? static_cast<const char*>(bias_.data_ptr()) : nullptr;
  int64_t row = 0;
  for (const auto& part : parts_) {
    const torch::Tensor& w = part->weight;
    if (w.scalar_type() != weight_.scalar_type() || w.device() != weight_.device() || !w.is_contiguous() ||
        w.size(1) != in || w.data_ptr() != weights + row * in * weight_.element_size()) {
      return false;
    }
    if (biases != nullptr && part->bias.data_ptr() != biases + row * bias_.element_size()) return false;
    row += w.size(0);
  }
  return row == weight_.size(0);
}

void FusedProjection::fuse() {
  // Keeping a fused tensor the parts still point into keeps the parameters'
  // memory where it is: a model fused once (the policy, at its first
  // evaluation) trains on the same addresses from then on.
  if (is_fused()) return;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> weights, biases;
  for (const auto& part : parts_) {
    weights.push_back(part->weight);
    if (part->bias.defined()) biases.push_back(part->bias);
  }
  torch::Tensor weight = torch::cat(weights, /*dim=*/0);
  torch::Tensor bias = biases.empty() ? torch::Tensor() : torch::cat(biases, /*dim=*/0);
  int64_t row = 0;
  for (auto& part : parts_) {
    const int64_t rows = part->weight.size(0);
    // set_data keeps the parameter (its name, autograd identity, version
    // counter); only its storage becomes rows of the fused tensor.
    part->weight.set_data(weight.narrow(0, row, rows));
    if (bias.defined()) part->bias.set_data(bias.narrow(0, row, rows));
    row += rows;
  }
  weight_ = weight;
  bias_ = bias;
}

torch::Tensor FusedProjection::forward(const torch::Tensor& input) const {
  TORCH_CHECK(!torch::GradMode::is_enabled(), "FusedProjection is for inference: turn grad mode off");
  TORCH_CHECK(is_fused(), "FusedProjection::forward: the parts are not (or no longer) fused; call fuse() first "
              "(for a model, prepare_inference())");
  return torch::nn::functional::linear(input, weight_, bias_);
}

}  // namespace deltarl
