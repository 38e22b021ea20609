#include "trainer/comm/communicator.h"

#include <c10/util/Exception.h>

namespace deltarl {

namespace {

void all_reduce_bucket(Communicator& communicator, const std::vector<torch::Tensor>& bucket) {
  if (bucket.size() == 1 && bucket.front().is_contiguous()) {
    torch::Tensor tensor = bucket.front();
    communicator.all_reduce_sum(tensor);
    return;
  }
  std::vector<torch::Tensor> flat_views;
  flat_views.reserve(bucket.size());
  for (const auto& tensor : bucket) flat_views.push_back(tensor.reshape({-1}));
  torch::Tensor flat = torch::cat(flat_views);  // (Σ numel,)
  communicator.all_reduce_sum(flat);
  int64_t offset = 0;
  for (const auto& tensor : bucket) {
    const int64_t count = tensor.numel();
    tensor.copy_(flat.narrow(/*dim=*/0, offset, count).view(tensor.sizes()));
    offset += count;
  }
}

}  // namespace

void Communicator::all_reduce_sum(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes) {
  TORCH_CHECK(bucket_bytes > 0, "all_reduce_sum: bucket_bytes must be > 0");
  std::vector<torch::Tensor> bucket;
  int64_t bucket_size = 0;
  for (const auto& tensor : tensors) {
    TORCH_CHECK(tensor.device() == device(), "all_reduce_sum: tensor on ", tensor.device(),
                " but this communicator works on ", device());
    if (tensor.numel() == 0) continue;
    const int64_t bytes = tensor.numel() * static_cast<int64_t>(tensor.element_size());
    const bool dtype_changes = !bucket.empty() && bucket.front().scalar_type() != tensor.scalar_type();
    if (!bucket.empty() && (dtype_changes || bucket_size + bytes > bucket_bytes)) {
      all_reduce_bucket(*this, bucket);
      bucket.clear();
      bucket_size = 0;
    }
    bucket.push_back(tensor);
    bucket_size += bytes;
  }
  if (!bucket.empty()) all_reduce_bucket(*this, bucket);
}

void Communicator::check_shard_shapes(const torch::Tensor& whole, const torch::Tensor& shard,
                                      const char* operation) const {
  TORCH_CHECK(whole.dim() == 1 && shard.dim() == 1 && whole.numel() == shard.numel() * world_size(), operation,
              ": needs a flat tensor of world_size (", world_size(), ") × the flat shard's elements, got ",
              whole.sizes(), " and ", shard.sizes());
  TORCH_CHECK(whole.scalar_type() == shard.scalar_type(), operation, ": dtypes differ (", whole.scalar_type(),
              " and ", shard.scalar_type(), ")");
  TORCH_CHECK(whole.device() == device() && shard.device() == device(), operation, ": tensors on ",
              whole.device(), " and ", shard.device(), " but this communicator works on ", device());
  TORCH_CHECK(whole.is_contiguous() && shard.is_contiguous(), operation, ": tensors must be contiguous");
}

}  // namespace deltarl
