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
if [ ! -f "$BUILD_DIR/build.ninja" ] || [ "$cached_type" != "$BUILD_TYPE" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE"
fi

ninja -C "$BUILD_DIR" -j "$JOBS" "$@"
