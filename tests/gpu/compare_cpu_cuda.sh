#!/usr/bin/env bash
# Greedy generations of one model through djinnd on the CPU and on CUDA, from
# the same package, compared as text. Run on a GPU host:
#   tests/gpu/compare_cpu_cuda.sh PACKAGE_DIR MODEL_ROOT [MODEL] [MAX_TOKENS]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/wait-ready.sh"
PKG=$(cd "${1:?package dir with bin/}" && pwd)
ROOT=$(cd "${2:?model root}" && pwd)
MODEL=${3:-tiny-gqa}
TOKENS=${4:-48}
WORK=$(mktemp -d)
PID=""
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

generate_on() {  # device -> prints the generated text
  local device=$1 log="$WORK/$1.log"
  "$PKG/bin/djinnd" --device="$device" --vram-budget=2GiB --listen=127.0.0.1:0 --metrics-listen= \
    --model-root="$ROOT" --model "m=$MODEL" 2> "$log" &
  PID=$!
  local ready port
  ready=$(wait_for_ready "$log" "$PID" 60) || exit 1
  port=$(ready_port "$ready" grpc)
  "$PKG/bin/djinnctl" --addr "127.0.0.1:$port" generate m "Once upon a time" --max-tokens "$TOKENS" \
    --ignore-eos 2> "$WORK/$device.usage"
  "$PKG/bin/djinnctl" --addr "127.0.0.1:$port" list >&2
  kill -TERM "$PID"; wait "$PID"; PID=""
  grep '"msg":"device"' "$log" >&2
  cat "$WORK/$device.usage" >&2
}

cpu=$(generate_on cpu)
cuda=$(generate_on cuda)
printf 'cpu:  %q\ncuda: %q\n' "$cpu" "$cuda"
if [ "$cpu" == "$cuda" ]; then echo "SAME greedy text on cpu and cuda ($MODEL, $TOKENS tokens)"; else echo "DIFFERENT"; exit 1; fi
