// CudaDecodeGraphs: decoding steps replayed as CUDA graphs, one graph per
// bucket of batch size (powers of two up to the largest batch) and context
// (powers of two from 256 positions), each capturing a StaticDecodeStep
// (static_decode_step.h) over one model and one PagedKvCache. A step launches
// one graph instead of the forward's few hundred kernels.
//
// Built only against a CUDA LibTorch (available() says whether this build
// has it); elsewhere constructing one throws InputError. Graphs read the
// model's weights and the pool by address: weights filled in place (an
// upload into the standby model) are read at the next replay; parameters
// that moved (re-created, re-fused) are noticed at decode(), which then
// captures again. Make a new CudaDecodeGraphs for another pool. The graphs
// share one memory pool.
//
// Not validated on a device yet: the engine runs it only when asked
// (deltarl rollout --cuda-graphs), and deploy/gpu/smoke.sh compares it with
// the plain path. The padding and static inputs it replays are tested on the
// CPU (tests/core/model/static_decode_step_test.cpp).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "core/model/paged_kv_cache.h"
#include "core/model/causal_lm.h"

namespace deltarl {

class CudaDecodeGraphs {
 public:
  static bool available();

  // `scratch_slot`: a slot of a block of `cache` the caller keeps out of
  // every table (the padding rows write there). InputError when this build
  // has no CUDA LibTorch or the model is not on a CUDA device.
  CudaDecodeGraphs(CausalLM model, PagedKvCache& cache, int64_t max_batch, int64_t scratch_slot);
  ~CudaDecodeGraphs();
  CudaDecodeGraphs(const CudaDecodeGraphs&) = delete;
  CudaDecodeGraphs& operator=(const CudaDecodeGraphs&) = delete;

  // Logits (tables.size(), vocab) of one step, as model->decode_paged gives
  // them: tokens[r] at position tables[r]->length (reserved). Captures the
  // bucket's graph on its first use.
  torch::Tensor decode(const std::vector<int64_t>& tokens, const std::vector<const PagedKvCache::BlockTable*>& tables);

  int64_t graphs() const;  // captured so far

 private:
  struct Graph;
  CausalLM model_;
  PagedKvCache& cache_;
  int64_t max_batch_;
  int64_t scratch_slot_;
  std::vector<const void*> parameter_addresses_;  // where the captured graphs read the weights
  std::map<std::pair<int64_t, int64_t>, std::unique_ptr<Graph>> graphs_;  // by (batch, context) bucket
};

}  // namespace deltarl
