// PackedLinear: a Linear layer's weight copied once into the layout a
// matrix-product kernel of ours reads straight through (AVX-512, or AVX2 with
// FMA), for the products of decoding (a few to a few hundred rows against a
// fixed weight, no gradients).
// BLAS libraries re-pack the weight on every call: on the 2-core AMD EPYC
// (Zen 4) CI machine MKL spent as long packing as multiplying at batch 64.
//
//   PackedLinear packed({q->weight, k->weight}, {q->bias, k->bias});   // once the weights are final
//   if (packed.applies(x)) qk = packed.forward(x);                     // = cat(q(x), k(x), -1)
//
// Several layers reading the same input pack side by side into one product.
// The copy is a snapshot, stale by the rule of Note [Inference form staleness]
// (inference_forms.h) applied to the parameters it was made from: applies() is
// false once any of them has another storage or offset, shape or version
// counter, and a write the version counter does not see (a memcpy, as weight
// uploads do; FusedProjection's fused weight written in place) must be
// followed by a new PackedLinear. CausalLM builds its packs in
// prepare_inference(LinearForm::kPacked). The copy costs as much memory as the
// weights.
//
// Numerics: fp32 products summed in input order with fused multiply-adds, so
// results differ from ATen's BLAS by rounding, within the usual error bound of
// an fp32 dot product; the AVX-512 and AVX2 kernels give the same results.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "core/model/inference_forms.h"

namespace deltarl {

class PackedLinear {
 public:
  // True when this build and CPU can run a kernel (x86-64 with AVX-512F, or
  // with AVX2 and FMA) and DELTARL_CPU_KERNELS (core/cpu_kernels.h) does not
  // cap it at portable. The AVX2 kernel runs where the cap is avx2.
  static bool supported();

  PackedLinear() = default;
  // weights: one or more (out_i, in) float32 CPU tensors of one input size;
  // biases: none, or one (out_i,) float32 CPU tensor per weight. TORCH_CHECK
  // otherwise, or when !supported().
  PackedLinear(std::vector<torch::Tensor> weights, std::vector<torch::Tensor> biases);

  bool empty() const { return !packed_.defined(); }
  int64_t out_features() const { return out_; }
  // True when forward() may stand in for the layers: every parameter is as it
  // was packed, grad mode is off, and input is CPU float32 (..., in) with its
  // last dimension contiguous.
  bool applies(const torch::Tensor& input) const;

  // input (..., in) → (..., Σ out_i): each layer's input · weightᵀ + bias in
  // its own column range, a new contiguous tensor.
  torch::Tensor forward(const torch::Tensor& input) const;

 private:
  torch::Tensor packed_;  // (panels, in, 32): 32 output columns side by side per input index
  torch::Tensor bias_;    // (panels · 32,) zero-padded; undefined without biases
  int64_t out_ = 0, in_ = 0;
  ParameterSnapshot sources_;  // the parameters packed, as they were then
};

}  // namespace deltarl
