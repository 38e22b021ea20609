// FusedProjection: Linear layers that read the same input (attention's q, k
// and v; the MLP's gate and up), computed as ONE matrix product whose output
// holds the parts' outputs side by side. Decoding a small batch is dominated
// by per-product overhead, so three products become one.
//
//   FusedProjection qkv({q_proj, k_proj, v_proj});
//   qkv.fuse();                        // once the parts' storage is final
//   torch::Tensor out = qkv.forward(x);  // = cat(q(x), k(x), v(x), -1), grad mode off
//
// No extra memory: fuse() concatenates the parts' weights (and biases) into
// one tensor and re-points every part's parameter at its rows of it. The parts
// stay ordinary, contiguous parameters: checkpoints, weight uploads and
// optimizer steps write through them into the fused tensor. Anything that gives
// a part new storage instead (`to()` to another device or dtype, assigning a
// new tensor) leaves the parts outside the fused tensor: forward() then
// refuses to run until fuse() again. CausalLM fuses only in
// prepare_inference(), whose staleness rule (Note [Inference form staleness],
// inference_forms.h) sends its forwards to the parts before that can happen.
//
// Not for training: forward() refuses to run with grad mode on (gradients
// belong to the parts; use them directly there).
#pragma once

#include <vector>

#include <torch/torch.h>

namespace deltarl {

class FusedProjection {
 public:
  FusedProjection() = default;
  // The parts must share their input size, dtype and device, and all have a
  // bias or none. Nothing is fused yet.
  explicit FusedProjection(std::vector<torch::nn::Linear> parts);

  // Points every part into one fused weight (and bias). When they already
  // point into the one an earlier fuse() made, keeps it: no copy, and the
  // parameters keep their memory. Must not overlap a forward().
  void fuse();
  // True when every part points into the fused tensor, as fuse() leaves them.
  bool is_fused() const;

  // (…, in) → (…, Σ out), part i's output in its own column range. Grad mode
  // must be off and is_fused() true.
  torch::Tensor forward(const torch::Tensor& input) const;

 private:
  std::vector<torch::nn::Linear> parts_;
  torch::Tensor weight_, bias_;  // fused (Σ out, in), (Σ out)
};

}  // namespace deltarl
