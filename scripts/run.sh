#!/usr/bin/env bash
# See Djinn work, end to end, in one command:
#   build -> write the tiny test model -> start djinnd -> load the model
#   through the API -> stream a generation -> stats -> stop djinnd (SIGTERM).
#
#   scripts/run.sh
#   DJINN_PORT=50052 DJINN_METRICS_PORT=9401 scripts/run.sh
#   DJINN_BIN_DIR=dist/djinn-0.1.0-linux-x86_64/bin scripts/run.sh
#
# On a machine with an NVIDIA GPU (nvidia-smi sees one) and nvcc, the build
# includes the CUDA backend and djinnd --device=auto runs on the GPU.
# DJINN_BIN_DIR skips the build and runs prebuilt binaries (a release
# package's bin/), e.g. on a GPU host without the build dependencies.
#
# Ports: DJINN_PORT (gRPC, default 50051) and DJINN_METRICS_PORT (default
# 9400). When a default port is taken, djinnd picks a free one; a port you set
# explicitly must be free. The daemon listens on 127.0.0.1 only. Its JSON log
# goes to $BUILD_DIR/run-djinnd.log.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
. "$ROOT/scripts/wait-ready.sh"
BUILD_DIR=${BUILD_DIR:-build}
export BUILD_DIR
if [ -n "${DJINN_BIN_DIR:-}" ]; then
  DJINND=$DJINN_BIN_DIR/djinnd
  DJINNCTL=$DJINN_BIN_DIR/djinnctl
  LOG=${TMPDIR:-/tmp}/run-djinnd.log
else
  DJINND=$BUILD_DIR/daemon/djinnd
  DJINNCTL=$BUILD_DIR/client/cpp/djinnctl
  LOG=$BUILD_DIR/run-djinnd.log
fi
READY_TIMEOUT_S=${READY_TIMEOUT_S:-120}

if [ -t 1 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD="" PLAIN=""; fi
heading() { printf '\n%s==> %s%s\n' "$BOLD" "$*" "$PLAIN"; }
# Prints a command as one would type it, then runs it.
show() {
  local arg line='$'
  for arg in "$@"; do
    if [[ $arg =~ ^[A-Za-z0-9_./:=,@+-]+$ ]]; then line+=" $arg"; else line+=" '${arg//\'/\'\\\'\'}'"; fi
  done
  echo "$line"
  "$@"
}

# Something accepts connections on 127.0.0.1:$1?
port_in_use() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }
# gRPC binds with SO_REUSEPORT, so a taken port would not even fail: check first.
pick_port() {  # ENV_VALUE DEFAULT NAME
  if [ -n "$1" ]; then
    if port_in_use "$1"; then
      echo "run.sh: port $1 ($3) is in use" >&2
      exit 1
    fi
    echo "$1"
  elif port_in_use "$2"; then
    echo 0  # djinnd picks a free one and logs it
  else
    echo "$2"
  fi
}

DAEMON_PID=""
cleanup() {
  local status=$?
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2> /dev/null; then
    echo "run.sh: stopping djinnd (pid $DAEMON_PID)" >&2
    kill -TERM "$DAEMON_PID" 2> /dev/null || true
    # --shutdown-grace is 10 s; give it a little more, then insist.
    for _ in $(seq 150); do
      kill -0 "$DAEMON_PID" 2> /dev/null || break
      sleep 0.1
    done
    kill -KILL "$DAEMON_PID" 2> /dev/null || true
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -n "${DJINN_BIN_DIR:-}" ]; then
  heading "Using prebuilt binaries in $DJINN_BIN_DIR"
else
  heading "Building djinnd and djinnctl (scripts/build.sh; incremental)"
  "$ROOT/scripts/build.sh" djinnd djinnctl
fi

heading "Test model"
if [ -f models/tiny/config.json ] && [ -f models/tiny/tokenizer.model ]; then
  echo "models/tiny exists (remove it to write it again)"
else
  show "$DJINNCTL" make-test-model --preset tiny --seed 1 --out models/tiny
fi
echo "The tiny preset has random weights: what it generates is gibberish, by design."

heading "Starting djinnd"
GRPC_PORT=$(pick_port "${DJINN_PORT:-}" 50051 gRPC)
METRICS_PORT=$(pick_port "${DJINN_METRICS_PORT:-}" 9400 metrics)
printf '$ %s\n' "$DJINND --device=auto --model-root=models --listen=127.0.0.1:$GRPC_PORT --metrics-listen=127.0.0.1:$METRICS_PORT > $LOG 2>&1 &"
"$DJINND" --device=auto --model-root=models --listen="127.0.0.1:$GRPC_PORT" \
  --metrics-listen="127.0.0.1:$METRICS_PORT" > "$LOG" 2>&1 &
DAEMON_PID=$!

# Readiness: djinnd logs {"msg":"ready","grpc_port":...} once it serves.
if ! ready=$(wait_for_ready "$LOG" "$DAEMON_PID" "$READY_TIMEOUT_S"); then
  wait "$DAEMON_PID" 2> /dev/null || true
  DAEMON_PID=""
  exit 1
fi
GRPC_PORT=$(ready_port "$ready" grpc)
METRICS_PORT=$(ready_port "$ready" metrics)
ADDR=127.0.0.1:$GRPC_PORT
grep -m1 '"msg":"device"' "$LOG" || true
echo "$ready"
echo "djinnd is ready (pid $DAEMON_PID): gRPC on $ADDR, metrics on http://127.0.0.1:$METRICS_PORT/metrics, log in $LOG"

heading "Loading the model through the API"
show "$DJINNCTL" --addr "$ADDR" load tiny tiny

heading "Generating (streamed as it is produced; random weights, so gibberish)"
show "$DJINNCTL" --addr "$ADDR" generate tiny "Once upon a time" --max-tokens 48

heading "Stats"
show "$DJINNCTL" --addr "$ADDR" stats

heading "A few of the Prometheus metrics"
if command -v curl > /dev/null; then
  printf '$ %s\n' "curl -s http://127.0.0.1:$METRICS_PORT/metrics | grep -E '^djinn_(generate_requests_total|generated_tokens_total|memory_bytes)'"
  curl -s "http://127.0.0.1:$METRICS_PORT/metrics" |
    grep -E '^djinn_(generate_requests_total|generated_tokens_total|memory_bytes)' || true
fi

heading "Stopping djinnd (SIGTERM)"
kill -TERM "$DAEMON_PID"
status=0
wait "$DAEMON_PID" || status=$?
DAEMON_PID=""
grep -E '"msg":"(shutting down|stopped)"' "$LOG" || true
if [ "$status" -ne 0 ]; then
  echo "run.sh: djinnd exited with status $status; see $LOG" >&2
  exit 1
fi
echo "djinnd exited cleanly (status 0). Next: docs/quickstart.md"
