#!/usr/bin/env bash
# Checks that an unpacked release package is relocatable and self-contained:
#
#   scripts/check-package.sh DIR      # DIR = .../djinn-VERSION-linux-x86_64
#
#  1. bin/djinnd and bin/djinnctl carry DT_RPATH=$ORIGIN/../lib and no
#     DT_RUNPATH; no library in lib/ carries DT_RUNPATH (it would stop the
#     executable's RPATH from applying to that library's own dependencies),
#     except a runpath of exactly $ORIGIN, which names lib/ itself (NVIDIA
#     ships cuBLAS that way, to find cuBLASLt beside it).
#  2. Both binaries start with a scrubbed environment (env -i): djinnctl
#     --help exits 0, djinnd --version exits 0 and djinnd --help prints its
#     usage (absl exits 1 after --help).
#  3. ldd: nothing "not found", and every library outside the host's core
#     (glibc, libstdc++, libgcc_s; see package.sh) resolves inside DIR/lib.
#  4. The loader itself (LD_DEBUG=libs during the runs of 2) initialised every
#     non-core library from DIR/lib, never from the system's copies. That is
#     what a host without them will see.
#  5. 2-4 again on a copy of DIR at another path: nothing depends on where
#     the package was unpacked.
# Self-contained (needs bash, coreutils, ldd; binutils' readelf for 1): copy it
# to another host to check a package there.
set -euo pipefail

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
  echo "usage: $0 PACKAGE_DIR" >&2
  exit 2
fi

failures=0
fail() { echo "FAIL: $(cut -c1-600 <<< "$*")" >&2; failures=$((failures + 1)); }
ok() { echo "ok:   $*"; }

# Which libraries the host provides: one rule, shared with the other script.
. "$(dirname "${BASH_SOURCE[0]}")/host-libraries.sh"

# 1. Dynamic sections (needs binutils; 2-4 prove the same from the loader's side).
check_dynamic_sections() {
  local pkg=$1 f dyn runpath=()
  if ! command -v readelf > /dev/null; then
    echo "skip: readelf not installed (binutils); RPATH/RUNPATH not inspected"
    return
  fi
  for f in "$pkg"/bin/*; do
    dyn=$(readelf -d "$f")
    if grep -q '(RPATH).*\[\$ORIGIN/../lib\]' <<< "$dyn" && ! grep -q '(RUNPATH)' <<< "$dyn"; then
      ok "$(basename "$f"): DT_RPATH \$ORIGIN/../lib, no DT_RUNPATH"
    else
      fail "$(basename "$f"): $(grep -E 'R(UN)?PATH' <<< "$dyn" || echo 'no RPATH')"
    fi
  done
  for f in "$pkg"/lib/*; do
    local entry
    entry=$(readelf -d "$f" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')
    if [ -n "$entry" ] && [ "$entry" != '$ORIGIN' ]; then runpath+=("$(basename "$f") ($entry)"); fi
  done
  if [ ${#runpath[@]} -eq 0 ]; then ok "no DT_RUNPATH in lib/ other than \$ORIGIN"; else fail "DT_RUNPATH in ${runpath[*]}"; fi
}

check() {
  local pkg=$1 out
  pkg=$(cd "$pkg" && pwd -P)
  echo "== $pkg"
  for f in bin/djinnd bin/djinnctl; do
    [ -x "$pkg/$f" ] || { fail "$f missing"; return; }
  done
  [ -d "$pkg/lib" ] || { fail "lib/ missing"; return; }

  check_dynamic_sections "$pkg"

  # 2 + 4. Run with a scrubbed environment, recording what the loader loads.
  local scrub=(env -i PATH=/usr/bin:/bin)
  local debug_dir status
  debug_dir=$(mktemp -d)
  status=0
  out=$("${scrub[@]}" LD_DEBUG=libs LD_DEBUG_OUTPUT="$debug_dir/djinnctl" "$pkg/bin/djinnctl" --help 2>&1) || status=$?
  if [ $status -eq 0 ] && grep -q '^usage: djinnctl' <<< "$out"; then
    ok "djinnctl --help (exit 0)"
  else
    fail "djinnctl --help exited $status: $(head -n 3 <<< "$out")"
  fi
  status=0
  out=$("${scrub[@]}" LD_DEBUG=libs LD_DEBUG_OUTPUT="$debug_dir/djinnd-version" "$pkg/bin/djinnd" --version 2>&1) || status=$?
  if [ $status -eq 0 ] && grep -q '^djinnd' <<< "$out"; then ok "djinnd --version (exit 0)"; else fail "djinnd --version exited $status: $out"; fi
  status=0
  out=$("${scrub[@]}" LD_DEBUG=libs LD_DEBUG_OUTPUT="$debug_dir/djinnd-help" "$pkg/bin/djinnd" --help 2>&1) || status=$?
  # 127 or a loader message would mean the binary never started.
  if [ $status -le 1 ] && grep -q 'serves Llama-family models' <<< "$out"; then
    ok "djinnd --help (usage printed, exit $status)"
  else
    fail "djinnd --help exited $status: $(head -n 3 <<< "$out")"
  fi
  local loaded outside=() inside=0
  loaded=$(cat "$debug_dir"/* 2>/dev/null | sed -n 's/.*calling init: //p' | sort -u)
  rm -rf "$debug_dir"
  while read -r path; do
    [ -n "$path" ] || continue
    path=$(realpath -m "$path")  # $ORIGIN paths come as .../bin/../lib/...
    if [[ $path == "$pkg/lib/"* ]]; then
      inside=$((inside + 1))
    elif ! is_host_library "$path"; then
      outside+=("$path")
    fi
  done <<< "$loaded"
  if [ $inside -eq 0 ]; then
    fail "LD_DEBUG: nothing was loaded from $pkg/lib"
  elif [ ${#outside[@]} -eq 0 ]; then
    ok "LD_DEBUG: $inside libraries loaded from lib/, the rest is the host's core"
  else
    fail "LD_DEBUG: loaded from outside the package: ${outside[*]}"
  fi

  # 3. ldd's view (the full closure, including libraries --help did not need).
  local missing=() stray=() shipped
  while read -r soname arrow path _; do
    [ "$arrow" = "=>" ] || continue
    if [ "$path" = "not" ]; then missing+=("$soname"); continue; fi
    path=$(realpath -m "$path")
    if [[ $path != "$pkg/lib/"* ]] && ! is_host_library "$soname"; then stray+=("$soname => $path"); fi
  done < <("${scrub[@]}" ldd "$pkg/bin/djinnd" "$pkg/bin/djinnctl")
  if [ ${#missing[@]} -eq 0 ]; then ok "ldd: nothing not found"; else fail "ldd: not found: ${missing[*]}"; fi
  if [ ${#stray[@]} -eq 0 ]; then ok "ldd: every non-core library resolves inside lib/"; else fail "ldd: outside lib/: ${stray[*]}"; fi
  # Every library in lib/ should be needed; an unused one is a packaging bug.
  shipped=$("${scrub[@]}" ldd "$pkg/bin/djinnd" "$pkg/bin/djinnctl" | awk '$2 == "=>" { print $1 }' | sort -u)
  for f in "$pkg"/lib/*; do
    grep -qxF "$(basename "$f")" <<< "$shipped" || fail "lib/$(basename "$f") is not loaded by either binary"
  done
}

PKG=$(cd "$1" && pwd -P)
check "$PKG"

# 5. The same package elsewhere.
MOVED=$(mktemp -d)
trap 'rm -rf "$MOVED"' EXIT
cp -a "$PKG" "$MOVED/moved-package"
check "$MOVED/moved-package"

if [ $failures -ne 0 ]; then
  echo "check-package: $failures check(s) failed" >&2
  exit 1
fi
echo "check-package: $PKG is relocatable and self-contained"
