#!/usr/bin/env bash
# Configures and builds Djinn with CMake + Ninja. Safe to run again and again:
# it installs missing Debian packages (scripts/install-deps.sh), configures
# only when needed, and lets Ninja rebuild only what changed.
#
#   scripts/build.sh                    # -> ./build, RelWithDebInfo
#   BUILD_TYPE=Release scripts/build.sh
#   JOBS=1 scripts/build.sh             # parallel compile jobs (default: nproc)
#   BUILD_DIR=build-foo scripts/build.sh
#
# Extra arguments are passed to Ninja (targets, -v, ...).
#
# The CUDA backend is built when this machine has an NVIDIA GPU (nvidia-smi
# lists one) and a CUDA compiler; DJINN_CUDA=ON|OFF|AUTO overrides that.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
JOBS=${JOBS:-$(nproc)}

"$ROOT/scripts/install-deps.sh"

# Configure when there is no Ninja build yet, or when the requested build type
# differs from the cached one. Otherwise Ninja re-runs CMake by itself when a
# CMakeLists.txt changes.
cached_type=""
if [ -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cached_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt")
  if ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$BUILD_DIR/CMakeCache.txt"; then
    echo "build.sh: $BUILD_DIR was configured with another generator; remove it or set BUILD_DIR" >&2
    exit 1
  fi
fi
if [ -z "${DJINN_CUDA:-}" ]; then
  DJINN_CUDA=OFF
  if nvidia-smi -L 2> /dev/null | grep -q '^GPU'; then DJINN_CUDA=AUTO; fi
fi
if [ "$DJINN_CUDA" != OFF ] && ! command -v nvcc > /dev/null && [ -z "${CUDACXX:-}" ] && [ -x /usr/local/cuda/bin/nvcc ]; then
  export CUDACXX=/usr/local/cuda/bin/nvcc  # the toolkit's default place, often not on PATH
fi
cached_cuda=""
[ -f "$BUILD_DIR/CMakeCache.txt" ] && cached_cuda=$(sed -n 's/^DJINN_CUDA:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt")
if [ ! -f "$BUILD_DIR/build.ninja" ] || [ "$cached_type" != "$BUILD_TYPE" ] || [ "$cached_cuda" != "$DJINN_CUDA" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DDJINN_CUDA="$DJINN_CUDA"
fi

ninja -C "$BUILD_DIR" -j "$JOBS" "$@"
