#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs dependencies, builds, runs
# every test (unit, MPI under mpirun, CLI). GPU tests skip without a GPU.
# Pass ctest arguments to narrow it, e.g. `-L unit` or `-R invariance`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/deploy/install-deps.sh" --for-tests
"$root/deploy/build.sh"
# OpenMPI refuses to run as root (containers, CI) unless told.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
build="${DELTARL_BUILD_DIR:-$root/build}"
# Python for the reference checks (tests only, never at run time): the system's,
# plus the `tensorboard` package in a venv when it is missing and can be fetched.
# Without it, the check that needs it skips.
if [[ -z "${DELTARL_TEST_PYTHON:-}" ]] && command -v python3 >/dev/null; then
  if python3 -c "import tensorboard" 2>/dev/null; then
    export DELTARL_TEST_PYTHON=python3
  else
    venv="$build/test-python"
    if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import tensorboard" 2>/dev/null; then
      (python3 -m venv --system-site-packages "$venv" && \
       timeout 300 "$venv/bin/python" -m pip install --quiet --disable-pip-version-check tensorboard) \
        >"$build/test-python.log" 2>&1 || echo "deltarl: no tensorboard for the tests (see $build/test-python.log)" >&2
    fi
    "$venv/bin/python" -c "import tensorboard" 2>/dev/null && export DELTARL_TEST_PYTHON="$venv/bin/python"
  fi
fi
cd "$build"
ctest --output-on-failure --parallel "${DELTARL_TEST_JOBS:-2}" --timeout 900 "$@"
