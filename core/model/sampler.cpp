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

// The first maximum, NaN counting as the largest (torch's argmax rules).
int64_t first_maximum(const float* row, int64_t count) {
  int64_t best = 0;
  for (int64_t i = 1; i < count; ++i) {
    if (std::isnan(row[best])) break;
    if (row[i] > row[best] || std::isnan(row[i])) best = i;
  }
  return best;
}

// A uniform draw in [0, mass) from 53 random bits.
double uniform(std::mt19937_64& random, double mass) { return static_cast<double>(random() >> 11) * 0x1.0p-53 * mass; }

// Inverse CDF over one row of probabilities (float64), nucleus-truncated when top_p < 1.
int64_t draw(const torch::Tensor& probabilities, double top_p, std::mt19937_64& random) {
  const int64_t count = probabilities.numel();
  if (top_p >= 1.0) {  // the whole distribution: no need to sort
    const double* p = probabilities.data_ptr<double>();
    const double u = uniform(random, 1.0);
    double cumulative = 0;
    for (int64_t i = 0; i < count; ++i) {
      cumulative += p[i];
      if (u < cumulative) return i;
    }
    return probabilities.argmax().item<int64_t>();  // rounding left u beyond the total
  }
  torch::Tensor sorted, order;
  std::tie(sorted, order) = probabilities.sort(/*dim=*/0, /*descending=*/true);
  const double* mass = sorted.data_ptr<double>();
  const int64_t* ids = order.data_ptr<int64_t>();
  // Nucleus: tokens whose preceding mass is still below top_p.
  int64_t kept = 0;
  double kept_mass = 0;
  while (kept < count && (kept == 0 || kept_mass < top_p)) kept_mass += mass[kept++];
  const double u = uniform(random, kept_mass);
  double cumulative = 0;
  for (int64_t i = 0; i < kept; ++i) {
    cumulative += mass[i];
    if (u < cumulative) return ids[i];
  }
  return ids[kept - 1];
}

}  // namespace

std::vector<int64_t> sample_tokens(const torch::Tensor& logits, const std::vector<const SamplingParams*>& params,
                                   const std::vector<std::mt19937_64*>& random) {
  TORCH_CHECK(logits.dim() == 2 && static_cast<size_t>(logits.size(0)) == params.size() &&
                  params.size() == random.size(),
              "sample_tokens: logits ", logits.sizes(), " for ", params.size(), " parameter sets and ", random.size(),
              " random streams");
  const int64_t batch = logits.size(0), vocab = logits.size(1);
  std::vector<int64_t> chosen(static_cast<size_t>(batch), 0);
  const bool all_greedy =
      std::all_of(params.begin(), params.end(), [](const SamplingParams* p) { return p->temperature == 0.0; });
  if (all_greedy && !logits.device().is_cpu()) {  // bring back the choices, not the logits
    const torch::Tensor best = logits.argmax(/*dim=*/-1).to(torch::kCPU, torch::kInt64).contiguous();
    std::copy(best.data_ptr<int64_t>(), best.data_ptr<int64_t>() + batch, chosen.begin());
    return chosen;
  }
  const torch::Tensor rows = logits.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  // Greedy rows straight from memory; the sampled ones share one softmax.
  std::vector<int64_t> sampled;
  std::vector<float> temperatures;
  for (int64_t r = 0; r < batch; ++r) {
    const SamplingParams& p = *params[static_cast<size_t>(r)];
    if (p.temperature == 0.0) {
      chosen[static_cast<size_t>(r)] = first_maximum(rows.data_ptr<float>() + r * vocab, vocab);
    } else {
      sampled.push_back(r);
      temperatures.push_back(static_cast<float>(p.temperature));
    }
  }
  if (sampled.empty()) return chosen;
  const bool every_row = static_cast<int64_t>(sampled.size()) == batch;
  const torch::Tensor picked = every_row ? rows : rows.index_select(0, torch::tensor(sampled, torch::kInt64));
  const torch::Tensor scaled = picked / torch::tensor(temperatures, torch::kFloat32).unsqueeze(1);
  const torch::Tensor probabilities = torch::softmax(scaled, /*dim=*/1).to(torch::kFloat64);
  for (size_t i = 0; i < sampled.size(); ++i) {
    const auto r = static_cast<size_t>(sampled[i]);
    chosen[r] = draw(probabilities[static_cast<int64_t>(i)], params[r]->top_p, *random[r]);
  }
  return chosen;
}

int64_t sample_token(const torch::Tensor& logits, const SamplingParams& params, std::mt19937_64& random) {
  return sample_tokens(logits.reshape({1, -1}), {&params}, {&random}).front();
}

}  // namespace deltarl
