#!/usr/bin/env bash
# deploy/slurm/train.sbatch on a real Slurm: starts munged, slurmctld and slurmd
# (Debian's packages) on this machine as a one-node cluster with its own
# config, ports and state in a temporary folder, then
#   1. submits a tiny CPU training job (2 learner ranks under srun --mpi=pmix,
#      1 worker), waits for it and checks the run folder;
#   2. submits a longer one, requeues it mid-run (`scontrol requeue`: Slurm
#      SIGTERMs it, the learners checkpoint), and checks that the requeued job
#      resumed from that checkpoint and finished, each step logged once.
# Skips (exit 77) with the reason when Slurm is not installed or cannot start.
# Every wait is bounded.
deltarl="$1"
source "$(dirname "$0")/../trainer/training/common.sh"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
skip() { echo "SKIP: $*"; exit 77; }
[[ $(id -u) -eq 0 ]] || skip "needs root to run slurmd"
# Slurm from Debian's packages when it is missing (run-tests.sh has usually done it).
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  timeout 600 bash "$repo/deploy/install-deps.sh" --for-tests || skip "could not install Slurm from Debian's packages"
fi
for program in munged slurmctld slurmd sbatch scontrol; do
  command -v "$program" >/dev/null || skip "$program not installed (deploy/install-deps.sh --for-tests installs Slurm)"
done

work="$(mktemp -d /tmp/deltarl-slurm.XXXXXX)"; chmod 755 "$work"
pids=()
cleanup() {
  set +e
  if [[ -f "$work/slurm.conf" ]]; then SLURM_CONF="$work/slurm.conf" scancel --full --quiet -u root 2>/dev/null; fi
  sleep 1
  kill "${pids[@]}" 2>/dev/null; sleep 1; kill -9 "${pids[@]}" 2>/dev/null
  [[ -n "${DELTARL_KEEP_TEST_FILES:-}" ]] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
make_fixture "$work/data"

# --- a one-node cluster -----------------------------------------------------
node="$(hostname -s)"
base_port=$(( 20000 + RANDOM % 20000 ))
mkdir -p "$work"/{state,spool,log,munge}
chmod 700 "$work/munge"
head -c 1024 /dev/urandom > "$work/munge/munge.key"; chmod 400 "$work/munge/munge.key"
munged --foreground --force --key-file="$work/munge/munge.key" --socket="$work/munge/socket" \
  --pid-file="$work/munge/munged.pid" --log-file="$work/log/munged.log" --seed-file="$work/munge/seed" &
pids+=($!)
for _ in $(seq 1 50); do [[ -S "$work/munge/socket" ]] && break; sleep 0.1; done
[[ -S "$work/munge/socket" ]] || skip "munged did not start: $(tail -3 "$work/log/munged.log" 2>/dev/null)"
cpus=$(nproc)
cat > "$work/slurm.conf" <<CONF
ClusterName=deltarltest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$base_port
SlurmdPort=$((base_port + 1))
SrunPortRange=$((base_port + 2))-$((base_port + 200))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/munge/socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
KillWait=60
JobRequeue=1
SchedulerParameters=nohold_on_prolog_fail
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
export SLURM_CONF="$work/slurm.conf"
slurmctld -D -i -f "$SLURM_CONF" > "$work/log/slurmctld.out" 2>&1 & pids+=($!)
slurmd -D -f "$SLURM_CONF" -N "$node" > "$work/log/slurmd.out" 2>&1 & pids+=($!)
up=0
for _ in $(seq 1 100); do
  if sinfo -h -o %T 2>/dev/null | grep -qE "^idle"; then up=1; break; fi
  sleep 0.2
done
(( up )) || skip "Slurm did not come up: $(tail -5 "$work/log/slurmctld.log" "$work/log/slurmd.log" 2>/dev/null)"
srun --mpi=list 2>&1 | grep -q pmix || skip "this Slurm has no pmix MPI plugin (srun --mpi=list)"
echo "slurm: one-node cluster $node up ($(sinfo -h -o '%c CPUs, %T'))"

# wait_for_job ID SECONDS: until the job has left the queue (bounded).
wait_for_job() {
  local id="$1" limit="$2"
  for _ in $(seq 1 $((limit * 2))); do
    squeue -h -j "$id" 2>/dev/null | grep -q . || return 0
    sleep 0.5
  done
  echo "FAIL: job $id still queued after ${limit}s"; squeue; tail -30 "$work"/*.out; return 1
}
submit() {  # submit RUN_DIR STEPS CHECKPOINT_EVERY: prints the job id
  sbatch --parsable --chdir="$repo" --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 \
    --output="$work/job-%j.out" \
    --export=ALL,CONFIG="$work/data/config.yaml",MODEL="$work/data/model",RUN_DIR="$1",DELTARL="$deltarl",DELTARL_SOURCE_DIR="$repo",WORKER_ARGS="--threads 1",TRAIN_ARGS="--set train.steps=$2 --set checkpoint.every=$3" \
    "$repo/deploy/slurm/train.sbatch"
}

# wait_for_progress JOB METRICS: until the job has logged 3 steps (bounded).
wait_for_progress() {
  for _ in $(seq 1 600); do [[ -f "$2" ]] && (( $(wc -l < "$2") >= 3 )) && return 0; sleep 0.2; done
  echo "FAIL: job $1 made no progress"; cat "$work/job-$1.out"; exit 1
}
# finish_after_requeue JOB: until its second run has started (its output says
# "restart 1") and the job has ended; a requeued job waits out a begin time,
# cut short here so the test stays short, but only once the node has finished
# cleaning up the first run and 2 s have passed: slurmd refuses a job whose
# credential dates from the second its previous run was killed in ("Job
# credential revoked", and the job is gone). (States seen in between,
# CANCELLED or FAILED with Restarts=1, belong to the first run.)
finish_after_requeue() {
  local record started=0 pending_since=-1
  for _ in $(seq 1 300); do
    record=$(scontrol show job "$1" 2>/dev/null)
    if grep -q "JobState=PENDING" <<<"$record"; then
      (( pending_since >= 0 )) || pending_since=$SECONDS
      if (( SECONDS - pending_since >= 2 )) && scontrol show node "$node" 2>/dev/null | grep -q "State=IDLE "; then
        scontrol update jobid="$1" starttime=now 2>/dev/null; scontrol release "$1" 2>/dev/null
      fi
    fi
    grep -q "(restart 1)" "$work/job-$1.out" 2>/dev/null && started=1
    if (( started )) && grep -qE "JobState=(COMPLETED|FAILED|TIMEOUT) " <<<"$record"; then return 0; fi
    sleep 1
  done
  echo "FAIL: job $1 did not run again and end within 300 s"; scontrol show job "$1"; cat "$work/job-$1.out"; exit 1
}
# steps_once METRICS N: metrics.jsonl holds steps 1..N, each once.
steps_once() {
  python3 - "$1" "$2" <<'PY'
import json, sys
steps = [json.loads(line)["step"] for line in open(sys.argv[1])]
assert steps == list(range(1, int(sys.argv[2]) + 1)), f"steps in metrics.jsonl: {steps}"
print(f"metrics: steps 1..{sys.argv[2]} once each across the stop")
PY
}

# --- 1. a tiny job to the end -------------------------------------------------
job=$(submit "$work/run1" 3 2)
wait_for_job "$job" 240
cat "$work/job-$job.out"
[[ -f "$work/run1/train/metrics.jsonl" ]] || { echo "FAIL: no metrics.jsonl"; ls -R "$work/run1"; exit 1; }
check_metrics_finite "$work/run1/train/metrics.jsonl"
test "$(wc -l < "$work/run1/train/metrics.jsonl")" -eq 3
test -d "$work/run1/train/checkpoints/step-00000003"
ls "$work/run1/logs/" | grep -q "learner-$job-rank1.log"
grep -q "preflight: ready" "$work/job-$job.out"
echo "slurm job $job: 3 steps, finite metrics, checkpoint step-3, per-rank logs, preflight ready"

# --- 2. requeue mid-run resumes from the checkpoint ---------------------------
# No periodic checkpoints: the requeued job can only resume from the one the
# learners write on SIGTERM.
job=$(submit "$work/run2" 40 0)
metrics="$work/run2/train/metrics.jsonl"
wait_for_progress "$job" "$metrics"
scontrol requeue "$job"
echo "requeued job $job after $(wc -l < "$metrics") steps"
finish_after_requeue "$job"
cat "$work/job-$job.out"
grep -q "restart 1" "$work/job-$job.out" || { echo "FAIL: the job did not run again after requeue"; exit 1; }
grep -q "deltarl train --resume $work/run2/train" "$work/job-$job.out" || { echo "FAIL: the requeued job did not resume"; exit 1; }
steps_once "$metrics" 40
test -d "$work/run2/train/checkpoints/step-00000040"
resumed=$(grep -o "resumed from .*/step-[0-9]*" "$work/run2/logs/learner-$job-rank0.log" | grep -o "[0-9]*$")
[[ -n "$resumed" ]] && (( 10#$resumed >= 3 )) || { echo "FAIL: no resume from the SIGTERM checkpoint"; exit 1; }
grep -q "stop signal received: stopped after step $((10#$resumed))" "$work/run2/logs/learner-$job-rank0.log"
echo "slurm requeue: SIGTERM checkpoint at step $((10#$resumed)), resumed from it and finished"

# --- 3. the time-limit warning (--signal=USR1@N): checkpoint, exit 3, the script requeues itself
job=$(submit "$work/run3" 40 0)
metrics="$work/run3/train/metrics.jsonl"
wait_for_progress "$job" "$metrics"
scancel --signal=USR1 "$job"   # what Slurm sends N seconds before the time limit
echo "sent USR1 to job $job after $(wc -l < "$metrics") steps"
finish_after_requeue "$job"
grep -q "learners exited with 3" "$work/job-$job.out" && grep -q "requeueing job $job" "$work/job-$job.out" ||
  { cat "$work/job-$job.out"; echo "FAIL: no clean stop and self-requeue after USR1"; exit 1; }
grep -q "deltarl train --resume $work/run3/train" "$work/job-$job.out" || { cat "$work/job-$job.out"; echo "FAIL: no resume after USR1"; exit 1; }
steps_once "$metrics" 40
echo "slurm USR1: checkpoint, exit 3, self-requeue, resumed and finished"
