// The learning rate of optimizer update t (1-based): linear warmup from lr/W to
// lr over the first W updates, then cosine decay from lr to lr · min_ratio at
// the last update. A pure function of t, so a resumed run continues exactly.
#pragma once

#include <cstdint>

namespace deltarl {

struct LearningRateSchedule {
  double peak = 1e-6;
  int64_t warmup_updates = 0;
  int64_t total_updates = 1;
  double min_ratio = 0.0;

  // Requires 1 ≤ update ≤ total_updates.
  double at(int64_t update) const;
};

}  // namespace deltarl
