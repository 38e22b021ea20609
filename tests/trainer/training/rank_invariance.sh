#!/usr/bin/env bash
# The same 3 steps at -np 1 and -np 2 (other micro-batches too) reduce the same
# gradients, up to rounding: per-group seeds make the rollouts identical,
# group-global weights make the reduced gradient so. A negative control, the
# statistics left rank-local, must fail the same comparison.
#
# What is compared, and why (Note [Group-global weights] in
# trainer/algorithm/step_statistics.h): the claim is that the reduced gradient is the
# same sum at any rank count, reassociated, so it differs by rounding only
# (~1e-7 of its norm in fp32). The weights after AdamW are not compared:
# AdamW divides each coordinate by its own gradient's size, so wherever a
# gradient is tiny next to its rounding noise (the k-projection bias, whose
# gradient only RoPE keeps from cancelling) it turns the noise into a
# full-size step, and a CPU's BLAS kernels decide how large the noise is.
# Compared instead: AdamW's first moment, a running average of the reduced
# gradients (checkpoint optimizer.safetensors, exp_avg.*), all tensors as one
# vector, ‖m₂ − m₁‖/‖m₁‖, so a tensor that is all cancellation weighs by its
# size. optim.eps = 1, far above any gradient coordinate, makes each step
# lr·m/(√v + 1) ≈ lr·m, linear in the gradients, so steps 2 and 3 start from
# weights that differ by rounding too, not by amplified noise; weight decay is
# off so the steps are all gradient.
# Measured on this fixture (AMD EPYC Zen 4; docs/training.md): 7.5e-8, and
# 6.6e-7 with AdamW's default eps; the tolerance 1e-5 is 100x the former. The
# negative control measures ~1.0.
deltarl="$1" mpirun="$2"
source "$(dirname "$0")/common.sh"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
make_fixture "$work"
linear=(--set optim.eps=1 --set optim.weight_decay=0)
compare=(--tensors first-moment --norm whole --tolerance 1e-5)
"$mpirun" -np 1 --bind-to none "$deltarl" train --quiet --config "$work/config.yaml" --set output.dir="$work/np1" \
  "${linear[@]}"
"$mpirun" -np 2 --bind-to none "$deltarl" train --quiet --config "$work/config.yaml" --set output.dir="$work/np2" \
  --set train.micro_batch_size=2 "${linear[@]}"
"$deltarl" compare-checkpoints "$work/np2/checkpoints/step-00000003" "$work/np1/checkpoints/step-00000003" \
  "${compare[@]}"
echo "np1 == np2"
# The negative control: each rank weighs its samples by its own statistics, so
# the groups split across ranks get other weights. The comparison must see it.
DELTARL_TEST_RANK_LOCAL_STATISTICS=1 "$mpirun" -np 2 --bind-to none -x DELTARL_TEST_RANK_LOCAL_STATISTICS \
  "$deltarl" train --quiet --config "$work/config.yaml" --set output.dir="$work/local" \
  --set train.micro_batch_size=2 "${linear[@]}"
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
