#!/usr/bin/env bash
# The launchers' restart policy by exit code, in seconds: deploy/mpirun/train.sh
# and deploy/slurm/train.sbatch run against stand-ins for mpirun, srun, scontrol
# and squeue and a `deltarl` whose `train` exits with the codes given in
# FAKE_TRAIN_CODES, one per attempt (writing a checkpoint folder first). A crashed
# rank (1, 137) and the step watchdog's exit 4 are restarted from the checkpoint
# within MAX_RESTARTS; 0, 2 and 3 are not. What each launcher does around
# training (workers, preflight, signals) is tested for real by mpirun_launcher.sh
# and slurm_cluster.sh.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
bin="$work/bin"; mkdir -p "$bin"

# deltarl: `rollout` writes its address and serves until SIGTERM; `preflight`
# passes; `train` logs its arguments and exits with the next code of FAKE_TRAIN_CODES.
cat > "$bin/deltarl" <<'SH'
#!/usr/bin/env bash
command="$1"; shift
case "$command" in
  rollout)
    echo $$ > "$FAKE_STATE/worker.pid"
    while (( $# )); do [[ "$1" == --address-file ]] && echo "127.0.0.1:1" > "$2"; shift; done
    trap 'exit 0' TERM; while true; do sleep 0.1; done ;;
  preflight) exit 0 ;;
  train)
    echo "$*" >> "$FAKE_STATE/train-calls"
    attempt=$(wc -l < "$FAKE_STATE/train-calls")
    read -r -a codes <<< "$FAKE_TRAIN_CODES"
    code="${codes[attempt - 1]:-0}"
    for argument in "$@"; do
      [[ "$argument" == output.dir=* ]] && mkdir -p "${argument#output.dir=}/checkpoints/step-0000000$attempt"
    done
    exit "$code" ;;
esac
SH
# mpirun: drops its own options (and their values), runs the program as rank 0.
cat > "$bin/mpirun" <<'SH'
#!/usr/bin/env bash
while (( $# )); do
  case "$1" in
    --host|-np|--bind-to|-x|--output-filename|--hostfile) shift 2 ;;
    --mca) shift 3 ;;
    -*) shift ;;
    *) break ;;
  esac
done
OMPI_COMM_WORLD_RANK=0 exec "$@"
SH
# srun: drops its options (all --name=value or flags), runs the program as task 0.
cat > "$bin/srun" <<'SH'
#!/usr/bin/env bash
while [[ "${1:-}" == -* ]]; do shift; done
SLURM_PROCID=0 exec "$@"
SH
# scontrol: the allocation is this host; squeue: the workers' step is 7.0, and
# scancel --signal=TERM 7.0 signals the worker stand-in, as Slurm would.
printf '#!/usr/bin/env bash\necho localhost\n' > "$bin/scontrol"
printf '#!/usr/bin/env bash\necho "7.0 deltarl-workers"\n' > "$bin/squeue"
printf '#!/usr/bin/env bash\nkill -TERM "$(cat "$FAKE_STATE/worker.pid")"\n' > "$bin/scancel"
chmod +x "$bin"/*
echo "localhost slots=2" > "$work/hosts.txt"
echo "train: {steps: 1}" > "$work/config.yaml"
mkdir -p "$work/model"

# launch LAUNCHER MAX_RESTARTS CODES: runs it in a fresh run folder; sets
# launcher_code and attempts, and resumed (how many attempts got --resume).
launch() {
  local launcher="$1" max_restarts="$2" codes="$3"
  local run="$work/run-$RANDOM$RANDOM" state="$work/state-$RANDOM$RANDOM"
  mkdir -p "$state"; : > "$state/train-calls"
  local environment=(PATH="$bin:$PATH" FAKE_STATE="$state" FAKE_TRAIN_CODES="$codes" MAX_RESTARTS="$max_restarts"
                     CONFIG="$work/config.yaml" MODEL="$work/model" RUN_DIR="$run" DELTARL="$bin/deltarl")
  set +e
  if [[ "$launcher" == mpirun ]]; then
    env "${environment[@]}" HOSTFILE="$work/hosts.txt" WORKER_HOSTS=localhost MPIRUN="$bin/mpirun" \
      timeout 60 bash "$repo/deploy/mpirun/train.sh" > "$state/launcher.log" 2>&1
  else
    env "${environment[@]}" SLURM_JOB_ID=7 SLURM_JOB_NAME=deltarl SLURM_JOB_NODELIST=localhost \
      SLURM_NTASKS_PER_NODE=2 SLURM_SUBMIT_DIR="$repo" REQUEUE_ON_STOP=0 PREFLIGHT=0 \
      timeout 60 bash "$repo/deploy/slurm/train.sbatch" > "$state/launcher.log" 2>&1
  fi
  launcher_code=$?
  set -e
  attempts=$(wc -l < "$state/train-calls")
  resumed=$(grep -c -- "--resume $run/train" "$state/train-calls" || true)
  last_log="$state/launcher.log"
}

# expect LAUNCHER MAX_RESTARTS CODES EXIT ATTEMPTS: the launcher exits EXIT after
# ATTEMPTS runs of `deltarl train`, every one after the first resumed.
expect() {
  local launcher="$1" max_restarts="$2" codes="$3" exit_expected="$4" attempts_expected="$5"
  launch "$launcher" "$max_restarts" "$codes"
  if (( launcher_code != exit_expected || attempts != attempts_expected || resumed != attempts_expected - 1 )); then
    cat "$last_log"
    echo "FAIL: $launcher, MAX_RESTARTS=$max_restarts, train exits \"$codes\": exit $launcher_code after" \
         "$attempts attempt(s), $resumed resumed; expected exit $exit_expected after $attempts_expected"
    exit 1
  fi
  echo "$launcher MAX_RESTARTS=$max_restarts, train exits \"$codes\": exit $launcher_code after $attempts attempt(s)"
}

for launcher in mpirun slurm; do
  expect "$launcher" 1 "4 0" 0 2        # the step watchdog's exit: resumed from the checkpoint
  expect "$launcher" 2 "137 1 0" 0 3    # crashed ranks: resumed, twice
  expect "$launcher" 1 "4 4" 4 2        # restarts used up: the watchdog's code is the launcher's
  expect "$launcher" 0 "4" 4 1          # MAX_RESTARTS=0 (the default): no restart
  grep -q "learners exited with 4: aborted by the step watchdog" "$last_log" || {
    cat "$last_log"; echo "FAIL: the $launcher launcher's log does not name the step watchdog"; exit 1; }
  expect "$launcher" 3 "2" 2 1          # bad input would fail again
  expect "$launcher" 3 "3" 3 1          # a stop on a signal was asked for
done
echo "launcher restarts: exit 4 and crashes resume within MAX_RESTARTS, 0/2/3 do not (mpirun and slurm)"
