#!/usr/bin/env bash
# Adds one built executable to a package directory, with the shared
# libraries it needs that the package does not have yet:
#
#   scripts/pack-binary.sh BINARY PKG
#
# copies BINARY to PKG/bin/ and each library from `ldd BINARY` to PKG/lib/,
# except the host's core (scripts/host-libraries.sh) and, unless
# DJINN_PACK_CUDA=1, the CUDA toolkit's libcudart/libcublas/libcublasLt
# (a GPU host has them; they are 0.5 GB, too much to copy around for tests).
# Used by the --pack modes of the GPU test and benchmark scripts.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BINARY PKG" >&2; exit 2; }
binary=$1
pkg=$2
[ -x "$binary" ] || { echo "pack-binary.sh: $binary missing; build it first" >&2; exit 1; }
. "$(dirname "${BASH_SOURCE[0]}")/host-libraries.sh"
mkdir -p "$pkg/bin" "$pkg/lib"
cp "$binary" "$pkg/bin/"
added=0
while read -r soname path; do
  if is_host_library "$soname"; then continue; fi
  case "$soname" in libcudart.so.* | libcublas.so.* | libcublasLt.so.*)
    [ "${DJINN_PACK_CUDA:-0}" = 1 ] || continue ;;
  esac
  [ -e "$pkg/lib/$soname" ] && continue
  [ "$path" != "not" ] || { echo "pack-binary.sh: $soname not found" >&2; exit 1; }
  cp -L "$path" "$pkg/lib/$soname"
  added=$((added + 1))
done < <(ldd "$binary" | awk '$2 == "=>" { print $1, $3 }' | sort -u)
echo "packed: $pkg/bin/$(basename "$binary") ($added libraries added to $pkg/lib)"
