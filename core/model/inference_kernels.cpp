#include "core/model/inference_kernels.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "core/kernel_versions.h"

// Built with -fopenmp-simd (the reductions' pragmas) and -ffp-contract=off:
// every product is rounded before it is added, as in ATen's separate
// element-wise kernels, so RoPE and the residual add match them bit for bit.
// Each loop is written once, as an always-inlined body, and compiled again
// for AVX2 and AVX-512 by the wrappers below; which one runs is chosen at run
// time (core/kernel_versions.h), so DELTARL_CPU_KERNELS can force any of them.

namespace deltarl {
namespace {

// Rows handed to one thread at a time: about 32k floats, ATen's own grain, so
// a decoding step's few rows stay on the calling thread (no fork).
int64_t rows_per_task(int64_t row_floats) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, row_floats)); }

DELTARL_KERNEL_BODY
void rms_norm_rows_body(const float* x, float* out, const float* weight, int64_t rows, int64_t n, float eps) {
  for (int64_t r = 0; r < rows; ++r, x += n, out += n) {
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < n; ++i) sum += x[i] * x[i];
    const float inverse = 1.0f / std::sqrt(sum / static_cast<float>(n) + eps);
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = weight[i] * (x[i] * inverse);
  }
}

DELTARL_KERNEL_BODY
void add_rows_body(const float* a, const float* b, float* sum, int64_t count) {
#pragma omp simd
  for (int64_t i = 0; i < count; ++i) sum[i] = a[i] + b[i];
}

// One position's heads: cos/sin hold d values, the two halves repeating the
// same angles (transformers' cat(freqs, freqs)), but both halves are read as
// given so any cos/sin the caller computed is honoured.
DELTARL_KERNEL_BODY
void rotate_heads_body(float* heads, int64_t count, int64_t d, const float* cos, const float* sin) {
  const int64_t half = d / 2;
  for (int64_t h = 0; h < count; ++h, heads += d) {
    float* first = heads;
    float* second = heads + half;
#pragma omp simd
    for (int64_t i = 0; i < half; ++i) {
      const float a = first[i], b = second[i];
      first[i] = a * cos[i] + (-b) * sin[i];
      second[i] = b * cos[half + i] + a * sin[half + i];
    }
  }
}

// One instruction set's compilation of the three loops.
struct KernelVersion {
  void (*rms_norm_rows)(const float*, float*, const float*, int64_t, int64_t, float);
  void (*add_rows)(const float*, const float*, float*, int64_t);
  void (*rotate_heads)(float*, int64_t, int64_t, const float*, const float*);
};

#define DELTARL_KERNEL_VERSION(name, attributes)                                                            \
  attributes void name##_rms_norm_rows(const float* x, float* out, const float* weight, int64_t rows,       \
                                       int64_t n, float eps) {                                              \
    rms_norm_rows_body(x, out, weight, rows, n, eps);                                                       \
  }                                                                                                         \
  attributes void name##_add_rows(const float* a, const float* b, float* sum, int64_t count) {              \
    add_rows_body(a, b, sum, count);                                                                        \
  }                                                                                                         \
  attributes void name##_rotate_heads(float* heads, int64_t count, int64_t d, const float* cos,             \
                                      const float* sin) {                                                   \
    rotate_heads_body(heads, count, d, cos, sin);                                                           \
  }                                                                                                         \
  constexpr KernelVersion name{name##_rms_norm_rows, name##_add_rows, name##_rotate_heads};

DELTARL_KERNEL_VERSION(kPortableKernels, )
DELTARL_KERNEL_VERSION(kAvx2Kernels, DELTARL_TARGET_AVX2)
DELTARL_KERNEL_VERSION(kAvx512Kernels, DELTARL_TARGET_AVX512)
#undef DELTARL_KERNEL_VERSION

const KernelVersion& kernels() { return pick_kernel_version(kPortableKernels, kAvx2Kernels, kAvx512Kernels); }

void check_weight(const torch::Tensor& weight, int64_t n) {
  TORCH_CHECK(weight.scalar_type() == torch::kFloat32 && weight.dim() == 1 && weight.size(0) == n &&
                  weight.is_contiguous() && weight.device().is_cpu(),
              "rms_norm_inference: weight must be a contiguous CPU float32 (", n, ",), got ", weight.sizes());
}

torch::Tensor normalize(const torch::Tensor& input, const torch::Tensor& weight, double eps) {
  const int64_t n = input.size(-1), rows = input.numel() / std::max<int64_t>(1, n);
  check_weight(weight, n);
  torch::Tensor out = torch::empty_like(input, torch::MemoryFormat::Contiguous);
  const float* input_data = input.data_ptr<float>();
  float* out_data = out.data_ptr<float>();
  const float* weight_data = weight.data_ptr<float>();
  const KernelVersion& version = kernels();
  at::parallel_for(0, rows, rows_per_task(n), [&](int64_t begin, int64_t end) {
    version.rms_norm_rows(input_data + begin * n, out_data + begin * n, weight_data, end - begin, n, static_cast<float>(eps));
  });
  return out;
}

}  // namespace

bool inference_kernels_apply(const torch::Tensor& x) {
  return !torch::GradMode::is_enabled() && x.device().is_cpu() && x.scalar_type() == torch::kFloat32 &&
         x.dim() >= 1 && x.stride(-1) == 1;
}

torch::Tensor rms_norm_inference(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  TORCH_CHECK(inference_kernels_apply(x), "rms_norm_inference: CPU float32 input without grad mode expected");
  return normalize(x.contiguous(), weight, eps);
}

std::pair<torch::Tensor, torch::Tensor> add_rms_norm_inference(const torch::Tensor& residual,
                                                               const torch::Tensor& delta,
                                                               const torch::Tensor& weight, double eps) {
  TORCH_CHECK(inference_kernels_apply(residual) && inference_kernels_apply(delta) && delta.sizes() == residual.sizes(),
              "add_rms_norm_inference: CPU float32 residual and delta of one shape without grad mode expected, got ",
              residual.sizes(), " and ", delta.sizes());
  const torch::Tensor residual_rows = residual.contiguous(), delta_rows = delta.contiguous();
  torch::Tensor sum = torch::empty_like(residual_rows, torch::MemoryFormat::Contiguous);
  const int64_t n = residual_rows.size(-1), rows = residual_rows.numel() / std::max<int64_t>(1, n);
  check_weight(weight, n);
  torch::Tensor normed = torch::empty_like(sum);
  const float* residual_data = residual_rows.data_ptr<float>();
  const float* delta_data = delta_rows.data_ptr<float>();
  float* sum_data = sum.data_ptr<float>();
  float* normed_data = normed.data_ptr<float>();
  const float* weight_data = weight.data_ptr<float>();
  const KernelVersion& version = kernels();
  at::parallel_for(0, rows, rows_per_task(n), [&](int64_t begin, int64_t end) {
    // Row by row, so each sum is normalized while it is still in cache.
    for (int64_t r = begin; r < end; ++r) {
      version.add_rows(residual_data + r * n, delta_data + r * n, sum_data + r * n, n);
      version.rms_norm_rows(sum_data + r * n, normed_data + r * n, weight_data, 1, n, static_cast<float>(eps));
    }
  });
  return {sum, normed};
}

void rotary_embedding_inference_(const torch::Tensor& heads, const torch::Tensor& cos, const torch::Tensor& sin) {
  TORCH_CHECK(inference_kernels_apply(heads) && heads.dim() == 4, "rotary_embedding_inference_: CPU float32 (b, s, n, d) "
              "heads without grad mode expected, got ", heads.sizes());
  const int64_t b = heads.size(0), s = heads.size(1), n = heads.size(2), d = heads.size(3);
  TORCH_CHECK(d % 2 == 0 && heads.stride(2) == d, "rotary_embedding_inference_: each position's heads must be adjacent "
              "rows of d = ", d, " floats (even d), got strides ", heads.strides());
  const auto expected = std::vector<int64_t>{b, s, d};
  TORCH_CHECK(cos.sizes() == expected && sin.sizes() == expected && cos.scalar_type() == torch::kFloat32 &&
                  sin.scalar_type() == torch::kFloat32 && cos.device().is_cpu() && sin.device().is_cpu(),
              "rotary_embedding_inference_: cos/sin must be CPU float32 (b, s, d) = ", expected, ", got ", cos.sizes(),
              " and ", sin.sizes());
  const torch::Tensor cos_rows = cos.contiguous(), sin_rows = sin.contiguous();
  float* heads_data = heads.data_ptr<float>();
  const float* cos_data = cos_rows.data_ptr<float>();
  const float* sin_data = sin_rows.data_ptr<float>();
  const int64_t stride_b = heads.stride(0), stride_s = heads.stride(1);
  const KernelVersion& version = kernels();
  at::parallel_for(0, b * s, rows_per_task(n * d), [&](int64_t begin, int64_t end) {
    for (int64_t position = begin; position < end; ++position) {
      const int64_t row = position / s, column = position % s;
      version.rotate_heads(heads_data + row * stride_b + column * stride_s, n, d, cos_data + position * d,
                   sin_data + position * d);
    }
  });
}

}  // namespace deltarl
