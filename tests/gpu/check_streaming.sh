#!/usr/bin/env bash
# Weight streaming on a GPU host: makes a 50-layer model (small-deep-50,
# bf16, 367 MB) if WORKDIR lacks it and runs gpu_streaming_model_test on it:
# 10%, 50% and 90% of the layers streamed against the resident run, on the
# CUDA backend and on the CPU one (gtest args after WORKDIR pass through,
# e.g. --gtest_filter='*/cuda').
#
#   tests/gpu/check_streaming.sh PKG WORKDIR
#   tests/gpu/check_streaming.sh --pack BUILD_DIR PKG   # adds the test binary to PKG
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [ "${1:-}" = "--pack" ]; then
  [ $# -eq 3 ] || { echo "usage: $0 --pack BUILD_DIR PKG" >&2; exit 2; }
  exec "$root/scripts/pack-binary.sh" "$2/tests/gpu/gpu_streaming_model_test" "$3"
fi
[ $# -ge 2 ] || { echo "usage: $0 PKG WORKDIR [gtest args...]" >&2; exit 2; }
PKG=$(cd "$1" && pwd)
mkdir -p "$2"
WORK=$(cd "$2" && pwd)
shift 2
export LD_LIBRARY_PATH="$PKG/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}:/usr/local/cuda/lib64"
model=$WORK/small-deep-50-bfloat16
if [ ! -f "$model/config.json" ]; then
  "$PKG/bin/djinnctl" make-test-model --preset small-deep-50 --dtype bfloat16 --out "$model"
fi
"$PKG/bin/gpu_streaming_model_test" --model-dir "$model" "$@"
