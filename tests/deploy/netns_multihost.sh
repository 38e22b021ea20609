#!/usr/bin/env bash
# A multi-host run without Slurm, on hosts made of network namespaces: four
# namespaces joined by a bridge (in a fifth, the "switch"), each with its own
# address and host name. deploy/mpirun/train.sh runs in host-a and places
#   learners: 1 rank on host-a, 1 rank on host-b (MPI over TCP between them),
#   workers:  2 on host-c (gRPC over the bridge, token required),
# mpirun reaching the other hosts through tests/deploy/netns_rsh.sh instead of
# ssh. The trained weights must equal a single-host run's (2 ranks, 2 spawned
# workers on 127.0.0.1) exactly. Skips (77) where namespaces cannot be made.
deltarl="$1" mpirun="$2"
source "$(dirname "$0")/../trainer/training/common.sh"
here="$(cd "$(dirname "$0")" && pwd)"; repo="$(cd "$here/../.." && pwd)"
skip() { echo "SKIP: $*"; exit 77; }
[[ $(id -u) -eq 0 ]] || skip "needs root for ip netns"
command -v ip >/dev/null && command -v unshare >/dev/null || skip "iproute2/unshare not installed"
tag="dl$$"; subnet="10.$(( 100 + $$ % 100 )).$(( $$ % 250 ))"
work="$(mktemp -d /tmp/deltarl-netns.XXXXXX)"; chmod 755 "$work"
cleanup() {
  set +e
  for host in a b c; do ip netns pids "$tag-$host" 2>/dev/null | xargs -r kill -9; done
  for ns in a b c switch; do ip netns del "$tag-$ns" 2>/dev/null; done
  [[ -n "${DELTARL_KEEP_TEST_FILES:-}" ]] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$tag-switch" 2>/dev/null || skip "ip netns add failed (no CAP_SYS_ADMIN here?)"
ip -n "$tag-switch" link add br0 type bridge && ip -n "$tag-switch" link set br0 up
hosts=""; number=1
for host in a b c; do
  ip netns add "$tag-$host"
  ip link add "$tag$host" type veth peer name "$tag${host}p"
  ip link set "$tag$host" netns "$tag-$host"; ip link set "$tag${host}p" netns "$tag-switch"
  ip -n "$tag-$host" link set "$tag$host" name eth0
  ip -n "$tag-$host" addr add "$subnet.$number/24" dev eth0
  ip -n "$tag-$host" link set eth0 up; ip -n "$tag-$host" link set lo up
  ip -n "$tag-switch" link set "$tag${host}p" master br0; ip -n "$tag-switch" link set "$tag${host}p" up
  hosts+="$subnet.$number=$tag-$host=host-$host "
  number=$((number + 1))
done
export DELTARL_NETNS_HOSTS="$hosts"
echo "hosts: $hosts"

make_fixture "$work/data"
steps=3
# The reference: one host, 2 ranks, 2 workers spawned on 127.0.0.1.
"$mpirun" -np 2 --bind-to none "$deltarl" train --config "$work/data/config.yaml" --quiet \
  --set output.dir="$work/single" --set train.steps=$steps >"$work/single.log" 2>&1 ||
  { cat "$work/single.log"; echo "FAIL: single-host run"; exit 1; }

printf "$subnet.1 slots=1\n$subnet.2 slots=1\n" > "$work/hosts.txt"
mpi_over_bridge="--mca plm_rsh_agent $here/netns_rsh.sh --mca oob_tcp_if_include $subnet.0/24 \
--mca btl_tcp_if_include $subnet.0/24 --mca btl self,tcp -x DELTARL_NETNS_HOSTS"
set +e
ip netns exec "$tag-a" unshare --uts /bin/sh -c "hostname host-a; exec env \
  HOSTFILE=$work/hosts.txt WORKER_HOSTS=$subnet.3 WORKERS_PER_HOST=2 WORKER_ADDRESS=ip \
  CONFIG=$work/data/config.yaml MODEL=$work/data/model RUN_DIR=$work/multi DELTARL=$deltarl MPIRUN=$mpirun \
  WORKER_ARGS='--threads 1' WORKER_START_TIMEOUT=120 TRAIN_ARGS='--set train.steps=$steps' \
  MPIRUN_ARGS='$mpi_over_bridge' timeout 600 bash $repo/deploy/mpirun/train.sh" > "$work/multi.log" 2>&1
code=$?
set -e
cat "$work/multi.log"
(( code == 0 )) || { echo "FAIL: multi-host launcher exited with $code"; exit 1; }
grep -q "deltarl preflight: 2 learner rank(s) on 2 host(s)" "$work/multi.log"
grep -q "host-a: ranks 0" "$work/multi.log" && grep -q "host-b: ranks 1" "$work/multi.log"
grep -q "workers: \[$subnet.3:[0-9]*,$subnet.3:[0-9]*\]" "$work/multi.log"
echo "placement: learner rank 0 on host-a, rank 1 on host-b, 2 workers on host-c ($subnet.3)"
check_metrics_finite "$work/multi/train/metrics.jsonl"
"$deltarl" compare-checkpoints "$work/multi/train/checkpoints/step-0000000$steps" \
  "$work/single/checkpoints/step-0000000$steps" --tolerance 0
echo "multi-host weights == single-host weights"
