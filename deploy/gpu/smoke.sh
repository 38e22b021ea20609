#!/usr/bin/env bash
# The GPU smoke kit: everything deltarl does on a GPU, in one short run on a
# lent device machine (one GPU, its image's Python torch with CUDA, no network).
#
#   here, once per checkout (a Debian machine with apt-get, this repository):
#     bash deploy/gpu/smoke.sh --prepare
#   then with the device tool (the working tree travels; .device/ is ignored by git):
#     run(command="bash deploy/gpu/smoke.sh", carry=[".device"], timeout_s=480)
#
# --prepare downloads Debian's packages of the dependencies the device image
# lacks (Open MPI, gRPC and protobuf, spdlog, yaml-cpp, CLI11, PCRE2, utf8proc,
# GoogleTest, Google Benchmark, with their libraries: about 40 MB) into
# .device/debs, which must fit the device tool's 64 MiB working tree with the
# checkout. On the device the script unpacks them into a prefix (never /),
# then, each phase timed and logged, going on after a failure:
#   1. builds deltarl (Release, Ninja) against the image's torch (its CUDA
#      LibTorch), the CUDA toolkit and the wheel's NCCL;
#   2. ctest -L gpu: NCCL collectives, the model's CUDA parity with
#      transformers, the device sampler, pinned uploads, the engine on CUDA
#      with and without CUDA graphs;
#   3. the engine's throughput on the GPU (qwen2.5-0.5b shapes, bf16) at batch
#      1, 8, 64 and 8 prompts x 8 samples of 200 tokens, plain and with
#      --cuda-graphs (worker_generation_bench against a `deltarl rollout`);
#   4. a short training run on the GPU with a spawned worker on the same GPU;
#   5. the GPU's peak memory over the run (nvidia-smi, sampled every 200 ms).
# Everything printed also goes to $OUT/smoke.log (or .device/out/ here).
# Exit status: the number of phases that failed.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
debs="$root/.device/debs"
packages=(
  openmpi-bin openmpi-common libopenmpi3 libopenmpi-dev libpmix2 libpmix-dev libhwloc15 libhwloc-dev
  libhwloc-plugins libevent-2.1-7 libevent-core-2.1-7 libevent-pthreads-2.1-7 libevent-extra-2.1-7
  libevent-openssl-2.1-7 libevent-dev libfabric1 libucx0 libibverbs1 libibverbs-dev ibverbs-providers librdmacm1
  libpsm2-2 libpsm-infinipath1 libnl-3-200 libnl-route-3-200 libnl-3-dev libnl-route-3-dev libnuma1 libnuma-dev
  libmunge2 libpciaccess0 libxnvctrl0 ocl-icd-libopencl1 libltdl7
  libgrpc++-dev libgrpc-dev libgrpc++1.51 libgrpc29 libabsl-dev libabsl20220623 libc-ares-dev libc-ares2
  libre2-dev libre2-9 libssl-dev libssl3 zlib1g-dev libprotobuf-dev libprotobuf32 libprotobuf-lite32 libprotoc32
  protobuf-compiler protobuf-compiler-grpc
  libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 nlohmann-json3-dev libcli11-dev libyaml-cpp-dev libyaml-cpp0.7
  libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3 libutf8proc-dev libutf8proc2
  libgtest-dev libgmock-dev googletest libbenchmark-dev libbenchmark1debian pkgconf pkgconf-bin libpkgconf3
)

if [[ "${1:-}" == "--prepare" ]]; then
  mkdir -p "$debs"
  grep -qx '/.device/' "$root/.gitignore" || { echo "smoke: .device/ must be in .gitignore" >&2; exit 1; }
  (cd "$debs" && apt-get download "${packages[@]}") || { echo "smoke: apt-get download failed" >&2; exit 1; }
  size=$(du -sm "$debs" | cut -f1)
  tree=$(git -C "$root" ls-files -z | xargs -0 du -cm 2>/dev/null | tail -1 | cut -f1)
  echo "smoke: $(ls "$debs" | wc -l) packages, $size MiB in .device/debs; the checkout's tracked files $tree MiB (the device tool carries 64 MiB at most)"
  (( size + tree < 60 )) || { echo "smoke: too large to carry" >&2; exit 1; }
  exit 0
fi

out="${OUT:-$root/.device/out}"
mkdir -p "$out"
exec > >(tee -a "$out/smoke.log") 2>&1
failed=0
t0=$(date +%s)
phase() { echo; echo "=== smoke: $* (at $(( $(date +%s) - t0 )) s)"; }
fail() { echo "=== smoke: FAILED: $*"; failed=$((failed + 1)); }

phase "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || fail "nvidia-smi"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))' ||
  fail "the image's python torch"
nvcc --version | tail -1; g++ --version | head -1; cmake --version | head -1; nproc
nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 >"$out/gpu_memory_mib.txt" 2>/dev/null &
sampler_pid=$!

phase "unpacking $(ls "$debs"/*.deb 2>/dev/null | wc -l) carried packages"
deps=/tmp/deltarl-deps
mkdir -p "$deps"
for deb in "$debs"/*.deb; do dpkg -x "$deb" "$deps" || fail "unpacking $deb"; done
arch_lib="$deps/usr/lib/x86_64-linux-gnu"
export PATH="$deps/usr/bin:$PATH"
export LD_LIBRARY_PATH="$arch_lib:$arch_lib/openmpi/lib:${LD_LIBRARY_PATH:-}"
export PKG_CONFIG_PATH="$arch_lib/pkgconfig:$deps/usr/share/pkgconfig"
export OPAL_PREFIX="$deps/usr" PMIX_INSTALL_PREFIX="$deps/usr"  # Open MPI and PMIx relocated from /usr
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

phase "build"
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
nccl_home=$(python3 -c 'import nvidia.nccl, os; print(os.path.dirname(nvidia.nccl.__file__))' 2>/dev/null ||
  python3 -c 'import nvidia.nccl; print(list(nvidia.nccl.__path__)[0])' 2>/dev/null || echo /usr)
build=/tmp/deltarl-build
NCCL_HOME="$nccl_home" cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDELTARL_WITH_NCCL=ON \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$deps/usr" -DTORCH_CUDA_ARCH_LIST=9.0 \
  -DMPI_C_COMPILER="$deps/usr/bin/mpicc" -DProtobuf_PROTOC_EXECUTABLE="$deps/usr/bin/protoc" \
  >"$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; fail "configure"; }
targets=(deltarl worker_generation_bench model_parity_test sampler_test weight_upload_test generation_engine_paging_test
         paged_kv_cache_test static_decode_step_test nccl_communicator_mpi_test)
cmake --build "$build" --parallel "$(nproc)" $(printf -- '--target %s ' "${targets[@]}") >"$out/build.log" 2>&1 ||
  { grep -m 20 -B 2 -A 8 "error" "$out/build.log"; fail "build"; }
grep -c "warning:" "$out/build.log" | sed 's/^/build warnings: /'
deltarl="$build/cli/deltarl"

phase "ctest -L gpu"
(cd "$build" && ctest -L gpu --output-on-failure --timeout 300) || fail "ctest -L gpu"

phase "engine throughput on the GPU, plain and with CUDA graphs"
work=$(mktemp -d)
"$deltarl" init-model --preset qwen2.5-0.5b --dtype bfloat16 --tokenizer "$root/tests/fixtures/qwen3-tokenizer/tokenizer.json" \
  --out "$work/model" --seed 1 >/dev/null || fail "init-model"
python3 - "$work/model/config.json" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config.pop("eos_token_id", None)  # every sequence runs its full length
json.dump(config, open(sys.argv[1], "w"), indent=2)
PY
for graphs in "" "--cuda-graphs"; do
  rm -f "$work/port"
  "$deltarl" rollout --model "$work/model" --device cuda --port 0 --port-file "$work/port" --max-batch 64 \
    --kv-cache-memory 20GiB $graphs >"$out/worker${graphs:+-graphs}.log" 2>&1 &
  worker=$!
  for _ in $(seq 300); do [[ -s "$work/port" ]] && break; kill -0 $worker 2>/dev/null || break; sleep 0.2; done
  if [[ -s "$work/port" ]]; then
    address="127.0.0.1:$(cat "$work/port")"
    label="cuda${graphs:+-graphs}"
    for batch in 1 8 64; do
      "$build/bench/worker_generation_bench" --worker "$address" --label "$label" --prompts $batch --prompt-tokens 32 \
        --new-tokens 128 --repeats 2 || fail "bench $label batch $batch"
    done
    "$build/bench/worker_generation_bench" --worker "$address" --label "$label" --prompts 8 --samples 8 \
      --prompt-tokens 200 --new-tokens 128 --repeats 2 || fail "bench $label G=8"
  else
    tail -20 "$out/worker${graphs:+-graphs}.log"; fail "worker $graphs did not start"
  fi
  kill $worker 2>/dev/null; wait $worker 2>/dev/null
done

phase "a short training on the GPU with a spawned worker on the same GPU"
"$deltarl" init-model --preset tiny --out "$work/tiny" --seed 1 >/dev/null &&
"$deltarl" data countdown --count 256 --numbers 3..3 --max-number 15 --seed 2 --out "$work/train.jsonl" >/dev/null &&
cat >"$work/run.yaml" <<YAML
model: {path: $work/tiny}
data: {train: $work/train.jsonl, task: countdown, prompt_template: countdown-compact}
rollout: {spawn_local: 1, worker_device: cuda, samples_per_prompt: 8, max_new_tokens: 64, temperature: 1.0}
algorithm: {loss_agg_mode: delta-l, alpha: 1.0, advantage: grpo}
train: {steps: 4, prompts_per_step: 16, micro_batch_size: 16, device: cuda}
optim: {lr: 5.0e-4}
output: {dir: $work/run}
YAML
mpirun -np 1 "$deltarl" train --config "$work/run.yaml" || fail "training"
tail -2 "$work/run/metrics.jsonl" 2>/dev/null

phase "peak GPU memory"
kill $sampler_pid 2>/dev/null
sort -n "$out/gpu_memory_mib.txt" | tail -1 | sed 's/^/peak GPU memory used (MiB, nvidia-smi, whole run): /'
phase "done: $failed phase(s) failed"
rm -rf "$work"
exit $failed
