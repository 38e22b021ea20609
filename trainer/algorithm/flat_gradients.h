// FlatGradients: an update's gradient in one flat fp32 buffer laid out by a
// FlatParameterLayout, whatever the parameters' dtype, so that micro-batches
// accumulate, ranks reduce and the norm is taken in fp32 on every path (MPI
// and NCCL sum the same fp32 values). PolicyUpdater owns one.
//
//   gradients.start();                        // zeroed buffer; fp32 .grads become views of it
//   for (micro-batch) {
//     { const auto folding = gradients.fold_during_backward(); backward(); }
//     gradients.fold();                       // what backward did not fold (nothing, usually)
//   }
//   communicator.all_reduce_sum(gradients.buckets());     // stage 0 and 1
//   communicator.reduce_scatter_sum(gradients.full(), gradients.shard());  // stage 2, then
//   gradients.release_full();
//
// Note [ZeRO stages]
// `train.zero_stage` has ZeRO's meaning, over the data-parallel ranks:
//   0  every rank keeps the whole AdamW state; the flat gradient is all-reduced.
//   1  AdamW keeps its moments (and the fp32 masters of bf16 weights) only for
//      the rank's shard of the flat space (FlatParameterLayout: world_size
//      contiguous shards, padded); the flat gradient is still all-reduced,
//      each rank steps its shard, and the updated shards are all-gathered
//      back into every rank's model-dtype weights.
//   2  as 1, but the flat gradient is reduce-scattered: each rank receives
//      only its shard, and the full buffer is freed until the next update.
// The global gradient norm for clipping is the full buffer's (stages 0, 1)
// or the shards' squared sums all-reduced as one scalar (stage 2); weight
// decay follows each element's parameter (ParameterPiece), so a shard that
// cuts a matrix decays exactly that matrix's elements.
// bf16 parameters: each one's .grad is added to the buffer in fp32 and
// dropped as soon as backward has accumulated it (a post hook on the
// parameter's gradient accumulator, as DDP's reducer registers), so at most a
// few bf16 gradients exist at once instead of P·2 bytes of them at the end of
// backward: 15 GB for the 7B. The bits are fold()'s after backward, since
// autograd accumulates a parameter once per backward either way.
// What stage 2 saves with this design, honestly: micro-batches accumulate
// into the full fp32 buffer during backward (one reduce-scatter per update,
// never one per micro-batch: ranks may hold different numbers of them, even
// none), so the full buffer exists from the first backward to the
// reduce-scatter, and the peak during backward equals stage 1's. What it
// removes is the full gradient during the optimizer step and the weights'
// all-gather, and between updates (π_old, the KL reference, evaluation).
// Stage 1 saves the optimizer state: 12 bytes per bf16 parameter (8 for
// fp32) become 12/world_size.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/types.h>

#include "trainer/algorithm/flat_parameter_layout.h"

namespace deltarl {

class FlatGradients {
 public:
  // `parameters` in `layout`'s order, all on one device. `shard` is this
  // rank's in the layout; `shard_only` (stage 2) frees the full buffer in
  // release_full().
  FlatGradients(std::vector<torch::Tensor> parameters, FlatParameterLayout layout, int shard, bool shard_only);

  // Before an update's first backward: a zeroed (padded_numel,) fp32 buffer,
  // and every fp32 parameter's .grad a view of it (backward then adds in place).
  void start();
  // While the returned guard lives, backward folds each non-fp32 parameter's
  // .grad into the buffer as soon as it is accumulated. From start() to the
  // update's end; not nestable.
  class BackwardFolding;
  BackwardFolding fold_during_backward();
  // After each backward: every non-fp32 parameter's .grad (those that
  // backward did not fold) added to the buffer in fp32, then released (the
  // next backward makes a fresh one).
  void fold();
  // Stage 2, after the reduce-scatter: frees the full buffer (fp32 .grads undefined).
  void release_full();

  // (padded_numel,) fp32; defined from start() to release_full().
  const torch::Tensor& full() const { return full_; }
  // Contiguous views of full() of at most `bucket_bytes` each, in order.
  std::vector<torch::Tensor> buckets(int64_t bucket_bytes) const;
  // Views of full() shaped as the parameters.
  std::vector<torch::Tensor> per_parameter() const;
  // The view of full() shaped as `parameter` (one of the parameters, by
  // identity), where a backward may add its gradient directly (the chunked
  // output layer's weight_gradient_buffer); undefined before start().
  torch::Tensor gradient_of(const torch::Tensor& parameter) const;
  // (shard_numel,) fp32: this rank's shard of the reduced gradient: a view of
  // full(), or with shard_only the reduce-scatter's output.
  torch::Tensor& shard() { return shard_; }

  // Σ g² in fp64 over what this rank holds reduced: every parameter in order
  // (full buffer), or with shard_only the shard's parameter pieces.
  double square_sum() const;
  // Multiplies what this rank holds reduced (shard or full buffer) by `factor`.
  void scale(double factor);

  const FlatParameterLayout& layout() const { return layout_; }
  bool shard_only() const { return shard_only_; }

 private:
  // What the gradient accumulators' hooks fold into, and whether they may.
  struct FoldTarget {
    bool active = false;
    torch::Tensor full;
  };
  class FoldAfterAccumulation;
  // How autograd holds a node: std::shared_ptr, c10::intrusive_ptr from LibTorch 2.15.
  using AutogradNodePointer = decltype(torch::autograd::impl::grad_accumulator(std::declval<const torch::Tensor&>()));
  // Registers the hooks on the non-fp32 parameters' gradient accumulators,
  // again for any whose accumulator changed (a dtype change replaces it).
  void hook_accumulators();

  std::shared_ptr<FoldTarget> fold_target_ = std::make_shared<FoldTarget>();
  // Held so the parameters keep these accumulators (and their hooks) across
  // backward passes; autograd itself keeps them only while a graph does.
  std::vector<AutogradNodePointer> accumulators_;
  std::vector<torch::Tensor> parameters_;
  FlatParameterLayout layout_;
  int shard_index_ = 0;
  bool shard_only_ = false;
  torch::Tensor full_;   // (padded_numel,) fp32
  torch::Tensor shard_;  // (shard_numel,) fp32
};

class FlatGradients::BackwardFolding {
 public:
  explicit BackwardFolding(std::shared_ptr<FoldTarget> target);
  ~BackwardFolding();
  BackwardFolding(BackwardFolding&& other) noexcept = default;
  BackwardFolding(const BackwardFolding&) = delete;
  BackwardFolding& operator=(const BackwardFolding&) = delete;
  BackwardFolding& operator=(BackwardFolding&&) = delete;

 private:
  std::shared_ptr<FoldTarget> target_;
};

}  // namespace deltarl
