#include "core/model/chunked_output_layer.h"

#include <algorithm>
#include <string>

namespace deltarl {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// One chunk's log_softmax(logits / T) in fp32, the logits made as the unchunked
// path makes them: the product in the weight's dtype, then fp32.
torch::Tensor chunk_log_softmax(const torch::Tensor& hidden_rows, const torch::Tensor& weight, double temperature) {
  torch::Tensor scaled = torch::nn::functional::linear(hidden_rows, weight).to(torch::kFloat32);
  if (temperature != 1.0) scaled = scaled / temperature;
  return torch::log_softmax(scaled, /*dim=*/-1);
}

// Wrapped so that autograd does not take the buffer for one of the function's
// inputs (an undefined one would fail, a defined one would join the graph).
struct GradientBuffer {
  torch::Tensor tensor;
};

struct ChunkedOutputLayerFunction : torch::autograd::Function<ChunkedOutputLayerFunction> {
  // hidden_rows (n, h), weight (vocab, h), tokens (n) → {log_probs (n), entropy (n)}.
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& hidden_rows, const torch::Tensor& weight,
                               const torch::Tensor& tokens, double temperature, int64_t chunk_tokens,
                               const GradientBuffer& weight_gradient_buffer) {
    const int64_t rows = hidden_rows.size(0);
    torch::Tensor log_probs = torch::empty({rows}, hidden_rows.options().dtype(torch::kFloat32));
    torch::Tensor entropy = torch::empty_like(log_probs);
    for (int64_t begin = 0; begin < rows; begin += chunk_tokens) {
      const int64_t n = std::min(chunk_tokens, rows - begin);
      const torch::Tensor lsm = chunk_log_softmax(hidden_rows.narrow(0, begin, n), weight, temperature);
      log_probs.narrow(0, begin, n).copy_(lsm.gather(-1, tokens.narrow(0, begin, n).unsqueeze(-1)).squeeze(-1));
      entropy.narrow(0, begin, n).copy_(-(lsm.exp() * lsm).sum(-1));
    }
    ctx->save_for_backward({hidden_rows, weight, tokens, entropy});
    ctx->saved_data["temperature"] = temperature;
    ctx->saved_data["chunk_tokens"] = chunk_tokens;
    if (weight_gradient_buffer.tensor.defined()) ctx->saved_data["weight_gradient_buffer"] = weight_gradient_buffer.tensor;
    ctx->set_materialize_grads(false);  // an unused output's gradient stays undefined: no work for it
    return {log_probs, entropy};
  }

  // Per chunk, with p = softmax(z), z = logits / T, lsm = log p:
  //   ∂ log p_token / ∂z = onehot(token) − p
  //   ∂ H / ∂z          = −p ⊙ (lsm + H)
  // then ∂/∂logits = ∂/∂z / T, and the two products of the linear layer.
  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor &hidden_rows = saved[0], &weight = saved[1], &tokens = saved[2], &entropy = saved[3];
    const double temperature = ctx->saved_data["temperature"].toDouble();
    const int64_t chunk_tokens = ctx->saved_data["chunk_tokens"].toInt();
    const auto saved_buffer = ctx->saved_data.find("weight_gradient_buffer");
    const torch::Tensor buffer = saved_buffer != ctx->saved_data.end() ? saved_buffer->second.toTensor() : torch::Tensor();
    const torch::Tensor &grad_log_probs = grad_outputs[0], &grad_entropy = grad_outputs[1];
    if (!grad_log_probs.defined() && !grad_entropy.defined()) return {{}, {}, {}, {}, {}, {}};

    const int64_t rows = hidden_rows.size(0);
    torch::Tensor grad_hidden = torch::empty_like(hidden_rows);
    // Into the caller's buffer, or a fresh one returned as the weight's gradient.
    torch::Tensor grad_weight =
        buffer.defined() ? buffer : torch::zeros(weight.sizes(), weight.options().dtype(torch::kFloat32));
    for (int64_t begin = 0; begin < rows; begin += chunk_tokens) {
      const int64_t n = std::min(chunk_tokens, rows - begin);
      const torch::Tensor chunk_hidden = hidden_rows.narrow(0, begin, n);
      const torch::Tensor lsm = chunk_log_softmax(chunk_hidden, weight, temperature);
      const torch::Tensor p = lsm.exp();
      torch::Tensor grad_z = torch::zeros_like(lsm);
      if (grad_log_probs.defined()) {
        const torch::Tensor g = grad_log_probs.narrow(0, begin, n).unsqueeze(-1);  // (n, 1)
        grad_z -= p * g;
        grad_z.scatter_add_(-1, tokens.narrow(0, begin, n).unsqueeze(-1), g);
      }
      if (grad_entropy.defined()) {
        const torch::Tensor g = grad_entropy.narrow(0, begin, n).unsqueeze(-1);
        grad_z -= g * p * (lsm + entropy.narrow(0, begin, n).unsqueeze(-1));
      }
      if (temperature != 1.0) grad_z = grad_z / temperature;
      const torch::Tensor grad_logits = grad_z.to(weight.scalar_type());  // as autograd casts through .to(fp32)
      grad_hidden.narrow(0, begin, n).copy_(grad_logits.mm(weight));
      if (weight.scalar_type() == torch::kFloat32) {
        grad_weight.addmm_(grad_logits.t(), chunk_hidden);  // no vocabulary × hidden temporary
      } else {
        grad_weight.add_(grad_logits.t().mm(chunk_hidden).to(torch::kFloat32));
      }
    }
    if (buffer.defined()) return {grad_hidden, {}, {}, {}, {}, {}};
    return {grad_hidden, grad_weight.to(weight.scalar_type()), {}, {}, {}, {}};
  }
};

}  // namespace

ChunkedTokenOutputs chunked_output_layer(const torch::Tensor& hidden, const torch::Tensor& weight,
                                         const torch::Tensor& tokens, double temperature, int64_t chunk_tokens,
                                         const torch::Tensor& weight_gradient_buffer) {
  TORCH_CHECK(temperature > 0, "chunked_output_layer: temperature must be > 0, got ", temperature);
  TORCH_CHECK(chunk_tokens >= 1, "chunked_output_layer: chunk_tokens must be ≥ 1, got ", chunk_tokens);
  TORCH_CHECK(hidden.dim() == tokens.dim() + 1 && hidden.sizes().slice(0, tokens.dim()) == tokens.sizes(),
              "chunked_output_layer: hidden ", hidden.sizes(), " and tokens ", tokens.sizes(), " do not match");
  TORCH_CHECK(weight.dim() == 2 && weight.size(1) == hidden.size(-1), "chunked_output_layer: weight ",
              weight.sizes(), " does not take hidden states of size ", hidden.size(-1));
  TORCH_CHECK(!weight_gradient_buffer.defined() ||
                  (weight_gradient_buffer.scalar_type() == torch::kFloat32 &&
                   weight_gradient_buffer.sizes() == weight.sizes() && weight_gradient_buffer.device() == weight.device()),
              "chunked_output_layer: the weight's gradient buffer must be fp32 ", weight.sizes(), " on ",
              weight.device(), ", got ", weight_gradient_buffer.scalar_type(), " ", weight_gradient_buffer.sizes());
  const torch::Tensor hidden_rows = hidden.reshape({-1, hidden.size(-1)}).contiguous();
  const torch::Tensor token_rows = tokens.reshape({-1}).contiguous();
  const variable_list outputs =
      ChunkedOutputLayerFunction::apply(hidden_rows, weight, token_rows, temperature, chunk_tokens,
                                        GradientBuffer{weight_gradient_buffer});
  return {outputs[0].view(tokens.sizes()), outputs[1].view(tokens.sizes())};
}

}  // namespace deltarl
