// Recorded rollouts: one step's samples as JSON Lines, one RolloutSample per
// line, so a step can be replayed without generation (`deltarl update`) or fed
// to another trainer. `deltarl train` writes them with output.save_rollouts;
// docs/training.md ("Recorded rollouts") documents the fields.
//
//   write_rollout_records("run/rollouts/step-3.jsonl", 3, samples);   // atomic
//   RolloutRecords records = read_rollout_records("run/rollouts/step-3.jsonl");
//
// Floats and doubles are written as the shortest text that reads back to the
// same bits, so a file round-trips exactly: replaying it trains on the very
// numbers the run trained on.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "trainer/algorithm/rollout_sample.h"

namespace deltarl {

struct RolloutRecords {
  int64_t step = 0;                   // the step every line names
  int64_t num_groups = 0;             // groups are 0 .. num_groups-1, none empty
  std::vector<RolloutSample> samples;  // in file order; old_log_probs empty
};

// Writes `samples` (one step's, e.g. ExchangedSamples::all) to `path`
// atomically (core/atomic_file_writer.h); the folder must exist. Throws
// InputError naming the sample (group, sample_index) when it could not be read
// back: log-probs that do not match the response, or a non-finite value.
void write_rollout_records(const std::string& path, int64_t step, const std::vector<RolloutSample>& samples);

// Reads and checks a file written by write_rollout_records (or by hand).
// Throws InputError naming "<path>:<line>" and the field for: a missing or
// wrongly typed field, an empty prompt or response, rollout_log_probs whose
// length is not response_ids', a non-finite reward or log-prob, a step other
// than the first line's, a (group, sample_index) given twice; and naming the
// file for no samples or a group in 0 .. max group without samples.
RolloutRecords read_rollout_records(const std::string& path);

// `<run_folder>/rollouts/step-<step>.jsonl`.
std::string step_rollouts_path(const std::string& run_folder, int64_t step);

// output.save_rollouts: writes `samples` to step_rollouts_path(run_folder,
// step), creating the rollouts folder, and returns the path. Not collective:
// call it on rank 0 only, with the step's samples over all ranks.
std::string save_step_rollouts(const std::string& run_folder, int64_t step, const std::vector<RolloutSample>& samples);

}  // namespace deltarl
