#!/usr/bin/env bash
# The ctest test package.relocatable: packages a build tree into a temporary
# directory with scripts/package.sh, then runs scripts/check-package.sh on the
# package directory and on the unpacked tarball.
#   scripts/check-package-from-build.sh BUILD_DIR
set -euo pipefail

BUILD_DIR=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VERSION=$(sed -n 's/^CMAKE_PROJECT_VERSION:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt")
VERSION=${VERSION:-0.0.0}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

"$HERE/package.sh" "$BUILD_DIR" "$WORK/dist" "$VERSION"
NAME=djinn-$VERSION-linux-x86_64
"$HERE/check-package.sh" "$WORK/dist/$NAME"

mkdir "$WORK/unpacked"
tar -C "$WORK/unpacked" -xzf "$WORK/dist/$NAME.tar.gz"
"$HERE/check-package.sh" "$WORK/unpacked/$NAME"
