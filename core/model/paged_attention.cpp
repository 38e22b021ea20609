#include "core/model/paged_attention.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/kernel_versions.h"

#ifdef DELTARL_TORCH_HAS_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

// Built like inference_kernels.cpp (-fopenmp-simd for the reductions'
// pragmas): the loop is written once and compiled again for AVX2 and AVX-512,
// chosen at run time (core/kernel_versions.h).

namespace deltarl {
namespace {

// One sequence's `groups` query heads (groups × d floats) that share one kv
// head, over its `length` positions: keys/values point at that kv head's
// vector in slot 0, `slot_stride` floats apart from slot to slot. `scores`
// holds groups × length floats of scratch; `out` receives groups × d.
DELTARL_KERNEL_BODY
void attend_kv_head_body(const float* q, int64_t groups, int64_t d, const float* keys, const float* values,
                         int64_t slot_stride, const int64_t* blocks, int64_t block_size, int64_t length, float scale,
                         float* scores, float* out) {
  for (int64_t t = 0; t < length; ++t) {
    const float* key = keys + (blocks[t / block_size] * block_size + t % block_size) * slot_stride;
    for (int64_t g = 0; g < groups; ++g) {
      const float* query = q + g * d;
      float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
      for (int64_t i = 0; i < d; ++i) dot += query[i] * key[i];
      scores[g * length + t] = dot * scale;
    }
  }
  for (int64_t g = 0; g < groups; ++g) {
    float* row = scores + g * length;
    float peak = -std::numeric_limits<float>::infinity();
    for (int64_t t = 0; t < length; ++t) peak = std::max(peak, row[t]);
    float sum = 0.0f;
    for (int64_t t = 0; t < length; ++t) {
      row[t] = std::exp(row[t] - peak);
      sum += row[t];
    }
    for (int64_t t = 0; t < length; ++t) row[t] = row[t] / sum;
    float* attended = out + g * d;
#pragma omp simd
    for (int64_t i = 0; i < d; ++i) attended[i] = 0.0f;
  }
  for (int64_t t = 0; t < length; ++t) {
    const float* value = values + (blocks[t / block_size] * block_size + t % block_size) * slot_stride;
    for (int64_t g = 0; g < groups; ++g) {
      const float weight = scores[g * length + t];
      float* attended = out + g * d;
#pragma omp simd
      for (int64_t i = 0; i < d; ++i) attended[i] += weight * value[i];
    }
  }
}

using AttendKvHead = void (*)(const float*, int64_t, int64_t, const float*, const float*, int64_t, const int64_t*,
                              int64_t, int64_t, float, float*, float*);

#define DELTARL_KERNEL_VERSION(name, attributes)                                                                \
  attributes void name(const float* q, int64_t groups, int64_t d, const float* keys, const float* values,      \
                       int64_t slot_stride, const int64_t* blocks, int64_t block_size, int64_t length,         \
                       float scale, float* scores, float* out) {                                              \
    attend_kv_head_body(q, groups, d, keys, values, slot_stride, blocks, block_size, length, scale, scores, out); \
  }

DELTARL_KERNEL_VERSION(attend_kv_head_portable, )
DELTARL_KERNEL_VERSION(attend_kv_head_avx2, DELTARL_TARGET_AVX2)
DELTARL_KERNEL_VERSION(attend_kv_head_avx512, DELTARL_TARGET_AVX512)
#undef DELTARL_KERNEL_VERSION

AttendKvHead selected_kernel() {
  static constexpr AttendKvHead portable = attend_kv_head_portable, avx2 = attend_kv_head_avx2,
                                avx512 = attend_kv_head_avx512;
  return pick_kernel_version(portable, avx2, avx512);
}

}  // namespace

PagedDecodeBatch::PagedDecodeBatch(PagedKvCache& cache, const std::vector<const PagedKvCache::BlockTable*>& tables)
    : cache_(cache), size_(static_cast<int64_t>(tables.size())) {
  TORCH_CHECK(!tables.empty(), "PagedDecodeBatch: no sequences");
  size_t most_blocks = 0;
  std::vector<int64_t> new_slots;
  for (const PagedKvCache::BlockTable* table : tables) {
    new_slots.push_back(cache.slots(*table, table->length, table->length + 1).front());  // checks the reservation
    lengths_.push_back(table->length + 1);
    most_blocks = std::max(most_blocks, table->blocks.size());
  }
  block_tables_ = torch::zeros({size(), static_cast<int64_t>(most_blocks)}, torch::kInt64);
  for (size_t r = 0; r < tables.size(); ++r) {
    std::copy(tables[r]->blocks.begin(), tables[r]->blocks.end(),
              block_tables_.data_ptr<int64_t>() + static_cast<int64_t>(r) * static_cast<int64_t>(most_blocks));
  }
  new_slots_ = torch::tensor(new_slots, torch::kInt64).to(cache.keys(0).device());
}

PagedDecodeBatch::PagedDecodeBatch(PagedKvCache& cache, torch::Tensor new_slots, torch::Tensor gather_slots,
                                   torch::Tensor gather_valid)
    : cache_(cache),
      size_(new_slots.size(0)),
      fixed_shapes_(true),
      new_slots_(std::move(new_slots)),
      gather_slots_(std::move(gather_slots)),
      gather_valid_(std::move(gather_valid)) {
  TORCH_CHECK(new_slots_.dim() == 1 && gather_slots_.dim() == 2 && gather_slots_.size(0) == size_ &&
                  gather_valid_.sizes() == gather_slots_.sizes() && gather_valid_.scalar_type() == torch::kBool,
              "PagedDecodeBatch: new_slots (b,), gather_slots (b, context) and bool gather_valid of its shape expected, "
              "got ", new_slots_.sizes(), ", ", gather_slots_.sizes(), ", ", gather_valid_.sizes());
}

torch::Tensor PagedDecodeBatch::attend(int64_t layer, const torch::Tensor& q, const torch::Tensor& k,
                                       const torch::Tensor& v, double scale) {
  const int64_t b = size();
  TORCH_CHECK(q.dim() == 4 && q.size(0) == b && q.size(2) == 1 && k.dim() == 4 && k.size(0) == b && k.size(2) == 1 &&
                  v.sizes() == k.sizes() && q.size(1) % k.size(1) == 0 && q.size(3) == k.size(3),
              "PagedDecodeBatch::attend: q (", b, ", heads, 1, d) and k, v (", b, ", kv_heads, 1, d) expected, got ",
              q.sizes(), ", ", k.sizes(), ", ", v.sizes());
  cache_.write(layer, new_slots_, k.squeeze(2), v.squeeze(2));
  const torch::Tensor& keys = cache_.keys(layer);
  const bool kernel = !fixed_shapes_ && !torch::GradMode::is_enabled() && keys.device().is_cpu() &&
                      keys.scalar_type() == torch::kFloat32 && q.scalar_type() == torch::kFloat32;
  if (kernel) return attend_on_cpu(layer, q, scale);
  return fixed_shapes_ ? attend_padded(layer, q, scale) : attend_packed(layer, q, scale);
}

torch::Tensor PagedDecodeBatch::attend_on_cpu(int64_t layer, const torch::Tensor& q, double scale) const {
  const torch::Tensor queries = q.squeeze(2).contiguous();  // (b, heads, d)
  const torch::Tensor& keys = cache_.keys(layer);
  const torch::Tensor& values = cache_.values(layer);
  const int64_t b = size(), heads = queries.size(1), d = queries.size(2), kv_heads = keys.size(1);
  const int64_t groups = heads / kv_heads, most_blocks = block_tables_.size(1), block_size = cache_.block_size();
  torch::Tensor out = torch::empty_like(queries);
  const float* query_data = queries.data_ptr<float>();
  const float* key_data = keys.data_ptr<float>();
  const float* value_data = values.data_ptr<float>();
  const int64_t* tables = block_tables_.data_ptr<int64_t>();
  float* out_data = out.data_ptr<float>();
  const AttendKvHead kernel = selected_kernel();
  int64_t total_length = 0;
  for (const int64_t length : lengths_) total_length += length;
  // About 32k floats of keys and values per task, ATen's own grain.
  const int64_t per_task_floats = std::max<int64_t>(1, 2 * total_length * d / b);
  const int64_t grain = std::max<int64_t>(1, 32768 / per_task_floats);
  at::parallel_for(0, b * kv_heads, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> scores;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t row = task / kv_heads, head = task % kv_heads, length = lengths_[static_cast<size_t>(row)];
      scores.resize(static_cast<size_t>(groups * length));
      const int64_t first_query = (row * heads + head * groups) * d;
      kernel(query_data + first_query, groups, d, key_data + head * d, value_data + head * d, kv_heads * d,
             tables + row * most_blocks, block_size, length, static_cast<float>(scale), scores.data(),
             out_data + first_query);
    }
  });
  return out;
}

#ifdef DELTARL_TORCH_HAS_CUDA
namespace {

// PyTorch's own FlashAttention-2 (varlen) takes the packed keys and values on
// GPUs of compute capability 8.0 on, in half precision, for head sizes up to
// 256 in multiples of 8.
bool flash_attention_takes(const torch::Tensor& q, const torch::Tensor& keys) {
  const auto dtype = q.scalar_type();
  const int64_t d = q.size(-1);
  return keys.is_cuda() && keys.scalar_type() == dtype && (dtype == torch::kBFloat16 || dtype == torch::kHalf) &&
         d % 8 == 0 && d <= 256 && at::cuda::getCurrentDeviceProperties()->major >= 8;
}

}  // namespace
#endif

torch::Tensor PagedDecodeBatch::attend_packed(int64_t layer, const torch::Tensor& q, double scale) {
  const int64_t b = size(), heads = q.size(1), d = q.size(3);
  const torch::Tensor& keys = cache_.keys(layer);
  const int64_t kv_heads = keys.size(1), groups = heads / kv_heads;
  if (!packed_slots_.defined()) {
    // Row after row, each row's own slots: positions [0, length) of its blocks.
    std::vector<int64_t> slots;
    std::vector<int32_t> starts = {0};
    const int64_t block_size = cache_.block_size(), most_blocks = block_tables_.size(1);
    const int64_t* tables = block_tables_.data_ptr<int64_t>();
    for (int64_t r = 0; r < b; ++r) {
      const int64_t length = lengths_[static_cast<size_t>(r)];
      for (int64_t t = 0; t < length; ++t) {
        slots.push_back(tables[r * most_blocks + t / block_size] * block_size + t % block_size);
      }
      starts.push_back(static_cast<int32_t>(slots.size()));
    }
    packed_slots_ = torch::tensor(slots, torch::kInt64).to(keys.device());
    row_starts_ = torch::tensor(starts, torch::kInt32).to(keys.device());
  }
  // (total, kv_heads, d): every row's keys and values one after another.
  const torch::Tensor packed_keys = keys.index_select(0, packed_slots_).to(q.scalar_type());
  const torch::Tensor packed_values = cache_.values(layer).index_select(0, packed_slots_).to(q.scalar_type());
  const torch::Tensor queries = q.reshape({b, heads, d});
#ifdef DELTARL_TORCH_HAS_CUDA
  if (flash_attention_takes(q, keys)) {
    // One query per row: query starts 0, 1, ..., b; not causal (it sees all its keys).
    if (!query_starts_.defined()) {
      query_starts_ = torch::arange(b + 1, torch::TensorOptions().dtype(torch::kInt32).device(keys.device()));
    }
    const int64_t longest = *std::max_element(lengths_.begin(), lengths_.end());
    return std::get<0>(at::_flash_attention_forward(queries, packed_keys, packed_values, query_starts_, row_starts_,
                                                     /*max_q=*/1, /*max_k=*/longest, /*dropout_p=*/0.0,
                                                     /*is_causal=*/false, /*return_debug_mask=*/false, scale));
  }
#endif
  // Elsewhere, row by row over its own keys: (kv, groups, d) · (kv, d, length).
  std::vector<torch::Tensor> rows;
  rows.reserve(static_cast<size_t>(b));
  int64_t start = 0;
  for (int64_t r = 0; r < b; ++r) {
    const int64_t length = lengths_[static_cast<size_t>(r)];
    const torch::Tensor row_keys = packed_keys.narrow(0, start, length).permute({1, 2, 0});     // (kv, d, length)
    const torch::Tensor row_values = packed_values.narrow(0, start, length).permute({1, 0, 2});  // (kv, length, d)
    const torch::Tensor scores = torch::matmul(queries[r].view({kv_heads, groups, d}), row_keys) * scale;
    const torch::Tensor weights = torch::softmax(scores, /*dim=*/-1, torch::kFloat32).to(q.scalar_type());
    rows.push_back(torch::matmul(weights, row_values).reshape({heads, d}));
    start += length;
  }
  return torch::stack(rows);
}

torch::Tensor PagedDecodeBatch::attend_padded(int64_t layer, const torch::Tensor& q, double scale) {
  const int64_t b = size(), heads = q.size(1), d = q.size(3);
  const torch::Tensor& keys = cache_.keys(layer);
  const int64_t kv_heads = keys.size(1), groups = heads / kv_heads;
  const int64_t longest = gather_slots_.size(1);
  const auto gathered = [&](const torch::Tensor& pool) {  // (b, kv_heads, longest, d)
    return pool.index_select(0, gather_slots_.view({-1})).view({b, longest, kv_heads, d}).permute({0, 2, 1, 3});
  };
  const torch::Tensor queries = q.reshape({b, kv_heads, groups, d});
  torch::Tensor scores = torch::matmul(queries, gathered(keys).to(q.scalar_type()).transpose(-1, -2)) * scale;
  scores = scores.masked_fill(gather_valid_.logical_not().view({b, 1, 1, longest}),
                              -std::numeric_limits<float>::infinity());
  const torch::Tensor weights = torch::softmax(scores, /*dim=*/-1, torch::kFloat32).to(q.scalar_type());
  return torch::matmul(weights, gathered(cache_.values(layer)).to(q.scalar_type())).reshape({b, heads, d});
}

}  // namespace deltarl
