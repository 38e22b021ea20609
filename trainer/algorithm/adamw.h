// AdamW (decoupled weight decay, Loshchilov & Hutter) over a model's named
// parameters, with its state exposed by name so checkpoints can save and
// restore it exactly (bit-exact resume). Moments are kept in fp32; parameters
// in another dtype (bf16) get an fp32 master copy that the update is applied
// to, then cast back. Weight decay applies to matrices only (dim ≥ 2), not to
// biases and norm scales, as Hugging Face's Trainer does.
//
//   AdamW optimizer(model->named_parameters(), options);
//   ... backward, gradient all-reduce, clipping ...
//   optimizer.step(learning_rate);   // reads each parameter's .grad()
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace deltarl {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.01;
};

class AdamW {
 public:
  AdamW(const torch::OrderedDict<std::string, torch::Tensor>& named_parameters, AdamWOptions options);

  // One update with learning rate `lr`. Parameters without a gradient are skipped.
  void step(double lr);
  void zero_grad();
  int64_t steps_taken() const { return steps_taken_; }

  // The state as named fp32 CPU tensors: "exp_avg.<param>", "exp_avg_sq.<param>"
  // and, for non-fp32 parameters, "master.<param>".
  std::vector<std::pair<std::string, torch::Tensor>> state_tensors() const;
  // Restores what state_tensors() gave. Throws InputError naming `source` and
  // the tensor when one is missing or has the wrong shape.
  void load_state(const std::map<std::string, torch::Tensor>& tensors, int64_t steps_taken,
                  const std::string& source);

 private:
  struct Slot {
    std::string name;
    torch::Tensor parameter;
    torch::Tensor master;      // fp32 copy when parameter is not fp32, else undefined
    torch::Tensor exp_avg;     // fp32, parameter's shape
    torch::Tensor exp_avg_sq;  // fp32
    bool decay = false;
  };
  std::vector<Slot> slots_;
  AdamWOptions options_;
  int64_t steps_taken_ = 0;
};

}  // namespace deltarl
