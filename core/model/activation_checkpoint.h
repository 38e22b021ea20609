// Activation checkpointing: run a block of the model without keeping its
// activations for backward, and rerun it in backward to get them back.
//
//   hidden = checkpointed([layer, cos, sin, mask](const torch::Tensor& h) { return layer->forward(h, ...); }, hidden);
//
// Backward keeps only the block's input (and what `block` captures); the
// activations inside the block exist during its forward and, one block at a
// time, during backward's recompute. The price is one more forward of the block.
//
// Contract for `block`:
//   - it computes the same thing twice: no randomness (or a seeded one), no
//     state it changes; the recompute runs with gradients on, as the forward does;
//   - its only differentiable input is the argument; what it captures (cos/sin,
//     masks) must not need gradients. Its parameters (leaf tensors) get their
//     gradients accumulated by backward's recompute, as without checkpointing;
//   - it returns one tensor.
// With gradients off, or an input that does not require them, `block` simply
// runs once. A backward with retain_graph keeps the block for the next one;
// without, the block and its input are released.
#pragma once

#include <functional>

#include <torch/torch.h>

namespace deltarl {

using CheckpointedBlock = std::function<torch::Tensor(const torch::Tensor& input)>;

torch::Tensor checkpointed(const CheckpointedBlock& block, const torch::Tensor& input);

}  // namespace deltarl
