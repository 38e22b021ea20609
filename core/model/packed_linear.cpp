#include "core/model/packed_linear.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/torch.h>

#include <algorithm>

#include "core/cpu_kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DELTARL_PACKED_LINEAR_KERNEL 1
#include <immintrin.h>
#endif

namespace deltarl {
namespace {

constexpr int64_t kPanel = 32;  // output columns per panel: two 16-float vectors

#if defined(DELTARL_PACKED_LINEAR_KERNEL)
constexpr int64_t kRows = 8;        // input rows per kernel call: 16 accumulators
constexpr int64_t kRowChunk = 128;  // a multiple of kRows

// rows × 32 outputs of one panel: out[r][c] = bias[c] + Σ_k input[r][k] · panel[k][c].
// 2·rows accumulators stay in registers over the whole input dimension; each
// step loads one panel row (two vectors) and broadcasts one input per row.
template <int64_t kRowCount>
__attribute__((target("avx512f"))) void panel_product(const float* input, int64_t input_stride, const float* panel,
                                                      int64_t in, const float* bias, float* out, int64_t out_stride,
                                                      __mmask16 low_mask, __mmask16 high_mask) {
  __m512 low[kRowCount], high[kRowCount];
  const __m512 bias_low = bias != nullptr ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
  const __m512 bias_high = bias != nullptr ? _mm512_loadu_ps(bias + 16) : _mm512_setzero_ps();
  for (int64_t r = 0; r < kRowCount; ++r) {
    low[r] = bias_low;
    high[r] = bias_high;
  }
  for (int64_t k = 0; k < in; ++k, panel += kPanel) {
    const __m512 w_low = _mm512_loadu_ps(panel), w_high = _mm512_loadu_ps(panel + 16);
    for (int64_t r = 0; r < kRowCount; ++r) {
      const __m512 x = _mm512_set1_ps(input[r * input_stride + k]);
      low[r] = _mm512_fmadd_ps(x, w_low, low[r]);
      high[r] = _mm512_fmadd_ps(x, w_high, high[r]);
    }
  }
  for (int64_t r = 0; r < kRowCount; ++r) {
    _mm512_mask_storeu_ps(out + r * out_stride, low_mask, low[r]);
    _mm512_mask_storeu_ps(out + r * out_stride + 16, high_mask, high[r]);
  }
}

using PanelProduct = void (*)(const float*, int64_t, const float*, int64_t, const float*, float*, int64_t, __mmask16,
                              __mmask16);
constexpr PanelProduct kPanelProducts[kRows + 1] = {nullptr,
                                                    panel_product<1>,
                                                    panel_product<2>,
                                                    panel_product<3>,
                                                    panel_product<4>,
                                                    panel_product<5>,
                                                    panel_product<6>,
                                                    panel_product<7>,
                                                    panel_product<8>};

__mmask16 column_mask(int64_t columns) {
  columns = std::clamp<int64_t>(columns, 0, 16);
  return static_cast<__mmask16>((1u << columns) - 1u);
}

// The same product for CPUs without AVX-512 (AVX2 and FMA: Zen 3, Haswell on):
// a panel is four 8-float vectors, so 3 rows' 12 accumulators and the 4 weight
// vectors fill the 16 registers. The same fused multiply-adds in the same
// order as the AVX-512 kernel: the two give identical results.
//
// More than 3 rows pass over a panel in slices of kDepthAvx2 input indices
// (16 KiB of panel, which stays in L1 while every 3 rows go over it) with the
// sums parked in memory between slices: a panel is then read from memory once
// per step instead of once per 3 rows, and parking a float changes no bit.
constexpr int64_t kRowsAvx2 = 3;
constexpr int64_t kDepthAvx2 = 128;
// Into L2: L1 (32 KiB on Zen 3) holds the slice being read and the rows.
#define DELTARL_PANEL_PREFETCH_HINT _MM_HINT_T1

// sums (kRowCount × 32 floats, 32-byte aligned) += input[r][k] · panel[k][c]
// for k in [0, depth), in order; meanwhile asks for `prefetch_lines` cache
// lines from `prefetch` on (the next slice's share of this group).
template <int64_t kRowCount>
__attribute__((target("avx2,fma"))) void panel_slice_avx2(const float* input, int64_t input_stride,
                                                           const float* panel, int64_t depth, float* parked,
                                                           const char* prefetch, int64_t prefetch_lines) {
  __m256 sums[kRowCount][4];
  for (int64_t r = 0; r < kRowCount; ++r) {
    for (int64_t j = 0; j < 4; ++j) sums[r][j] = _mm256_load_ps(parked + r * kPanel + 8 * j);
  }
  for (int64_t k = 0; k < depth; ++k, panel += kPanel) {
    if (k < prefetch_lines) _mm_prefetch(prefetch + 64 * k, DELTARL_PANEL_PREFETCH_HINT);
    const __m256 w0 = _mm256_loadu_ps(panel), w1 = _mm256_loadu_ps(panel + 8), w2 = _mm256_loadu_ps(panel + 16),
                 w3 = _mm256_loadu_ps(panel + 24);
    for (int64_t r = 0; r < kRowCount; ++r) {
      const __m256 x = _mm256_set1_ps(input[r * input_stride + k]);
      sums[r][0] = _mm256_fmadd_ps(x, w0, sums[r][0]);
      sums[r][1] = _mm256_fmadd_ps(x, w1, sums[r][1]);
      sums[r][2] = _mm256_fmadd_ps(x, w2, sums[r][2]);
      sums[r][3] = _mm256_fmadd_ps(x, w3, sums[r][3]);
    }
  }
  for (int64_t r = 0; r < kRowCount; ++r) {
    for (int64_t j = 0; j < 4; ++j) _mm256_store_ps(parked + r * kPanel + 8 * j, sums[r][j]);
  }
}

using PanelSliceAvx2 = void (*)(const float*, int64_t, const float*, int64_t, float*, const char*, int64_t);
constexpr PanelSliceAvx2 kPanelSlicesAvx2[kRowsAvx2 + 1] = {nullptr, panel_slice_avx2<1>, panel_slice_avx2<2>,
                                                             panel_slice_avx2<3>};

// rows [0, count) × one panel: out[r][c] = bias[c] + Σ_k input[r][k] · panel[k][c].
void panel_product_avx2(const float* input, int64_t input_stride, int64_t count, const float* panel, int64_t in,
                        const float* bias, float* out, int64_t out_stride, int64_t columns) {
  alignas(32) float parked[kRowChunk * kPanel];
  for (int64_t r = 0; r < count; ++r) {
    for (int64_t c = 0; c < kPanel; ++c) parked[r * kPanel + c] = bias != nullptr ? bias[c] : 0.0f;
  }
  // A single group of rows reads the panel once whatever the depth, and the
  // hardware prefetcher keeps up with it. Several groups spend most of a
  // slice's time in L1, where that prefetcher does not advance: each group
  // asks for its share of the next slice's lines (past this panel's end: the
  // next panel's first slice, which is next in memory).
  const int64_t depth = count <= kRowsAvx2 ? in : kDepthAvx2;
  const int64_t groups = (count + kRowsAvx2 - 1) / kRowsAvx2;
  const int64_t slice_lines = depth * kPanel * static_cast<int64_t>(sizeof(float)) / 64;
  const int64_t lines_per_group = groups > 1 ? (slice_lines + groups - 1) / groups : 0;
  for (int64_t k = 0; k < in; k += depth) {
    const int64_t slice = std::min(depth, in - k);
    const char* next_slice = reinterpret_cast<const char*>(panel + (k + slice) * kPanel);
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t r = g * kRowsAvx2;
      kPanelSlicesAvx2[std::min(kRowsAvx2, count - r)](input + r * input_stride + k, input_stride, panel + k * kPanel,
                                                        slice, parked + r * kPanel, next_slice + 64 * g * lines_per_group,
                                                        std::min(lines_per_group, slice));
    }
  }
  for (int64_t r = 0; r < count; ++r) {
    std::copy(parked + r * kPanel, parked + r * kPanel + columns, out + r * out_stride);  // padding columns stay out
  }
}
#endif

bool cpu_float(const torch::Tensor& x) { return x.device().is_cpu() && x.scalar_type() == torch::kFloat32; }

}  // namespace

bool PackedLinear::supported() {
#if defined(DELTARL_PACKED_LINEAR_KERNEL)
  static const bool fma = __builtin_cpu_supports("fma");
  return selected_cpu_kernels() == CpuKernels::kAvx512 || (selected_cpu_kernels() == CpuKernels::kAvx2 && fma);
#else
  return false;
#endif
}

PackedLinear::PackedLinear(std::vector<torch::Tensor> weights, std::vector<torch::Tensor> biases) {
  TORCH_CHECK(supported(), "PackedLinear needs an x86-64 CPU with AVX-512F, or AVX2 and FMA");
  TORCH_CHECK(!weights.empty(), "PackedLinear needs at least one weight");
  TORCH_CHECK(biases.empty() || biases.size() == weights.size(), "PackedLinear takes no bias or one per weight, got ",
              biases.size(), " for ", weights.size(), " weights");
  in_ = weights.front().size(-1);
  for (size_t i = 0; i < weights.size(); ++i) {
    const torch::Tensor& w = weights[i];
    TORCH_CHECK(cpu_float(w) && w.dim() == 2 && w.size(1) == in_, "PackedLinear: weight ", i,
                " must be a CPU float32 (out, ", in_, "), got ", w.sizes(), " ", w.scalar_type());
    if (!biases.empty()) {
      TORCH_CHECK(cpu_float(biases[i]) && biases[i].dim() == 1 && biases[i].size(0) == w.size(0), "PackedLinear: bias ",
                  i, " must be a CPU float32 (", w.size(0), ",), got ", biases[i].sizes());
    }
    out_ += w.size(0);
  }
  torch::NoGradGuard no_grad;
  const int64_t panels = (out_ + kPanel - 1) / kPanel;
  // (panels·32, in) zero-padded rows → (panels, in, 32).
  torch::Tensor rows = torch::zeros({panels * kPanel, in_}, torch::kFloat32);
  rows.narrow(0, 0, out_).copy_(torch::cat(weights, /*dim=*/0));
  packed_ = rows.view({panels, kPanel, in_}).transpose(1, 2).contiguous();
  if (!biases.empty()) {
    bias_ = torch::zeros({panels * kPanel}, torch::kFloat32);
    bias_.narrow(0, 0, out_).copy_(torch::cat(biases, /*dim=*/0));
  }
  std::vector<torch::Tensor> sources = weights;
  sources.insert(sources.end(), biases.begin(), biases.end());
  sources_ = ParameterSnapshot(sources);
}

bool PackedLinear::applies(const torch::Tensor& input) const {
  if (empty() || torch::GradMode::is_enabled() || !cpu_float(input) || input.dim() < 1 || input.size(-1) != in_ ||
      input.stride(-1) != 1) {
    return false;
  }
  return sources_.unchanged();
}

torch::Tensor PackedLinear::forward(const torch::Tensor& input) const {
  TORCH_CHECK(applies(input), "PackedLinear::forward: a CPU float32 (..., ", in_,
              ") input without grad mode and unchanged parameters expected, got ", input.sizes());
  std::vector<int64_t> out_sizes = input.sizes().vec();
  out_sizes.back() = out_;
  torch::Tensor out = torch::empty(out_sizes, input.options());
#if defined(DELTARL_PACKED_LINEAR_KERNEL)
  // Rows of the input with a common stride: a contiguous copy unless it already is one.
  const torch::Tensor rows = input.reshape({-1, in_});
  const int64_t count = rows.size(0), row_stride = rows.stride(0);
  if (count == 0) return out;
  const float* input_data = rows.data_ptr<float>();
  const float* packed = packed_.data_ptr<float>();
  const float* bias = bias_.defined() ? bias_.data_ptr<float>() : nullptr;
  float* out_data = out.data_ptr<float>();
  const int64_t panels = packed_.size(0), panel_floats = in_ * kPanel, out_columns = out_;
  // About 128k multiply-adds per task: one row against a small weight stays
  // on the calling thread; batch-64 products are split over the pool.
  const int64_t work_per_panel = std::max<int64_t>(1, count * panel_floats);
  const bool avx512 = selected_cpu_kernels() == CpuKernels::kAvx512;
  at::parallel_for(0, panels, std::max<int64_t>(1, (1 << 17) / work_per_panel), [&](int64_t begin, int64_t end) {
    // A prefill's thousands of rows pass in chunks that stay in cache while
    // this thread's panels go over them (else every panel re-reads all rows).
    for (int64_t chunk = 0; chunk < count; chunk += kRowChunk) {
      const int64_t chunk_end = std::min(count, chunk + kRowChunk);
      for (int64_t p = begin; p < end; ++p) {
        const int64_t first_column = p * kPanel, columns = std::min(kPanel, out_columns - first_column);
        const float* panel_bias = bias != nullptr ? bias + first_column : nullptr;
        if (!avx512) {
          panel_product_avx2(input_data + chunk * row_stride, row_stride, chunk_end - chunk, packed + p * panel_floats,
                             in_, panel_bias, out_data + chunk * out_columns + first_column, out_columns, columns);
          continue;
        }
        const __mmask16 low = column_mask(columns), high = column_mask(columns - 16);
        for (int64_t r = chunk; r < chunk_end; r += kRows) {
          const int64_t n = std::min(kRows, chunk_end - r);
          kPanelProducts[n](input_data + r * row_stride, row_stride, packed + p * panel_floats, in_, panel_bias,
                            out_data + r * out_columns + first_column, out_columns, low, high);
        }
      }
    }
  });
#else
  TORCH_CHECK(false, "PackedLinear::forward: built without the kernel");  // unreachable: the constructor refused
#endif
  return out;
}

}  // namespace deltarl
