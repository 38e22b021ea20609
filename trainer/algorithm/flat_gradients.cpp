#include "trainer/algorithm/flat_gradients.h"

#include <algorithm>

#include <c10/util/Exception.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/torch.h>

namespace deltarl {

namespace {

// into (numel,) fp32 += the non-fp32 parameter's .grad, which is then dropped.
void fold_parameter(torch::Tensor& parameter, const torch::Tensor& into) {
  torch::NoGradGuard no_grad;
  const torch::Tensor& grad = parameter.grad();
  if (grad.is_sparse()) {  // an embedding's (DecoderModelImpl::sparse_embedding_gradient)
    into.view(parameter.sizes()).add_(grad.to(torch::kFloat32));
  } else {
    into.add_(grad.reshape({-1}).to(torch::kFloat32));
  }
  parameter.mutable_grad() = torch::Tensor();
}

}  // namespace

// Runs after autograd has accumulated one parameter's gradient for a backward.
class FlatGradients::FoldAfterAccumulation final : public torch::autograd::FunctionPostHook {
 public:
  FoldAfterAccumulation(std::shared_ptr<FoldTarget> target, torch::Tensor parameter, int64_t offset)
      : target_(std::move(target)), parameter_(std::move(parameter)), offset_(offset) {}

  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    if (target_->active && parameter_.grad().defined()) {
      fold_parameter(parameter_, target_->full.narrow(/*dim=*/0, offset_, parameter_.numel()));
    }
    return outputs;
  }

 private:
  std::shared_ptr<FoldTarget> target_;
  torch::Tensor parameter_;
  int64_t offset_;
};

FlatGradients::FlatGradients(std::vector<torch::Tensor> parameters, FlatParameterLayout layout, int shard,
                             bool shard_only)
    : parameters_(std::move(parameters)), layout_(std::move(layout)), shard_index_(shard), shard_only_(shard_only) {
  TORCH_CHECK(parameters_.size() == layout_.parameters(), "FlatGradients: ", parameters_.size(),
              " parameters for a layout of ", layout_.parameters());
  TORCH_CHECK(shard >= 0 && shard < layout_.shards(), "FlatGradients: shard ", shard, " of ", layout_.shards());
}

void FlatGradients::start() {
  torch::NoGradGuard no_grad;
  const torch::Device device = parameters_.empty() ? torch::Device(torch::kCPU) : parameters_.front().device();
  if (!full_.defined()) {
    full_ = torch::zeros({layout_.padded_numel()}, torch::TensorOptions().dtype(torch::kFloat32).device(device));
  } else {
    full_.zero_();
  }
  if (shard_only_) {
    if (!shard_.defined()) shard_ = torch::zeros({layout_.shard_numel()}, full_.options());
  } else {
    shard_ = full_.narrow(/*dim=*/0, layout_.shard_numel() * shard_index_, layout_.shard_numel());
  }
  const std::vector<torch::Tensor> views = per_parameter();
  for (size_t p = 0; p < parameters_.size(); ++p) {
    torch::Tensor& parameter = parameters_[p];
    if (parameter.scalar_type() == torch::kFloat32) {
      parameter.mutable_grad() = views[p];
    } else {
      parameter.mutable_grad() = torch::Tensor();
    }
  }
}

void FlatGradients::hook_accumulators() {
  accumulators_.resize(parameters_.size());
  for (size_t p = 0; p < parameters_.size(); ++p) {
    const torch::Tensor& parameter = parameters_[p];
    if (parameter.scalar_type() == torch::kFloat32 || !parameter.requires_grad()) continue;
    AutogradNodePointer accumulator = torch::autograd::impl::grad_accumulator(parameter);
    if (accumulator == nullptr || accumulator == accumulators_[p]) continue;
    accumulator->add_post_hook(std::make_unique<FoldAfterAccumulation>(fold_target_, parameter, layout_.offset(p)));
    accumulators_[p] = std::move(accumulator);
  }
}

FlatGradients::BackwardFolding FlatGradients::fold_during_backward() {
  TORCH_CHECK(full_.defined(), "FlatGradients::fold_during_backward before start()");
  TORCH_CHECK(!fold_target_->active, "FlatGradients::fold_during_backward: already folding");
  hook_accumulators();
  fold_target_->full = full_;
  return BackwardFolding(fold_target_);
}

FlatGradients::BackwardFolding::BackwardFolding(std::shared_ptr<FoldTarget> target) : target_(std::move(target)) {
  target_->active = true;
}

FlatGradients::BackwardFolding::~BackwardFolding() {
  if (target_ == nullptr) return;  // moved from
  target_->active = false;
  target_->full = torch::Tensor();  // the buffer's lifetime stays FlatGradients'
}

void FlatGradients::fold() {
  torch::NoGradGuard no_grad;
  TORCH_CHECK(full_.defined(), "FlatGradients::fold before start()");
  for (size_t p = 0; p < parameters_.size(); ++p) {
    torch::Tensor& parameter = parameters_[p];
    const torch::Tensor& grad = parameter.grad();
    if (!grad.defined()) continue;
    torch::Tensor into = full_.narrow(/*dim=*/0, layout_.offset(p), layout_.numel(p));
    const bool dense_fp32 = !grad.is_sparse() && grad.scalar_type() == torch::kFloat32;
    if (dense_fp32 && grad.data_ptr() == into.data_ptr()) continue;  // accumulated in place (fp32 parameters)
    if (dense_fp32) {
      // Autograd replaced the view by view + new (out of place): that is the sum.
      into.copy_(grad.reshape({-1}));
    } else {
      fold_parameter(parameter, into);
    }
    if (parameter.scalar_type() == torch::kFloat32) parameter.mutable_grad() = into.view(parameter.sizes());
  }
}

void FlatGradients::release_full() {
  if (!shard_only_) return;
  for (auto& parameter : parameters_) parameter.mutable_grad() = torch::Tensor();
  full_ = torch::Tensor();
}

std::vector<torch::Tensor> FlatGradients::buckets(int64_t bucket_bytes) const {
  TORCH_CHECK(bucket_bytes >= 4, "FlatGradients::buckets: bucket_bytes must be ≥ 4");
  const int64_t per_bucket = bucket_bytes / 4;
  std::vector<torch::Tensor> buckets;
  for (int64_t begin = 0; begin < full_.numel(); begin += per_bucket) {
    buckets.push_back(full_.narrow(/*dim=*/0, begin, std::min(per_bucket, full_.numel() - begin)));
  }
  return buckets;
}

std::vector<torch::Tensor> FlatGradients::per_parameter() const {
  std::vector<torch::Tensor> views;
  for (size_t p = 0; p < parameters_.size(); ++p) {
    views.push_back(full_.narrow(/*dim=*/0, layout_.offset(p), layout_.numel(p)).view(parameters_[p].sizes()));
  }
  return views;
}

torch::Tensor FlatGradients::gradient_of(const torch::Tensor& parameter) const {
  if (!full_.defined()) return {};
  for (size_t p = 0; p < parameters_.size(); ++p) {
    if (parameters_[p].unsafeGetTensorImpl() == parameter.unsafeGetTensorImpl()) {
      return full_.narrow(/*dim=*/0, layout_.offset(p), layout_.numel(p)).view(parameters_[p].sizes());
    }
  }
  TORCH_CHECK(false, "FlatGradients::gradient_of: not one of the parameters");
}

namespace {

// Σ x² in fp64 over a flat fp32 range, kSquareSumChunk elements at a time:
// the fp64 copy and its square never exceed 2 × 8 MiB, where the whole range
// at once cost 16 bytes per element of the largest parameter (2.2 GB for a
// 151,936 × 896 embedding: the peak of a CPU step once activations are small,
// docs/benchmarks.md).
constexpr int64_t kSquareSumChunk = int64_t{1} << 20;

double fp64_square_sum(const torch::Tensor& flat) {
  double sum = 0;
  for (int64_t begin = 0; begin < flat.numel(); begin += kSquareSumChunk) {
    const int64_t n = std::min(kSquareSumChunk, flat.numel() - begin);
    sum += flat.narrow(/*dim=*/0, begin, n).to(torch::kFloat64).square().sum().item<double>();
  }
  return sum;
}

}  // namespace

double FlatGradients::square_sum() const {
  torch::NoGradGuard no_grad;
  double sum = 0;
  if (shard_only_) {
    for (const ParameterPiece& piece : layout_.pieces(shard_index_)) {
      sum += fp64_square_sum(shard_.narrow(/*dim=*/0, piece.shard_offset, piece.numel()));
    }
    return sum;
  }
  for (size_t p = 0; p < parameters_.size(); ++p) {
    sum += fp64_square_sum(full_.narrow(/*dim=*/0, layout_.offset(p), layout_.numel(p)));
  }
  return sum;
}

void FlatGradients::scale(double factor) {
  torch::NoGradGuard no_grad;
  if (shard_only_) {
    shard_.mul_(factor);
  } else {
    for (const auto& gradient : per_parameter()) gradient.mul_(factor);
  }
}

}  // namespace deltarl
