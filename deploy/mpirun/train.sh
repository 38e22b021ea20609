#!/usr/bin/env bash
# deltarl training on a cluster without Slurm: learner ranks from a hostfile
# under `mpirun`, rollout workers started on WORKER_HOSTS by a second mpirun
# (no ssh set-up beyond what mpirun already needs). Run from the repository on
# a host that can reach the others; RUN_DIR on a file system every host sees.
#
#   HOSTFILE=hosts.txt WORKER_HOSTS=node3,node4 CONFIG=deploy/configs/countdown-qwen2.5-0.5b-gpu.yaml \
#   MODEL=/shared/qwen2.5-0.5b RUN_DIR=/shared/runs/a deploy/mpirun/train.sh
#
# hosts.txt is Open MPI's format ("node1 slots=8" per line: one rank per GPU).
# Behaves as deploy/slurm/train.sbatch (docs/clusters.md): workers write their
# addresses to RUN_DIR/workers/, the learners get them; preflight first; a run
# with a checkpoint resumes (run the same command again after a stop or a
# crash); SIGUSR1, SIGTERM or Ctrl-C to this script makes the learners finish
# the step, checkpoint and exit 3. MAX_RESTARTS > 0 resumes automatically from
# the last checkpoint after a learner failure (a crashed rank, or exit 4: the
# step watchdog aborted a hung rank), that many times; the workers and hosts
# stay the same, so a lost host still ends the run. Exits with the learners' code.
#
# ---- configuration (environment) ----
CONFIG="${CONFIG:?set CONFIG to the training YAML (docs/configuration.md)}"
MODEL="${MODEL:?set MODEL to the HF model folder}"
HOSTFILE="${HOSTFILE:?set HOSTFILE to the learner hosts (Open MPI hostfile)}"
WORKER_HOSTS="${WORKER_HOSTS:?set WORKER_HOSTS to a comma-separated list of worker hosts}"
WORKERS_PER_HOST="${WORKERS_PER_HOST:-1}"
RUN_DIR="${RUN_DIR:-runs/deltarl}"
RANKS="${RANKS:-}"                         # default: every slot of HOSTFILE
DELTARL="${DELTARL:-$(command -v deltarl || echo "$(pwd)/build/cli/deltarl")}"
MPIRUN="${MPIRUN:-mpirun}"
MPIRUN_ARGS="${MPIRUN_ARGS:-}"             # e.g. "--mca btl_tcp_if_include ib0"
WORKER_ARGS="${WORKER_ARGS:-}"             # e.g. "--threads 8"
WORKER_ADDRESS="${WORKER_ADDRESS:-hostname}"  # hostname | ip: how learners dial workers
WORKER_START_TIMEOUT="${WORKER_START_TIMEOUT:-600}"
PREFLIGHT="${PREFLIGHT:-1}"
PREFLIGHT_TIMEOUT="${PREFLIGHT_TIMEOUT:-300}"   # seconds; a hanging MPI wire-up is a failed preflight
TRAIN_ARGS="${TRAIN_ARGS:-}"
MAX_RESTARTS="${MAX_RESTARTS:-0}"
# -------------------------------------
set -uo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../lib/launch_common.sh"

mkdir -p "$RUN_DIR/logs"
RUN_DIR="$(cd "$RUN_DIR" && pwd)"
CONFIG="$(readlink -f "$CONFIG")"; MODEL="$(readlink -f "$MODEL")"; HOSTFILE="$(readlink -f "$HOSTFILE")"
[[ -x "$DELTARL" ]] || { log "no deltarl executable at $DELTARL (set DELTARL)"; exit 2; }
ensure_rollout_token "$RUN_DIR"
if [[ -z "$RANKS" ]]; then
  RANKS=$(awk '!/^#/ && NF { slots = 1; for (i = 2; i <= NF; ++i) if ($i ~ /^slots=/) { sub("slots=", "", $i); slots = $i }; total += slots } END { print total }' "$HOSTFILE")
fi
IFS=, read -r -a worker_hosts <<< "$WORKER_HOSTS"
worker_count=$(( ${#worker_hosts[@]} * WORKERS_PER_HOST ))
launch_id="$(date +%Y%m%d-%H%M%S)-$$"
log "learners: $RANKS rank(s) from $HOSTFILE; workers: $WORKERS_PER_HOST on each of $WORKER_HOSTS; run $RUN_DIR"
export DELTARL_ROLLOUT_TOKEN

# Stop requests become SIGUSR1 for the learners' mpirun, which passes USR1 on
# as it is (TERM and INT it turns into a kill after a second). Both mpiruns run
# in their own session, so Ctrl-C in this terminal reaches only this script.
learners_pid=""
stopping=0
request_stop() { stopping=1; [[ -n "$learners_pid" ]] && kill -USR1 "$learners_pid" 2>/dev/null; log "stop: the learners checkpoint and exit"; }
trap request_stop USR1 TERM INT

# 1. workers: one mpirun places them (they are not MPI programs). On SIGTERM it
# gives them 5 s before killing them (Open MPI's default is 1 s; it waits that long
# even when they exit at once). Nothing is in flight by then: the learners are done.
address_dir="$RUN_DIR/workers/launch-$launch_id"
mkdir -p "$address_dir"
worker_hosts_slots=$(printf "%s:$WORKERS_PER_HOST," "${worker_hosts[@]}"); worker_hosts_slots="${worker_hosts_slots%,}"
if [[ "$WORKER_ADDRESS" == "ip" ]]; then advertise='--advertise-host "$(hostname -I | cut -d" " -f1)"'; else advertise=""; fi
# shellcheck disable=SC2086
setsid "$MPIRUN" --host "$worker_hosts_slots" -np "$worker_count" --bind-to none -x DELTARL_ROLLOUT_TOKEN \
  --mca odls_base_sigkill_timeout 5 $MPIRUN_ARGS \
  --output-filename "$RUN_DIR/logs/workers-$launch_id" \
  bash -c "exec \"$DELTARL\" rollout --model \"$MODEL\" --bind 0.0.0.0 --port 0 $WORKER_ARGS $advertise \
           --address-file \"$address_dir/\$OMPI_COMM_WORLD_RANK.addr\"" &
workers_pid=$!
stop_workers() {
  kill -0 "$workers_pid" 2>/dev/null || return 0
  kill -TERM "$workers_pid" 2>/dev/null   # mpirun passes SIGTERM on: the workers drain
  for _ in $(seq 1 200); do kill -0 "$workers_pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$workers_pid" 2>/dev/null; wait "$workers_pid" 2>/dev/null
}
trap stop_workers EXIT
workers="$(wait_for_worker_addresses "$address_dir" "$worker_count" "$WORKER_START_TIMEOUT" "$workers_pid")" || exit 1
log "workers: $workers"

learner_mpirun=("$MPIRUN" --hostfile "$HOSTFILE" -np "$RANKS" --bind-to none -x DELTARL_ROLLOUT_TOKEN $MPIRUN_ARGS)
common_sets=(--set "model.path=$MODEL" --set "output.dir=$RUN_DIR/train" --set "rollout.workers=$workers"
             --set rollout.spawn_local=0)

# 2. preflight
if [[ "$PREFLIGHT" == "1" ]]; then
  mapfile -t config_arguments < <(config_arguments "$RUN_DIR/train" "$CONFIG")
  # shellcheck disable=SC2086
  timeout "$PREFLIGHT_TIMEOUT" "${learner_mpirun[@]}" "$DELTARL" preflight "${config_arguments[@]}" \
    "${common_sets[@]}" $TRAIN_ARGS ||
    { code=$?; (( code == 124 )) && log "preflight did not finish in ${PREFLIGHT_TIMEOUT}s: the ranks did not wire up"
      log "preflight failed (exit $code): nothing was started"; exit "$code"; }
fi

# 3. train (4. again from the last checkpoint after a failure, MAX_RESTARTS times)
attempt=0
while true; do
  mapfile -t start_arguments < <(training_start_arguments "$RUN_DIR/train" "$CONFIG")
  log "deltarl train ${start_arguments[*]} (attempt $((attempt + 1)))"
  # shellcheck disable=SC2086
  (( stopping )) && { code=3; break; }
  setsid "${learner_mpirun[@]}" --output-filename "$RUN_DIR/logs/learners-$launch_id-$attempt" \
    "$DELTARL" train "${start_arguments[@]}" "${common_sets[@]}" $TRAIN_ARGS &
  learners_pid=$!
  wait_for_exit "$learners_pid"; code=$exit_code
  log "learners exited with $code: $(describe_train_exit "$code")"
  if ! restartable_exit "$code" || (( stopping == 1 || attempt >= MAX_RESTARTS )); then break; fi
  has_checkpoint "$RUN_DIR/train" || { log "no checkpoint to restart from"; break; }
  attempt=$((attempt + 1))
  log "restarting from the last checkpoint ($attempt of $MAX_RESTARTS)"
done
exit "$code"
