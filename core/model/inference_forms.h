// The three forms of the model's Linear layers, and the one rule that says when
// the two inference forms may stand in for the training one. A model builds
// its inference forms only in CausalLM::prepare_inference(form); every
// forward without gradients then checks the rule once and runs the prepared
// form, or the training layers when it no longer holds.
//
//   model->prepare_inference(LinearForm::kFused);  // after loading, and after every weight write
//   torch::NoGradGuard no_grad;
//   logits = model->forward(ids);                  // fused products while the weights are as prepared
//
// Note [Inference form staleness]
// Forms are prepared from a model's parameters and are valid while every
// parameter of the model keeps the storage, the offset into it, the shape and
// the version counter it had when prepare_inference() last ran. A no-grad
// forward checks this once per call (forward(), hidden_states() and
// logits_from_hidden() each) and, when any parameter changed, runs the
// training layers (kTraining) throughout that call; they read the
// parameters themselves and so are always current. Writes the version counter
// sees (an optimizer step, any in-place op through the parameter, `set_data`,
// `to()`) therefore never give stale results; the forms are used again after
// the next prepare_inference(). Writes it does not see (a `memcpy` into the
// storage as weight uploads do, `from_blob` or `.data()` aliases, an in-place
// op on another tensor over the same memory) must be followed by
// prepare_inference() again before the next no-grad forward.
//
// Note [Inference form numerics]
// kFused computes exactly what every no-grad forward computed before the forms
// were made explicit (one ATen product of the concatenated weights), so the
// learner's KL reference, evaluation, `generate` and `eval` keep their numbers
// bit for bit on it; the reference's log-probs enter the gradient, so it must
// stay on kFused. kTraining and kFused may differ by rounding (three products
// or one). kPacked rounds differently again (PackedLinear sums in input order
// with fused multiply-adds, not as the BLAS does): it is the rollout workers'
// form, held to the learner's log-probs within margins by their tests.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

namespace deltarl {

enum class LinearForm {
  kTraining,  // one torch::nn::Linear product per layer: training, and no-grad forwards of stale or unprepared forms
  kFused,     // q/k/v and gate/up each one product over the parameters' own memory (FusedProjection); no extra memory
  kPacked,    // kFused, and every product on packed copies (PackedLinear) where the CPU and dtype allow; one copy more
};

const char* linear_form_name(LinearForm form);  // "training", "fused", "packed"

// The state of some parameters when a form was built from them: the test of
// Note [Inference form staleness]. It pins the storages it saw, so that a freed
// one cannot come back at the same address and pass for unchanged; so it holds
// a replaced parameter's old memory until the snapshot is replaced.
class ParameterSnapshot {
 public:
  ParameterSnapshot() = default;  // of no parameters: unchanged()
  explicit ParameterSnapshot(const std::vector<torch::Tensor>& parameters);

  // True while every parameter keeps its storage, offset, shape and version counter.
  bool unchanged() const;

 private:
  struct Seen {
    torch::Tensor parameter;
    c10::Storage storage;
    const void* data;
    int64_t version;
    std::vector<int64_t> sizes;
  };
  std::vector<Seen> seen_;
};

}  // namespace deltarl
