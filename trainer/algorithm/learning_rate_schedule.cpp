#include "trainer/algorithm/learning_rate_schedule.h"

#include <algorithm>
#include <cmath>

namespace deltarl {

double LearningRateSchedule::at(int64_t update) const {
  if (update <= warmup_updates) return peak * static_cast<double>(update) / static_cast<double>(warmup_updates);
  const int64_t decay_updates = total_updates - warmup_updates;
  if (decay_updates <= 1) return peak;
  const double progress =
      std::clamp(static_cast<double>(update - warmup_updates - 1) / static_cast<double>(decay_updates - 1), 0.0, 1.0);
  const double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
  return peak * (min_ratio + (1.0 - min_ratio) * cosine);
}

}  // namespace deltarl
