#!/usr/bin/env bash
# Compiles and links the CUDA build without running anything: the CUDA
# backend, djinnd with it, and the GPU-only test binaries. For machines
# without a GPU (the CI runs it after scripts/test.sh); on a GPU host,
# tests/gpu/run.sh runs what this builds.
#
#   scripts/build-cuda-check.sh                 # -> ./build-cuda-check
#   BUILD_DIR=build-foo JOBS=1 scripts/build-cuda-check.sh
#   CUDA_ARCHS="80;90" scripts/build-cuda-check.sh
#   scripts/build-cuda-check.sh all             # ninja targets (default below)
#
# Needs a CUDA compiler: $CUDACXX, nvcc on PATH or /usr/local/cuda/bin/nvcc;
# when there is none it installs Debian 12's CUDA 11.8 toolkit
# (scripts/install-deps.sh --cuda). That 11.8 is the oldest toolkit we build
# with: code that needs a newer one (CUDA 12/13-only APIs, -std=c++20 for nvcc,
# sm_90a) fails here, on purpose. The reverse (an API CUDA 13 changed, used in
# its 11.x form) only a newer toolkit catches: docs/ci.md lists both kinds.
#
# Default targets: the directory targets daemon/all (engine, server, djinnd,
# backend/cuda) and tests/gpu/all (every GPU test binary), plus bench/all when
# the tree has it. Errors are collected from every file (ninja -k 0) and
# summarised at the end; the full log is $BUILD_DIR/build-cuda-check.log.
# This build directory is independent of ./build: the CPU tests never use it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD_DIR=${BUILD_DIR:-build-cuda-check}
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
JOBS=${JOBS:-$(nproc)}
CUDA_ARCHS=${CUDA_ARCHS:-90}

"$ROOT/scripts/install-deps.sh" --cuda

if [ -z "${CUDACXX:-}" ]; then
  if command -v nvcc > /dev/null; then
    CUDACXX=$(command -v nvcc)
  elif [ -x /usr/local/cuda/bin/nvcc ]; then
    CUDACXX=/usr/local/cuda/bin/nvcc
  else
    echo "build-cuda-check: no nvcc after scripts/install-deps.sh --cuda" >&2
    exit 1
  fi
fi
export CUDACXX
host_gcc=$(echo | "$CUDACXX" -E -x cu -Xcompiler -dM - 2> /dev/null | sed -n 's/^#define __VERSION__ "\(.*\)"$/\1/p' || true)
echo "build-cuda-check: $CUDACXX: $("$CUDACXX" --version | grep release || true); host compiler ${host_gcc:-?}" >&2

if [ -f "$BUILD_DIR/CMakeCache.txt" ] && ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$BUILD_DIR/CMakeCache.txt"; then
  echo "build-cuda-check: $BUILD_DIR was configured with another generator; remove it or set BUILD_DIR" >&2
  exit 1
fi
# Configure every time (cheap): the options must be these whatever the cache says.
mkdir -p "$BUILD_DIR"
configure_log=$BUILD_DIR/build-cuda-check.configure.log
if ! cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DDJINN_CUDA=ON \
     -DCMAKE_CUDA_COMPILER="$CUDACXX" -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCHS" > "$configure_log" 2>&1; then
  cat "$configure_log" >&2
  echo "build-cuda-check: CMake configure with -DDJINN_CUDA=ON failed (above)" >&2
  exit 1
fi
grep -E '^-- (djinn:|The CUDA compiler|Found CUDAToolkit)' "$configure_log" >&2 || true

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for t in daemon/all tests/gpu/all bench/all; do
    if ninja -C "$BUILD_DIR" -t query "$t" > /dev/null 2>&1; then targets+=("$t"); fi
  done
  if ! ninja -C "$BUILD_DIR" -t query daemon/backend/cuda/all > /dev/null 2>&1; then
    echo "build-cuda-check: $BUILD_DIR has no daemon/backend/cuda: the CUDA backend was not configured" >&2
    exit 1
  fi
fi

log=$BUILD_DIR/build-cuda-check.log
echo "build-cuda-check: ninja -C $BUILD_DIR -j $JOBS -k 0 ${targets[*]}" >&2
start=$SECONDS
set +e
ninja -C "$BUILD_DIR" -j "$JOBS" -k 0 "${targets[@]}" > "$log" 2>&1
status=$?
set -e
if [ "$status" -ne 0 ]; then
  # The log without ninja's progress lines: each failed step, its command and
  # the compiler's messages.
  echo "build-cuda-check: FAILED after $((SECONDS - start)) s:" >&2
  grep -vE '^\[[0-9]+/[0-9]+\] ' "$log" | head -n 400 >&2
  echo "build-cuda-check: full log: $log" >&2
  exit 1
fi
grep -iE 'warning' "$log" | sort -u | head -n 50 >&2 || true

# The CUDA backend really is in djinnd (not a CPU-only build by accident).
if [ -x "$BUILD_DIR/daemon/djinnd" ] && ! grep -q 'libcudart\.so' <<< "$(ldd "$BUILD_DIR/daemon/djinnd" || true)"; then
  echo "build-cuda-check: $BUILD_DIR/daemon/djinnd does not link libcudart" >&2
  exit 1
fi
built=$(cd "$BUILD_DIR" && find daemon/djinnd daemon/backend/cuda tests/gpu bench -maxdepth 1 -type f \
           \( -name '*.a' -o -perm -u+x \) 2> /dev/null | sort | tr '\n' ' ' || true)
echo "build-cuda-check: ok in $((SECONDS - start)) s; built: $built" >&2
