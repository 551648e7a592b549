#!/usr/bin/env bash
# Weight streaming on a GPU host: makes a 16-layer model (llama-1b, bf16,
# 2 GB) if WORKDIR lacks it and runs gpu_streaming_model_test on it.
#
#   tests/gpu/check_streaming.sh PKG WORKDIR
#   tests/gpu/check_streaming.sh --pack BUILD_DIR PKG   # adds the test binary to PKG
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [ "${1:-}" = "--pack" ]; then
  [ $# -eq 3 ] || { echo "usage: $0 --pack BUILD_DIR PKG" >&2; exit 2; }
  exec "$root/scripts/pack-binary.sh" "$2/tests/gpu/gpu_streaming_model_test" "$3"
fi
[ $# -eq 2 ] || { echo "usage: $0 PKG WORKDIR" >&2; exit 2; }
PKG=$(cd "$1" && pwd)
mkdir -p "$2"
WORK=$(cd "$2" && pwd)
export LD_LIBRARY_PATH="$PKG/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}:/usr/local/cuda/lib64"
model=$WORK/llama-1b-bfloat16
if [ ! -f "$model/config.json" ]; then
  "$PKG/bin/djinnctl" make-test-model --preset llama-1b --dtype bfloat16 --out "$model"
fi
"$PKG/bin/gpu_streaming_model_test" --model-dir "$model"
