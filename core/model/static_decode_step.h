// StaticDecodeStep: one decoding step through a PagedKvCache in fixed shapes,
// the form a CUDA graph captures (cuda_decode_graphs.h). The batch is padded to
// `batch` rows and every row's context to `context` positions: a padding row
// feeds token 0 at position 0, writes its key and value into a scratch slot
// no sequence holds, and attends to that slot alone, so it changes nothing any
// sequence reads. The input tensors live as long as the step: set() copies
// each step's inputs into them and forward() reads them, so a graph captured
// over forward() replays on new inputs.
//
//   StaticDecodeStep step(model, cache, /*batch=*/8, /*context=*/512, scratch_slot);
//   step.set(tokens, tables);                 // up to 8 tables, each reserved for its next position
//   logits = step.forward().narrow(0, 0, tables.size());
//
// Each real row's logits are those decode_paged gives it (tested within 1e-5).
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "core/model/paged_attention.h"
#include "core/model/paged_kv_cache.h"
#include "core/model/causal_lm.h"

namespace deltarl {

class StaticDecodeStep {
 public:
  // `scratch_slot`: a slot of a block the caller keeps out of every table.
  StaticDecodeStep(CausalLM model, PagedKvCache& cache, int64_t batch, int64_t context, int64_t scratch_slot);

  int64_t batch() const { return batch_; }
  int64_t context() const { return context_; }

  // This step's inputs: tokens[r] at position tables[r]->length of each table
  // (reserved for it), at most batch() tables, none longer than context()
  // positions with the new one. The rest of the rows become padding.
  void set(const std::vector<int64_t>& tokens, const std::vector<const PagedKvCache::BlockTable*>& tables);
  // Logits (batch, vocab) in fp32 from the inputs set last; rows beyond them are padding.
  torch::Tensor forward();

 private:
  CausalLM model_;
  PagedKvCache& cache_;
  int64_t batch_, context_, scratch_slot_;
  torch::Tensor tokens_, positions_;                         // (batch, 1) int64 on the device
  torch::Tensor new_slots_, gather_slots_, gather_valid_;    // (batch,), (batch, context), (batch, context) bool
  PagedDecodeBatch paged_;                                   // over the tensors above
};

}  // namespace deltarl
