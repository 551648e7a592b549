#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (unit,
# integration, package check). Exits non-zero if anything fails.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh -L unit         # extra arguments go to ctest
#   BUILD_DIR=build-foo JOBS=1 scripts/test.sh
#
# Works as root on a fresh Debian 12 machine (the CI) and as a user with sudo.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD_DIR=${BUILD_DIR:-build}
export BUILD_DIR

"$ROOT/scripts/build.sh"
ctest --test-dir "$BUILD_DIR" --output-on-failure --no-tests=error -j"$(nproc)" "$@"
