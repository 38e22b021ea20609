// `deltarl compare-checkpoints A B [--tolerance X] [--tensors weights|first-moment]
// [--norm per-tensor|whole] [--from START]`: compares two checkpoint folders and prints the
// largest relative error ‖a − b‖ / ‖b‖ (Frobenius norms) of any tensor, with
// its name, the largest max|a − b| / max|b| for reference, and the relative
// error of all tensors taken together as one vector.
//
//   --tensors weights       the model (Hugging Face layout, single-file or
//                           sharded): exact resume, weights after a run.
//   --tensors first-moment  AdamW's first moment (exp_avg.* in
//                           optimizer.safetensors), an average of the reduced
//                           gradients: rank-count and micro-batch invariance,
//                           whose claim is about the gradient.
//   --norm per-tensor       the tolerance bounds every tensor's error (default).
//   --norm whole            it bounds the error of all tensors together, so a
//                           tensor that is all cancellation weighs by its size.
//   --from START            compare the updates A − START and B − START (weights
//                           only): ‖Δ_A − Δ_B‖ / ‖Δ_B‖, how runs at different
//                           rank counts are compared (docs/training.md).
//
// Exit 0 when within the tolerance (default 0: bit-identical), 1 when not, 2
// when the folders do not hold the same tensors.
#pragma once

#include <CLI/CLI.hpp>

#include "core/status.h"

namespace deltarl {

void register_compare_checkpoints_command(CLI::App& app, Status* status);

}  // namespace deltarl
