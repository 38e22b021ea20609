// FusedProjection: Linear layers that read the same input (attention's q, k
// and v; the MLP's gate and up), computed as ONE matrix product whose output
// holds the parts' outputs side by side. Decoding a small batch is dominated
// by per-product overhead, so three products become one.
//
// No extra memory: the first fuse() concatenates the parts' weights (and
// biases) into one tensor and re-points every part's parameter at its rows of
// it. The parts stay ordinary, contiguous parameters: checkpoints, weight
// uploads and optimizer steps write through them into the fused tensor, so it
// is never stale. Anything that gives a part new storage instead (`to()` to
// another device or dtype, assigning a new tensor) is noticed by forward(),
// which then fuses again.
//
// Not for training: forward() refuses to run with grad mode on (gradients
// belong to the parts; use them directly there).
#pragma once

#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace deltarl {

class FusedProjection {
 public:
  FusedProjection() = default;
  // The parts must share their input size, dtype and device, and all have a
  // bias or none.
  explicit FusedProjection(std::vector<torch::nn::Linear> parts);

  // (…, in) → (…, Σ out), part i's output in its own column range. Grad mode must be off.
  torch::Tensor forward(const torch::Tensor& input);
  // Fuses now (again when a part's storage moved); forward() does it itself.
  void fuse() { fused(); }

 private:
  // The fused weight and bias, fused first when needed.
  std::pair<torch::Tensor, torch::Tensor> fused();
  bool parts_point_into_fused() const;

  std::vector<torch::nn::Linear> parts_;
  torch::Tensor weight_, bias_;                               // fused (Σ out, in), (Σ out)
  std::shared_ptr<std::mutex> mutex_ = std::make_shared<std::mutex>();  // modules get copied
};

}  // namespace deltarl
