# Shared by the cluster launchers (deploy/slurm/*.sbatch, deploy/mpirun/*.sh):
# the workers' token, collecting worker addresses, and fresh-start-or-resume.
# Source it; every function prints to stderr and returns non-zero on failure.

log() { echo "[deltarl $(date +%H:%M:%S)] $*" >&2; }

# ensure_rollout_token RUN_DIR: exports DELTARL_ROLLOUT_TOKEN, kept in
# RUN_DIR/rollout.token (mode 600) so a requeued job's new workers use the same.
# Workers listen beyond loopback, where a token is mandatory.
ensure_rollout_token() {
  local file="$1/rollout.token"
  if [[ -n "${DELTARL_ROLLOUT_TOKEN:-}" ]]; then return 0; fi
  if [[ ! -s "$file" ]]; then
    (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$file.partial" && mv "$file.partial" "$file")
  fi
  DELTARL_ROLLOUT_TOKEN="$(cat "$file")"
  export DELTARL_ROLLOUT_TOKEN
}

# wait_for_worker_addresses DIR COUNT TIMEOUT_SECONDS PID: waits until DIR holds
# COUNT *.addr files (written by `deltarl rollout --address-file`) and prints
# them as a YAML list for --set rollout.workers=...; fails early when PID (the
# process that launched the workers) has exited.
wait_for_worker_addresses() {
  local dir="$1" count="$2" timeout="$3" launcher_pid="$4" waited=0
  while true; do
    local files=("$dir"/*.addr)
    [[ -e "${files[0]}" ]] || files=()
    if (( ${#files[@]} >= count )); then
      local list="" file
      for file in "${files[@]}"; do list+="${list:+,}$(cat "$file")"; done
      echo "[$list]"
      return 0
    fi
    if ! kill -0 "$launcher_pid" 2>/dev/null; then
      log "the rollout workers exited before serving (${#files[@]} of $count addresses): see their logs"
      return 1
    fi
    if (( waited >= timeout * 5 )); then
      log "only ${#files[@]} of $count rollout workers served within ${timeout}s: see their logs"
      return 1
    fi
    sleep 0.2; waited=$((waited + 1))
  done
}

# Exit codes of `deltarl train` (cli/train_command.h, docs/configuration.md).
TRAIN_EXIT_FINISHED=0 TRAIN_EXIT_FAILED=1 TRAIN_EXIT_BAD_INPUT=2 TRAIN_EXIT_STOPPED=3 TRAIN_EXIT_STEP_TIMEOUT=4

# restartable_exit CODE: whether the learners' exit CODE is a failure that a
# restart from the last checkpoint may get past: a crashed rank (1, or a signal's
# 128+N, or whatever the MPI launcher reports for a rank that died) and a step the
# watchdog aborted (4, a hung rank). Not a finished run (0), bad input (2: it
# would fail again) or a stop on a signal (3: a stop was asked for).
restartable_exit() {
  case "$1" in
    "$TRAIN_EXIT_FINISHED" | "$TRAIN_EXIT_BAD_INPUT" | "$TRAIN_EXIT_STOPPED") return 1 ;;
    *) return 0 ;;
  esac
}

# describe_train_exit CODE: what the learners' exit code means, for the log.
describe_train_exit() {
  case "$1" in
    "$TRAIN_EXIT_FINISHED") echo "finished" ;;
    "$TRAIN_EXIT_FAILED") echo "failed (see the learners' logs)" ;;
    "$TRAIN_EXIT_BAD_INPUT") echo "bad input (see the learners' logs)" ;;
    "$TRAIN_EXIT_STOPPED") echo "stopped on a signal after a checkpoint" ;;
    "$TRAIN_EXIT_STEP_TIMEOUT") echo "aborted by the step watchdog: a rank hung (its log names the rank, step and phase)" ;;
    *) if (( $1 > 128 )); then echo "a rank was killed by signal $(( $1 - 128 ))"; else echo "failed"; fi ;;
  esac
}

# has_checkpoint TRAIN_DIR: whether the run there can be resumed.
has_checkpoint() { compgen -G "$1/checkpoints/step-*" > /dev/null; }

# config_arguments TRAIN_DIR CONFIG: prints, one per line, `--resume TRAIN_DIR`
# when it holds a checkpoint (a requeued or resubmitted job), else `--config CONFIG`.
config_arguments() {
  if has_checkpoint "$1"; then printf '%s\n' --resume "$1"; else printf '%s\n' --config "$2"; fi
}

# training_start_arguments TRAIN_DIR CONFIG: config_arguments, after renaming a
# run folder without any checkpoint (killed before its first) aside, never
# deleting it, so the fresh start does not trip over it.
training_start_arguments() {
  local train_dir="$1" config="$2"
  if ! has_checkpoint "$train_dir" && [[ -e "$train_dir" ]]; then
    local aside="$train_dir.incomplete-$(date +%Y%m%d-%H%M%S)"
    mv "$train_dir" "$aside"
    log "no checkpoint in $train_dir: set it aside as $aside and start afresh"
  fi
  config_arguments "$train_dir" "$config"
}

# wait_for_exit PID: waits for the process through trapped signals (a trap
# makes `wait` return early) and sets exit_code to the process's own status.
wait_for_exit() {
  while kill -0 "$1" 2>/dev/null; do wait "$1"; done
  wait "$1"; exit_code=$?
}
