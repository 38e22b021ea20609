#include "core/model/sampler.h"

#include <algorithm>
#include <cmath>

#include <c10/util/Exception.h>

#include "core/input_error.h"

namespace deltarl {

void SamplingParams::validate() const {
  if (!(std::isfinite(temperature) && temperature >= 0)) {
    throw InputError("temperature must be >= 0 (0 is greedy), got " + std::to_string(temperature));
  }
  if (!(top_p > 0 && top_p <= 1)) throw InputError("top_p must be in (0, 1], got " + std::to_string(top_p));
}

namespace {

// A uniform draw in [0, 1) from the top 53 random bits.
double unit_uniform(std::mt19937_64& random) { return static_cast<double>(random() >> 11) * 0x1.0p-53; }

torch::Tensor on(const torch::Tensor& host, torch::Device device) {
  return device.is_cpu() ? host : host.to(device);
}

// The inverse CDF of each row of `probabilities` (rows, vocab) fp64 at `u`
// (rows,): the first token whose cumulative mass exceeds u, in vocabulary
// order. On the CPU the running sum is sequential, so the searchsorted gives
// what the loop `cumulative += p[i]; if (u < cumulative) return i;` gives; a
// GPU's parallel scan sums in another order (rounding only).
torch::Tensor inverse_cdf(const torch::Tensor& probabilities, const torch::Tensor& u) {
  const torch::Tensor cumulative = probabilities.cumsum(/*dim=*/1);
  const torch::Tensor index =
      torch::searchsorted(cumulative, u.unsqueeze(1), /*out_int32=*/false, /*right=*/true).squeeze(1);
  // Rounding can leave u beyond the total: the most probable token then.
  return torch::where(index < probabilities.size(1), index, probabilities.argmax(/*dim=*/1));
}

// Nucleus rows: the same search in descending probability, over the tokens
// whose preceding mass is below top_p (at least one), with u scaled to their mass.
torch::Tensor inverse_cdf_in_nucleus(const torch::Tensor& probabilities, const torch::Tensor& u,
                                     const torch::Tensor& top_p) {
  torch::Tensor sorted, order;
  // Stable: tied probabilities (frequent from bf16 logits) keep vocabulary order on every device.
  std::tie(sorted, order) = probabilities.sort(/*stable=*/true, /*dim=*/1, /*descending=*/true);
  const torch::Tensor cumulative = sorted.cumsum(/*dim=*/1);
  const torch::Tensor preceding =
      torch::cat({torch::zeros_like(cumulative.narrow(1, 0, 1)), cumulative.narrow(1, 0, cumulative.size(1) - 1)}, 1);
  const torch::Tensor kept = (preceding < top_p.unsqueeze(1)).sum(/*dim=*/1).clamp_min(1);  // a prefix
  const torch::Tensor last_kept = (kept - 1).unsqueeze(1);
  const torch::Tensor target = u.unsqueeze(1) * cumulative.gather(1, last_kept);
  const torch::Tensor position =
      torch::minimum(torch::searchsorted(cumulative, target, /*out_int32=*/false, /*right=*/true), last_kept);
  return order.gather(1, position).squeeze(1);
}

// (rows,) int64 on the logits' device.
torch::Tensor choose(const torch::Tensor& logits, const std::vector<const SamplingParams*>& params,
                     const std::vector<std::mt19937_64*>& random) {
  TORCH_CHECK(logits.dim() == 2 && static_cast<size_t>(logits.size(0)) == params.size() &&
                  params.size() == random.size(),
              "sample_tokens: logits ", logits.sizes(), " for ", params.size(), " parameter sets and ", random.size(),
              " random streams");
  const torch::Device device = logits.device();
  const torch::Tensor values = logits.detach();
  // Rows by kind, and each sampled row's one draw, in row order.
  std::vector<int64_t> greedy, whole, nucleus;
  std::vector<float> whole_temperature, nucleus_temperature;
  std::vector<double> whole_u, nucleus_u, nucleus_top_p;
  for (size_t r = 0; r < params.size(); ++r) {
    const SamplingParams& p = *params[r];
    const auto row = static_cast<int64_t>(r);
    if (p.temperature == 0.0) {
      greedy.push_back(row);
    } else if (p.top_p >= 1.0) {
      whole.push_back(row);
      whole_temperature.push_back(static_cast<float>(p.temperature));
      whole_u.push_back(unit_uniform(*random[r]));
    } else {
      nucleus.push_back(row);
      nucleus_temperature.push_back(static_cast<float>(p.temperature));
      nucleus_u.push_back(unit_uniform(*random[r]));
      nucleus_top_p.push_back(p.top_p);
    }
  }
  if (greedy.size() == params.size()) return values.argmax(/*dim=*/1);
  const auto as_tensor = [&](const auto& host, torch::Dtype dtype) { return on(torch::tensor(host, dtype), device); };
  const auto rows_of = [&](const std::vector<int64_t>& rows) {
    return rows.size() == params.size() ? values : values.index_select(0, as_tensor(rows, torch::kInt64));
  };
  // p = softmax(logits / T) in fp32, widened to fp64.
  const auto probabilities = [&](const std::vector<int64_t>& rows, const std::vector<float>& temperature) {
    const torch::Tensor scaled = rows_of(rows).to(torch::kFloat32) / as_tensor(temperature, torch::kFloat32).unsqueeze(1);
    return torch::softmax(scaled, /*dim=*/1).to(torch::kFloat64);
  };
  torch::Tensor chosen = torch::zeros({logits.size(0)}, torch::TensorOptions().dtype(torch::kInt64).device(device));
  if (!greedy.empty()) chosen.index_copy_(0, as_tensor(greedy, torch::kInt64), rows_of(greedy).argmax(/*dim=*/1));
  if (!whole.empty()) {
    chosen.index_copy_(0, as_tensor(whole, torch::kInt64),
                       inverse_cdf(probabilities(whole, whole_temperature), as_tensor(whole_u, torch::kFloat64)));
  }
  if (!nucleus.empty()) {
    chosen.index_copy_(0, as_tensor(nucleus, torch::kInt64),
                       inverse_cdf_in_nucleus(probabilities(nucleus, nucleus_temperature),
                                              as_tensor(nucleus_u, torch::kFloat64),
                                              as_tensor(nucleus_top_p, torch::kFloat64)));
  }
  return chosen;
}

}  // namespace

std::vector<int64_t> sample_tokens(const torch::Tensor& logits, const std::vector<const SamplingParams*>& params,
                                   const std::vector<std::mt19937_64*>& random) {
  const torch::Tensor chosen = choose(logits, params, random).to(torch::kCPU).contiguous();
  return {chosen.data_ptr<int64_t>(), chosen.data_ptr<int64_t>() + chosen.numel()};
}

SampledTokens sample_tokens_with_log_probs(const torch::Tensor& logits,
                                           const std::vector<const SamplingParams*>& params,
                                           const std::vector<std::mt19937_64*>& random,
                                           const std::vector<double>& log_prob_temperatures) {
  TORCH_CHECK(log_prob_temperatures.size() == params.size(), "sample_tokens_with_log_probs: ",
              log_prob_temperatures.size(), " log-prob temperatures for ", params.size(), " rows");
  TORCH_CHECK(std::all_of(log_prob_temperatures.begin(), log_prob_temperatures.end(), [](double t) { return t > 0; }),
              "sample_tokens_with_log_probs: log-prob temperatures must be > 0");
  const torch::Tensor chosen = choose(logits, params, random);
  const torch::Device device = logits.device();
  std::vector<float> temperatures(log_prob_temperatures.begin(), log_prob_temperatures.end());
  const torch::Tensor scaled =
      logits.detach().to(torch::kFloat32) / on(torch::tensor(temperatures, torch::kFloat32), device).unsqueeze(1);
  const torch::Tensor log_probs = torch::log_softmax(scaled, /*dim=*/1).gather(1, chosen.unsqueeze(1)).squeeze(1);
  // One transfer: ids are exact in fp64 (< 2^53), fp32 log-probs too.
  const torch::Tensor packed =
      torch::stack({chosen.to(torch::kFloat64), log_probs.to(torch::kFloat64)}).to(torch::kCPU).contiguous();
  const int64_t rows = chosen.size(0);
  const double* ids = packed.data_ptr<double>();
  const double* values = ids + rows;
  SampledTokens result;
  for (int64_t r = 0; r < rows; ++r) {
    result.tokens.push_back(static_cast<int64_t>(ids[r]));
    result.log_probs.push_back(static_cast<float>(values[r]));
  }
  return result;
}

int64_t sample_token(const torch::Tensor& logits, const SamplingParams& params, std::mt19937_64& random) {
  return sample_tokens(logits.reshape({1, -1}), {&params}, {&random}).front();
}

}  // namespace deltarl
