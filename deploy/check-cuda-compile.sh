#!/usr/bin/env bash
# Compile-only check of the code a CPU build never compiles: every translation
# unit holding `#ifdef DELTARL_TORCH_HAS_CUDA`, `#if TORCH_VERSION_MAJOR ...` or
# CUDA-only LibTorch APIs is compiled (nothing linked or run) against the torch
# wheel's LibTorch 2.x with CUDA and the CUDA toolkit of this machine. Fetches
# the wheel from PyPI once into a cache, configures deltarl against it in a
# build folder of its own, then compiles the units that build's
# compile_commands.json holds for them (deploy/tools/compile_guarded_units.py).
#
#   deploy/check-cuda-compile.sh [BUILD_DIR]     (default ${DELTARL_BUILD_DIR:-build}/cuda-compile)
#
# Exit 0: all compiled. 1: a unit does not compile (named), or deltarl no longer
# configures against a CUDA LibTorch. 77: skipped, with the reason (no CUDA
# toolkit or NCCL, no pip, the wheel could not be fetched): ctest's SKIP_RETURN_CODE.
# Run by the suite as the ctest test `cuda_compile` (label cuda-compile).
# CUDA_HOME picks the toolkit (default /usr/local/cuda); DELTARL_CACHE_DIR the cache.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-${DELTARL_BUILD_DIR:-$root/build}/cuda-compile}"

# The pinned pair. torch 2.11.0 on PyPI is built with CUDA 13.0 (its
# torch/version.py: cuda = '13.0'; it requires cuda-toolkit 13.0.2, cuDNN
# 9.19.0.56 and NCCL 2.28.9 from PyPI, the versions of the toolkit installed
# here, nvcc 13.0.88), and is the LibTorch the H100 run of docs/benchmarks.md
# used. 2.12 to 2.14.1 are CUDA 13.0 too; 2.15 moved to CUDA 13.2; 2.10 and
# older are CUDA 12. Moving the pin: docs/testing.md.
readonly torch_version=2.11.0
readonly torch_cuda=13.0

say() { echo "cuda-compile: $*"; }
skip() { echo "cuda-compile: SKIPPED: $*" >&2; exit 77; }
fail() { echo "cuda-compile: FAILED: $*" >&2; exit 1; }

cuda="${CUDA_HOME:-/usr/local/cuda}"
[[ -x "$cuda/bin/nvcc" ]] || skip "no CUDA toolkit at $cuda (set CUDA_HOME); this check needs nvcc ${torch_cuda%%.*}.x"
nvcc_version=$("$cuda/bin/nvcc" --version | sed -n 's/.*release [0-9.]*, V\([0-9.]*\).*/\1/p')
[[ "${nvcc_version%%.*}" == "${torch_cuda%%.*}" ]] ||
  skip "nvcc $nvcc_version at $cuda, but the pinned torch $torch_version is built with CUDA $torch_cuda; move the pin in $0"
[[ -f "$cuda/include/nccl.h" || -f "${NCCL_HOME:-/nonexistent}/include/nccl.h" ]] ||
  skip "no nccl.h in $cuda/include or \$NCCL_HOME/include: the NCCL communicator cannot be compiled"
if ! command -v python3 >/dev/null || ! python3 -m pip --version >/dev/null 2>&1; then
  skip "no python3 with pip to fetch the torch wheel (Debian: apt-get install python3-pip)"
fi

# The cache sits beside ccache's (~/.cache/ccache by default), outside the
# checkout: CI's clean clone starts with an empty build/, but this folder and
# ccache's survive between runs, so a later run neither downloads nor compiles.
cache="${DELTARL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/deltarl}/libtorch"
libtorch="$cache/torch-$torch_version-cu${torch_cuda//./}-headers/torch"
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9  # one fetch at a time when two checkouts run the suite at once
if [[ ! -f "$libtorch/share/cmake/Torch/TorchConfig.cmake" ]]; then
  work=$(mktemp -d "$cache/.fetch.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  say "fetching torch==$torch_version from PyPI into $cache (once; about 530 MB to download)"
  # The wheel of this machine's architecture for CPython 3.11, whatever python3
  # is here: the headers are the same in every Python build of one release.
  # --timeout bounds each socket wait, `timeout` the whole download.
  if ! timeout 900 python3 -m pip download --no-deps --only-binary=:all: \
      --platform "manylinux_2_28_$(uname -m)" --python-version 3.11 --implementation cp --abi cp311 \
      --timeout 30 --retries 2 --disable-pip-version-check --no-input --progress-bar off \
      --dest "$work/wheel" "torch==$torch_version" >"$work/pip.log" 2>&1; then
    tail -n 5 "$work/pip.log" >&2
    skip "could not fetch torch==$torch_version from PyPI (offline, or PyPI unreachable?); pip's last lines above"
  fi
  # Only what compiling needs: headers, CMake files, version.py. The 1 GB of
  # libraries become empty placeholders, since Torch's CMake config checks that
  # the files it names exist; nothing here can be linked, and nothing is.
  python3 - "$work"/wheel/torch-*.whl "$work/extracted" "$torch_cuda" <<'PY'
import os, re, sys, zipfile
wheel, out, cuda = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    names = z.namelist()
    for name in names:
        if name.startswith(("torch/include/", "torch/share/")) or name == "torch/version.py":
            z.extract(name, out)
        elif re.fullmatch(r"torch/lib/[^/]+\.so[.0-9]*", name):
            os.makedirs(os.path.join(out, "torch/lib"), exist_ok=True)
            open(os.path.join(out, name), "w").close()
version = open(os.path.join(out, "torch/version.py")).read()
if f"cuda: Optional[str] = '{cuda}'" not in version and f"cuda = '{cuda}'" not in version:
    sys.exit(f"cuda-compile: FAILED: {os.path.basename(wheel)} is not built with CUDA {cuda}:\n{version}")
with open(os.path.join(out, "torch/HEADERS_ONLY.txt"), "w") as f:
    f.write(f"Headers and CMake files of {os.path.basename(wheel)}, for deltarl's compile-only check\n"
            "(deploy/check-cuda-compile.sh). The libraries in lib/ are empty placeholders: do not link.\n")
PY
  rm -rf "$(dirname "$libtorch")"                 # what an interrupted run left
  mv "$work/extracted" "$(dirname "$libtorch")"  # whole or not at all
  rm -rf "$work"
  trap - EXIT
  say "fetched and unpacked in ${SECONDS} s"
fi
flock -u 9

# Paths under the checkout hashed relative to it, as deploy/build.sh does: a
# fresh clone in another folder reuses what an earlier run compiled.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$root}"
# A folder configured against another LibTorch (the pin moved, another cache)
# keeps that one's Torch_DIR in its cache: start it over.
if [[ -f "$build/CMakeCache.txt" ]] &&
   ! grep -qxF "Torch_DIR:PATH=$libtorch/share/cmake/Torch" "$build/CMakeCache.txt"; then
  rm -rf "$build/CMakeCache.txt" "$build/CMakeFiles"
fi
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)  # lets the tool generate protobuf headers alone
[[ -f "$build/CMakeCache.txt" ]] && generator=()      # keep the folder's generator
mkdir -p "$build"
cmake_args=(
  -DCMAKE_BUILD_TYPE=Release  # the flags (and NDEBUG) of deploy/build.sh's build
  -DCMAKE_PREFIX_PATH="$libtorch/share/cmake"
  -DDELTARL_WITH_NCCL=ON      # a missing NCCL stops here instead of leaving nccl_communicator.cpp out
  # Torch's Caffe2/public/cuda.cmake finds CUDA three ways: FindCUDA
  # (CUDA_TOOLKIT_ROOT_DIR), enable_language(CUDA) (CMAKE_CUDA_COMPILER) and
  # FindCUDAToolkit (CUDAToolkit_ROOT). Unset, each searches on its own
  # (CUDACXX, CUDA_PATH, PATH), which fails when the toolkit's bin/ is not on
  # PATH and ends in "Found two conflicting CUDA versions" when two are found.
  -DCUDA_TOOLKIT_ROOT_DIR="$cuda" -DCMAKE_CUDA_COMPILER="$cuda/bin/nvcc" -DCUDAToolkit_ROOT="$cuda"
  # Without a GPU to detect, Torch's config picks "common" architectures that
  # include sm_50, which CUDA 13 no longer compiles (it would matter to .cu
  # files): name one, Hopper. cuDNN stays off (CAFFE2_USE_CUDNN unset), since
  # no deltarl file includes a cuDNN header.
  -DTORCH_CUDA_ARCH_LIST=9.0
)
started_at=$SECONDS
if ! timeout 600 cmake -S "$root" -B "$build" "${generator[@]}" "${cmake_args[@]}" >"$build/configure.log" 2>&1; then
  cat "$build/configure.log" >&2
  fail "deltarl does not configure against LibTorch $torch_version with CUDA $torch_cuda (log above: $build/configure.log)"
fi
configured_at=$SECONDS
grep -q "deltarl: LibTorch $torch_version, .* NCCL communicator: ON" "$build/configure.log" ||
  fail "the configure of $build did not pick LibTorch $torch_version with the NCCL communicator (see $build/configure.log)"
say "configured $build in $((configured_at - started_at)) s"

python3 "$root/deploy/tools/compile_guarded_units.py" --source-dir "$root" --build-dir "$build" \
  --libtorch "$libtorch" --label "LibTorch $torch_version with CUDA $torch_cuda (nvcc $nvcc_version)"
