// Inference kernels: fused CPU float32 versions of the model's element-wise
// steps, for forwards without gradients (decoding, evaluation, reference
// log-probs). A decoding step of the `small` preset at batch 64 spent about
// as long in ~30 small ATen operations per layer (each a dispatch, an
// allocation and often an OpenMP fork) as in its matrix products; these
// replace a dozen of them per layer with three passes over the data.
//
//   if (inference_kernels_apply(x)) normed = rms_norm_inference(x, weight, eps);
//
// Each computes what the model's ATen composition computes (transformers'
// order of operations, fp32 throughout): RoPE and the residual sum bit for bit;
// RMSNorm up to the order of the sum of squares, a few ulp. So a no-grad
// forward (the learner's reference log-probs, a worker's) and the training
// forward of the same weights differ by rounding, as they already did through
// the fused products; and the order depends on the vector width the CPU
// offers. With GCC or Clang on x86-64 the loops are built for AVX-512, AVX2
// and plain x86-64 and chosen at run time by core/cpu_kernels.h
// (DELTARL_CPU_KERNELS forces a lower one); elsewhere the compiler's default.
#pragma once

#include <torch/types.h>

#include <utility>

namespace deltarl {

// True when `x` may go through these kernels: grad mode off, on the CPU,
// float32, last dimension contiguous. Callers fall back to ATen otherwise.
bool inference_kernels_apply(const torch::Tensor& x);

// Each function below requires inference_kernels_apply() of its tensor
// arguments (TORCH_CHECK) and states any further shape it needs.

// weight * (x * rsqrt(mean(x^2, last dim) + eps)): a new contiguous (..., n)
// tensor. weight: (n,) contiguous CPU float32.
torch::Tensor rms_norm_inference(const torch::Tensor& x, const torch::Tensor& weight, double eps);

// The residual stream's add and the next norm in one pass: returns
// (residual + delta, rms_norm_inference(residual + delta, weight, eps)), both
// new tensors. residual and delta (..., n) of the same shape.
std::pair<torch::Tensor, torch::Tensor> add_rms_norm_inference(const torch::Tensor& residual,
                                                               const torch::Tensor& delta,
                                                               const torch::Tensor& weight, double eps);

// RoPE in place, rotate-half layout: for every head of heads (b, s, n, d)
// x <- x * cos + rotate_half(x) * sin, with cos/sin (b, s, d) float32 on the
// CPU (any layout). Each position's heads must be adjacent rows of d floats,
// d even: the view of a fused q/k/v product's first heads is. Writes through
// the view into the tensor it belongs to.
void rotary_embedding_inference_(const torch::Tensor& heads, const torch::Tensor& cos, const torch::Tensor& sin);

}  // namespace deltarl
