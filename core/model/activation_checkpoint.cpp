#include "core/model/activation_checkpoint.h"

#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include <c10/util/intrusive_ptr.h>
#include <torch/csrc/autograd/function.h>

namespace deltarl {

namespace {

using torch::autograd::variable_list;

// The block's node in the autograd graph: holds the block and its input, and
// in backward reruns the block with gradients on and backpropagates through
// that fresh graph (a nested backward, as PyTorch's reentrant checkpoint does).
// The nested backward accumulates the parameters' gradients itself; the node
// returns the input's gradient to the outer graph.
class CheckpointBackward : public torch::autograd::Node {
 public:
  CheckpointBackward(CheckpointedBlock block, const torch::Tensor& input)
      : block_(std::move(block)), input_(input.detach()), input_version_(input._version()) {}

  variable_list apply(variable_list&& grads) override {
    TORCH_CHECK(block_, "checkpointed: backward ran twice through a checkpointed block released by the first "
                "(pass retain_graph to the first backward)");
    TORCH_CHECK(input_._version() == input_version_, "checkpointed: the block's input was modified in place after "
                "the forward, so the recompute would not see what the forward saw");
    if (!grads[0].defined()) return {torch::Tensor()};
    const torch::Tensor input = input_.detach().requires_grad_(true);
    torch::Tensor output;
    {
      torch::AutoGradMode enable_grad(true);
      output = block_(input);
    }
    torch::autograd::backward({output}, {grads[0]});
    return {input.grad()};
  }

  void release_variables() override {
    block_ = nullptr;
    input_.reset();
  }

  std::string name() const override { return "CheckpointBackward"; }

 private:
  CheckpointedBlock block_;
  torch::Tensor input_;
  uint32_t input_version_;
};

// A new autograd node as this LibTorch's graph holds one: c10::intrusive_ptr
// where Node is an intrusive_ptr_target (pytorch#181782, in 2.15), else a
// std::shared_ptr with deleteNode (found by ADL, so only when instantiated).
template <typename N, typename... Args>
auto make_node(Args&&... args) {
  if constexpr (std::is_base_of_v<c10::intrusive_ptr_target, N>) {
    return c10::make_intrusive<N>(std::forward<Args>(args)...);
  } else {
    return std::shared_ptr<N>(new N(std::forward<Args>(args)...), [](N* node) { deleteNode(node); });
  }
}

}  // namespace

torch::Tensor checkpointed(const CheckpointedBlock& block, const torch::Tensor& input) {
  if (!torch::GradMode::is_enabled() || !input.requires_grad()) return block(input);
  // The forward runs with gradients on, like the recompute, so that both take
  // the same kernels (some run only without gradients) and give the same
  // numbers; its graph is dropped when `output` is detached from it.
  const torch::Tensor output = block(input.detach()).detach();
  auto node = make_node<CheckpointBackward>(block, input);
  node->set_next_edges(torch::autograd::collect_next_edges(input));
  torch::Tensor result = output;
  torch::autograd::create_gradient_edge(result, std::move(node));
  return result;
}

}  // namespace deltarl
