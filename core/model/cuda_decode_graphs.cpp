#include "core/model/cuda_decode_graphs.h"

#include <torch/torch.h>

#include "core/input_error.h"
#include "core/model/static_decode_step.h"

#ifdef DELTARL_TORCH_HAS_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace deltarl {

#ifdef DELTARL_TORCH_HAS_CUDA

namespace {

int64_t power_of_two_at_least(int64_t value, int64_t floor) {
  int64_t bucket = floor;
  while (bucket < value) bucket *= 2;
  return bucket;
}

}  // namespace

struct CudaDecodeGraphs::Graph {
  Graph(CausalLM model, PagedKvCache& cache, int64_t batch, int64_t context, int64_t scratch_slot)
      : step(std::move(model), cache, batch, context, scratch_slot) {}
  StaticDecodeStep step;
  at::cuda::CUDAGraph graph;
  torch::Tensor logits;  // the captured forward's output, rewritten by each replay
};

bool CudaDecodeGraphs::available() { return true; }

CudaDecodeGraphs::CudaDecodeGraphs(CausalLM model, PagedKvCache& cache, int64_t max_batch,
                                   int64_t scratch_slot)
    : model_(std::move(model)), cache_(cache), max_batch_(max_batch), scratch_slot_(scratch_slot) {
  if (!model_->model->embed_tokens->weight.is_cuda()) throw InputError("CUDA graphs need a model on a CUDA device");
}

CudaDecodeGraphs::~CudaDecodeGraphs() = default;

torch::Tensor CudaDecodeGraphs::decode(const std::vector<int64_t>& tokens,
                                       const std::vector<const PagedKvCache::BlockTable*>& tables) {
  std::vector<const void*> addresses;
  for (const auto& parameter : model_->parameters()) addresses.push_back(parameter.data_ptr());
  if (addresses != parameter_addresses_) {
    graphs_.clear();  // captured over memory the weights no longer live in
    parameter_addresses_ = std::move(addresses);
  }
  int64_t longest = 0;
  for (const auto* table : tables) longest = std::max(longest, table->length + 1);
  const int64_t rows = static_cast<int64_t>(tables.size());
  const auto key = std::make_pair(std::min(power_of_two_at_least(rows, 1), power_of_two_at_least(max_batch_, 1)),
                                  power_of_two_at_least(longest, 256));
  auto found = graphs_.find(key);
  const c10::cuda::CUDAGuard on_device(model_->model->embed_tokens->weight.device());
  if (found == graphs_.end()) {
    auto graph = std::make_unique<Graph>(model_, cache_, key.first, key.second, scratch_slot_);
    graph->step.set(tokens, tables);
    // Captured on a side stream after one eager run there (cuBLAS and the
    // allocator set up outside the capture), in the pool the graphs share.
    c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool();
    at::cuda::CUDAEvent inputs_ready;
    inputs_ready.record(c10::cuda::getCurrentCUDAStream());
    inputs_ready.block(side);
    {
      const c10::cuda::CUDAStreamGuard on_side(side);
      torch::NoGradGuard no_grad;
      graph->step.forward();
      const auto pool =
          graphs_.empty() ? decltype(graph->graph.pool()){0, 0} : graphs_.begin()->second->graph.pool();
      // Thread-local: a weight upload's CUDA calls on a gRPC thread meanwhile
      // must neither fail nor break this capture.
      graph->graph.capture_begin(pool, cudaStreamCaptureModeThreadLocal);
      try {
        graph->logits = graph->step.forward();
      } catch (...) {
        try {
          graph->graph.capture_end();  // close the capture; the graph is dropped
        } catch (...) {
        }
        throw;
      }
      graph->graph.capture_end();
    }
    at::cuda::CUDAEvent captured;
    captured.record(side);
    captured.block(c10::cuda::getCurrentCUDAStream());
    found = graphs_.emplace(key, std::move(graph)).first;
  } else {
    found->second->step.set(tokens, tables);
  }
  found->second->graph.replay();
  return found->second->logits.narrow(0, 0, rows).clone();
}

int64_t CudaDecodeGraphs::graphs() const { return static_cast<int64_t>(graphs_.size()); }

#else  // no CUDA LibTorch

struct CudaDecodeGraphs::Graph {};

bool CudaDecodeGraphs::available() { return false; }

CudaDecodeGraphs::CudaDecodeGraphs(CausalLM model, PagedKvCache& cache, int64_t max_batch,
                                   int64_t scratch_slot)
    : model_(std::move(model)), cache_(cache), max_batch_(max_batch), scratch_slot_(scratch_slot) {
  throw InputError("CUDA graphs need deltarl built against a CUDA LibTorch; this build has none");
}

CudaDecodeGraphs::~CudaDecodeGraphs() = default;

torch::Tensor CudaDecodeGraphs::decode(const std::vector<int64_t>&, const std::vector<const PagedKvCache::BlockTable*>&) {
  throw InputError("CUDA graphs need deltarl built against a CUDA LibTorch");
}

int64_t CudaDecodeGraphs::graphs() const { return 0; }

#endif

}  // namespace deltarl
