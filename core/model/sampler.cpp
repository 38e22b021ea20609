#include "core/model/sampler.h"

#include <cmath>

#include "core/input_error.h"

namespace deltarl {

void SamplingParams::validate() const {
  if (!(std::isfinite(temperature) && temperature >= 0)) {
    throw InputError("temperature must be >= 0 (0 is greedy), got " + std::to_string(temperature));
  }
  if (!(top_p > 0 && top_p <= 1)) throw InputError("top_p must be in (0, 1], got " + std::to_string(top_p));
}

int64_t sample_token(const torch::Tensor& logits, const SamplingParams& params, std::mt19937_64& random) {
  torch::Tensor row = logits.detach().to(torch::kCPU, torch::kFloat32).reshape({-1});
  if (params.temperature == 0.0) return row.argmax().item<int64_t>();
  torch::Tensor probabilities = torch::softmax(row / params.temperature, /*dim=*/0).to(torch::kFloat64);
  // A uniform draw in [0, mass) from 53 random bits, then the inverse CDF.
  auto uniform = [&random](double mass) { return static_cast<double>(random() >> 11) * 0x1.0p-53 * mass; };
  if (params.top_p >= 1.0) {  // the whole distribution: no need to sort
    const double* p = probabilities.data_ptr<double>();
    const int64_t count = probabilities.numel();
    const double u = uniform(1.0);
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
  while (kept < sorted.numel() && (kept == 0 || kept_mass < params.top_p)) kept_mass += mass[kept++];
  const double u = uniform(kept_mass);
  double cumulative = 0;
  for (int64_t i = 0; i < kept; ++i) {
    cumulative += mass[i];
    if (u < cumulative) return ids[i];
  }
  return ids[kept - 1];
}

}  // namespace deltarl
