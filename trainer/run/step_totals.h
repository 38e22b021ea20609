// The step's totals over all learner ranks, summed into its StepReport: the
// samples' (reward, lengths, version lag) and the learners' (loss, clipping,
// KL, gradient norms). `deltarl train` (TrainingRun::run_step) and
// `deltarl update` report a step through these alike.
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/algorithm/policy_update.h"
#include "trainer/algorithm/rollout_sample.h"
#include "trainer/comm/communicator.h"
#include "trainer/run/step_report.h"

namespace deltarl {

// The step's samples over all ranks (`all`) into the report's sample totals;
// the version lag is counted behind `version_trained`. Not collective.
void add_sample_totals(const std::vector<RolloutSample>& all, uint64_t version_trained, StepReport* report);

// The learners' sums over all ranks, with each rank's stop-signal flag, into
// the report: one all-gather of a small vector. Collective over `host`: every
// rank calls it once per step.
void gather_learner_totals(Communicator& host, const PolicyUpdateResult& local, bool stop_requested,
                           StepReport* report);

}  // namespace deltarl
