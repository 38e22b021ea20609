// AdamW (decoupled weight decay, Loshchilov & Hutter) over a model's named
// parameters, with its state exposed by name so checkpoints can save and
// restore it exactly (bit-exact resume). Moments are kept in fp32; parameters
// in another dtype (bf16) get an fp32 master copy that the update is applied
// to, then cast back. Weight decay applies to matrices only (dim ≥ 2), not to
// biases and norm scales, as Hugging Face's Trainer does.
//
//   AdamW optimizer(model->named_parameters(), options);
//   ... backward, gradient all-reduce, clipping ...
//   optimizer.step(learning_rate);   // reads each parameter's .grad()
//
// Sharded (ZeRO stage 1 and 2, Note [ZeRO stages] in flat_gradients.h): with
// OptimizerShard{rank, world_size} the state exists only for rank's shard of
// the FlatParameterLayout; step(lr, gradient_shard) updates that shard's
// weights (fp32 parameters in place, else the fp32 masters and the parameter
// slice), and the caller all-gathers the shards (pack_shard_weights). The
// state by name stays whole and world-size independent: gather_state()
// assembles it for a checkpoint, load_state() takes each rank's slice of it,
// so a checkpoint written at 4 ranks loads at 2 or 1.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "trainer/algorithm/flat_parameter_layout.h"
#include "trainer/comm/communicator.h"

namespace deltarl {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.01;
};

// Which shard of the flat parameter space an optimizer keeps: count 1 is
// unsharded (ZeRO stage 0: every rank keeps everything).
struct OptimizerShard {
  int rank = 0;
  int count = 1;
};

class AdamW {
 public:
  // The update runs over each parameter in chunks of this many elements, so
  // its temporaries stay small whatever the largest parameter (an embedding).
  static constexpr int64_t kUpdateChunkElements = int64_t{1} << 20;

  AdamW(const torch::OrderedDict<std::string, torch::Tensor>& named_parameters, AdamWOptions options,
        OptimizerShard shard = {});

  // Unsharded only: one update with learning rate `lr` from each parameter's
  // .grad(). Parameters without a gradient are skipped.
  void step(double lr);
  // One update of this shard from `gradient_shard` (layout().shard_numel(),)
  // fp32, the reduced flat gradient of the shard (the whole flat gradient
  // when unsharded). Not collective: when sharded(), the caller then
  // all-gathers pack_shard_weights() into every parameter (step_updates.cpp).
  void step(double lr, const torch::Tensor& gradient_shard);
  void zero_grad();
  int64_t steps_taken() const { return steps_taken_; }

  bool sharded() const { return shard_.count > 1; }
  const OptimizerShard& shard() const { return shard_; }
  const FlatParameterLayout& layout() const { return layout_; }
  // The parameters, in the layout's order.
  const std::vector<torch::Tensor>& parameters() const { return parameters_; }
  // (shard_numel,) in the parameters' dtype: this shard's current weights,
  // zero in the padding, for all_gather_into a (padded_numel,) buffer.
  torch::Tensor pack_shard_weights() const;
  // Copies a gathered (padded_numel,) buffer into every parameter.
  void unpack_weights(const torch::Tensor& gathered);
  // Bytes of optimizer state held by this rank (moments and masters).
  int64_t state_bytes() const;

  // Unsharded only: the state as named fp32 CPU tensors, each of its
  // parameter's shape: "exp_avg.<param>", "exp_avg_sq.<param>" and, for
  // non-fp32 parameters, "master.<param>".
  std::vector<std::pair<std::string, torch::Tensor>> state_tensors() const;
  // The same, whole, assembled from every rank's shard: collective over
  // `communicator` (the one the shards are reduced on) when sharded(), three
  // all-gathers; unsharded it is state_tensors() and makes no collective.
  std::vector<std::pair<std::string, torch::Tensor>> gather_state(Communicator& communicator) const;
  // Restores (this shard of) what state_tensors() or gather_state() gave, from
  // any world size. Throws InputError naming `source` and the tensor when one
  // is missing or has the wrong shape. Not collective.
  void load_state(const std::map<std::string, torch::Tensor>& tensors, int64_t steps_taken,
                  const std::string& source);

 private:
  // One parameter's part of this shard (the whole parameter when unsharded).
  struct Slot {
    ParameterPiece piece;
    torch::Tensor weights;     // (n,) a view of master_ when has_master; else undefined (the parameter's own)
    torch::Tensor exp_avg;     // (n,) fp32, a view of exp_avg_
    torch::Tensor exp_avg_sq;  // (n,) fp32
    bool has_master = false;   // the parameter is not fp32: weights are master_'s, copied back after the update
    bool decay = false;        // the parameter is a matrix
  };
  void update(Slot& slot, const torch::Tensor& gradient, double lr, double step_size, double bias_correction2_sqrt);
  torch::Tensor parameter_slice(const Slot& slot) const;  // (n,) view of the parameter

  std::vector<std::string> names_;
  std::vector<torch::Tensor> parameters_;
  OptimizerShard shard_;
  FlatParameterLayout layout_;
  torch::Tensor exp_avg_, exp_avg_sq_;  // (shard_numel,) fp32
  torch::Tensor master_;                // (shard_numel,) fp32, defined when a parameter is not fp32
  std::vector<Slot> slots_;
  AdamWOptions options_;
  int64_t steps_taken_ = 0;
};

}  // namespace deltarl
