#!/usr/bin/env bash
# The same 3 steps at -np 1 and -np 2 (other micro-batches, made by a token
# budget, with activation checkpointing and the chunked output layer) make the same
# update, up to rounding: per-group seeds make the rollouts identical,
# group-global statistics make every PPO update's reduced gradient so. The
# fixture is the synthetic task (mixed rewards: the policy gradient is live)
# with 2 mini-batches × 2 epochs per step, and some step must clip. A negative
# control, the statistics left rank-local, must fail the same comparison.
#
# What is compared, and why (Note [Group-global weights] in
# trainer/algorithm/step_statistics.h): each run's whole update Δ = weights at
# step 3 − the starting model, by its norm, ‖Δ₂ − Δ₁‖ / ‖Δ₁‖ over all tensors as
# one vector. AdamW turns rounding in tiny-gradient coordinates (the
# k-projection bias, whose gradient only RoPE keeps from cancelling) into
# full-size steps, so no tensor is compared on its own; by the norm of the
# whole update those coordinates weigh by their size, so rounding passes and a
# rank-dependent weight (the negative control) fails. Per-update gradients at
# shared weights are compared exactly in aggregation_invariance_mpi_test.
# Measured on this fixture (AMD EPYC Zen 4, 2026-12-02): 2.0e-5 (1.0e-5 before
# the rank-order MPI sums and the output-weight gradient fusion); the negative
# control 0.64. The tolerance, 1e-3, is 50x the former.
deltarl="$1" mpirun="$2"
source "$(dirname "$0")/common.sh"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
make_fixture "$work"
compare=(--from "$work/model" --norm whole --tolerance 1e-3)
"$mpirun" -np 1 --bind-to none "$deltarl" train --quiet --config "$work/config.yaml" --set output.dir="$work/np1"
"$mpirun" -np 2 --bind-to none "$deltarl" train --quiet --config "$work/config.yaml" --set output.dir="$work/np2" \
  --set train.micro_batch_tokens=150 --set train.activation_checkpointing=true --set train.logits_chunk_tokens=7
check_some_step_clipped "$work/np1/metrics.jsonl"
"$deltarl" compare-checkpoints "$work/np2/checkpoints/step-00000003" "$work/np1/checkpoints/step-00000003" \
  "${compare[@]}"
echo "np1 == np2"
# The negative control: each rank weighs its samples by its own statistics, so
# the groups split across ranks get other weights. The comparison must see it.
DELTARL_TEST_RANK_LOCAL_STATISTICS=1 "$mpirun" -np 2 --bind-to none -x DELTARL_TEST_RANK_LOCAL_STATISTICS \
  "$deltarl" train --quiet --config "$work/config.yaml" --set output.dir="$work/local" \
  --set train.micro_batch_size=2
set +e
"$deltarl" compare-checkpoints "$work/local/checkpoints/step-00000003" "$work/np1/checkpoints/step-00000003" \
  "${compare[@]}"
code=$?
set -e
# 1 is "differ beyond the tolerance"; 0 would be a blind comparison, 2 a broken one.
if [[ $code -ne 1 ]]; then
  echo "the negative control's comparison exited $code, not 1" >&2
  exit 1
fi
echo "rank-local statistics differ"
