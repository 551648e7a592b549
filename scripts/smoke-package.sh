#!/usr/bin/env bash
# Runs an unpacked release package on this host: makes the tiny model with
# the package's djinnctl, starts its djinnd, generates, prints stats, stops
# it with SIGTERM. Proves the package works where gRPC and Abseil are not
# installed.   scripts/smoke-package.sh PACKAGE_DIR
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/wait-ready.sh"
PKG=$(cd "${1:?unpacked package directory}" && pwd)
WORK=$(mktemp -d)
DAEMON_PID=""
cleanup() { [ -n "$DAEMON_PID" ] && kill -9 "$DAEMON_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

echo "== libraries djinnd loads from outside the package (system only expected)"
ldd "$PKG/bin/djinnd" | grep -v "$PKG/lib" || true
if ldd "$PKG/bin/djinnd" "$PKG/bin/djinnctl" | grep -q "not found"; then echo "missing libraries"; exit 1; fi

"$PKG/bin/djinnctl" make-test-model --preset tiny --seed 1 --out "$WORK/models/tiny"
sha256sum "$WORK/models/tiny/"*

"$PKG/bin/djinnd" --listen=127.0.0.1:0 --metrics-listen=127.0.0.1:0 --model-root="$WORK/models" \
  --model tiny=tiny 2> "$WORK/djinnd.log" &
DAEMON_PID=$!
ready=$(wait_for_ready "$WORK/djinnd.log" "$DAEMON_PID" 60)
PORT=$(ready_port "$ready" grpc)
"$PKG/bin/djinnctl" --addr "127.0.0.1:$PORT" health
"$PKG/bin/djinnctl" --addr "127.0.0.1:$PORT" generate tiny "Once upon a time" --max-tokens 32 --ignore-eos
"$PKG/bin/djinnctl" --addr "127.0.0.1:$PORT" stats
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
echo "djinnd exit code: $?"
DAEMON_PID=""
cat "$WORK/djinnd.log"
