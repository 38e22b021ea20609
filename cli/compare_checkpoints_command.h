// `deltarl compare-checkpoints A B [--tolerance X]`: compares the tensors of two
// Hugging Face checkpoint folders (single-file or sharded), tensor by tensor,
// and prints the largest relative error ‖a − b‖ / ‖b‖ (Frobenius norms, per
// tensor) with its tensor, and the largest max|a − b| / max|b| for reference.
// Exit 0 when every tensor's ‖a − b‖ / ‖b‖ is within the tolerance (default 0:
// bit-identical),
// 1 when not, 2 when the folders do not hold the same tensors. For checking
// exact resume and rank-count invariance between runs.
#pragma once

#include <CLI/CLI.hpp>

#include "core/status.h"

namespace deltarl {

void register_compare_checkpoints_command(CLI::App& app, Status* status);

}  // namespace deltarl
