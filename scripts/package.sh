#!/usr/bin/env bash
# Builds the relocatable release package:
#
#   scripts/package.sh BUILD_DIR DIST_DIR VERSION
#
# writes DIST_DIR/djinn-VERSION-linux-x86_64/ and DIST_DIR/djinn-VERSION-linux-x86_64.tar.gz:
#
#   bin/djinnd, bin/djinnctl   DT_RPATH=$ORIGIN/../lib, debug info stripped (symbols kept)
#   lib/                       every shared library they load, except the system core below
#   MANIFEST.txt               version, commit, requirements on the host, where each library came from
#
# The binaries are installed with `cmake --install`, which rewrites the build
# tree's RPATH to the install RPATH ($ORIGIN/../lib, set in the top-level
# CMakeLists.txt); no patchelf needed. It is DT_RPATH, not DT_RUNPATH, and the
# shipped libraries carry neither, so the loader searches $ORIGIN/../lib for
# the whole dependency chain (libgrpc++ -> libgrpc -> libabsl_* -> ...), not
# just for the executable's direct needs. scripts/check-package.sh verifies it.
#
# Which libraries are NOT shipped (the rule, and why):
#   - glibc: libc, libm, libmvec, libpthread, libdl, librt, libresolv, libutil,
#     libanl, libnsl, libnss_*, ld-linux, linux-vdso. Never copied: glibc's
#     parts must all come from the one glibc the host's loader belongs to.
#   - libstdc++ and libgcc_s: the host's copies are used. They are backward
#     compatible, so a host copy at least as new as ours serves our binaries,
#     and the GPU host (Ubuntu) has a newer one. Shipping ours would not widen
#     the set of hosts: Debian 12's libstdc++ itself needs GLIBC_2.36 (more
#     than our binaries' 2.34), so any host that could load it already has a
#     libstdc++ as new as it. Shipping it could only hurt: through DT_RPATH
#     our older copy would win over the host's newer one, and a host library
#     built with a newer GCC (CUDA, later) would then fail to load. (Checked:
#     the package runs on a bare Ubuntu 22.04, glibc 2.35; with Debian's
#     libstdc++ added to lib/ it fails there: GLIBC_2.36 not found.)
#   - The NVIDIA driver (libcuda, libnvidia-*): it must match the host's
#     kernel module. (CUDA toolkit libraries, once linked, are shipped like
#     any other library.)
# Everything else (gRPC, protobuf, Abseil, OpenSSL, c-ares, re2, zlib, ...) is
# copied. The minimum glibc and libstdc++ symbol versions the package needs
# are computed and written to MANIFEST.txt.
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 BUILD_DIR DIST_DIR VERSION" >&2
  exit 2
fi
BUILD_DIR=$(cd "$1" && pwd)
mkdir -p "$2"
DIST_DIR=$(cd "$2" && pwd)
VERSION=$3
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NAME=djinn-$VERSION-linux-x86_64
PKG=$DIST_DIR/$NAME

# Which libraries the host provides: one rule, shared with the other script.
. "$(dirname "${BASH_SOURCE[0]}")/host-libraries.sh"

for binary in daemon/djinnd client/cpp/djinnctl; do
  if [ ! -x "$BUILD_DIR/$binary" ]; then
    echo "package.sh: $BUILD_DIR/$binary is missing; build first (scripts/build.sh)" >&2
    exit 1
  fi
done

rm -rf "$PKG" "$PKG.tar.gz"
mkdir -p "$PKG/lib"

# 1. Binaries, with their install RPATH.
cmake --install "$BUILD_DIR" --prefix "$PKG" > /dev/null
for binary in "$PKG"/bin/*; do
  # DWARF goes (it is most of the size); the symbol table stays, so stack
  # traces keep function names. DJINN_PACKAGE_STRIP=0 keeps everything.
  if [ "${DJINN_PACKAGE_STRIP:-1}" != 0 ]; then strip --strip-debug "$binary"; fi
  rpath=$(readelf -d "$binary" | sed -n 's/.*(RPATH).*\[\(.*\)\]/\1/p')
  if [ "$rpath" != '$ORIGIN/../lib' ]; then
    echo "package.sh: $binary has RPATH '$rpath', expected \$ORIGIN/../lib" >&2
    exit 1
  fi
done

# 2. Libraries. ldd prints the loader's whole (recursive) closure of the
#    binaries. Nothing is in lib/ yet, so every entry resolves on the system.
declare -A origin=()
while read -r soname path; do
  if is_host_library "$soname"; then continue; fi
  if [ "$path" = "not" ]; then
    echo "package.sh: $soname not found on this machine" >&2
    exit 1
  fi
  cp -L "$path" "$PKG/lib/$soname"
  chmod 0644 "$PKG/lib/$soname"
  origin[$soname]=$path
done < <(ldd "$PKG/bin/djinnd" "$PKG/bin/djinnctl" | awk '$2 == "=>" { print $1, $3 }' | sort -u)

# 3. Manifest: what the host must provide, and the provenance of every library.
version_needs() {  # the symbol versions an ELF file requires (.gnu.version_r)
  readelf -V -W "$1" | awk '/^Version needs section/ { n = 1; next }
                            /^Version (definition|symbols) section/ { n = 0 }
                            n && /Name:/ { for (i = 1; i < NF; i++) if ($i == "Name:") print $(i + 1) }'
}
highest() { grep "^$1_" | sort -uV | tail -n 1; }
needs=$(for f in "$PKG"/bin/* "$PKG"/lib/*; do version_needs "$f"; done | sort -u)
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ]; then commit="$commit (with uncommitted changes)"; fi
{
  echo "djinn $VERSION linux-x86_64"
  echo "commit: $commit"
  echo "build type: $(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt")"
  echo "built on: $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo
  echo "The host provides glibc and libstdc++/libgcc_s. Newest symbol versions needed:"
  echo "  $(highest GLIBC <<< "$needs")  $(highest GLIBCXX <<< "$needs")  $(highest CXXABI <<< "$needs")  $(highest GCC <<< "$needs")"
  echo "  (e.g. Debian 12, Ubuntu 22.04 or newer)"
  echo
  echo "lib/ (soname <- file it was copied from, Debian package):"
  for soname in $(printf '%s\n' "${!origin[@]}" | sort); do
    real=$(readlink -f "${origin[$soname]}")
    pkg=$(dpkg -S "$real" 2>/dev/null || dpkg -S "/usr$real" 2>/dev/null || true)
    echo "  $soname <- $real (${pkg%%:*})"
  done
} > "$PKG/MANIFEST.txt"

# 4. Tarball, with stable ordering and ownership.
tar -C "$DIST_DIR" --sort=name --owner=0 --group=0 --numeric-owner -czf "$PKG.tar.gz" "$NAME"

echo "package: $PKG.tar.gz ($(du -h "$PKG.tar.gz" | cut -f1); ${#origin[@]} libraries in lib/)"
