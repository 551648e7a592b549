#!/usr/bin/env bash
# Whole models on the CUDA backend against transformers (see
# model_reference_test.cc for what is compared and the bounds). On a GPU host
# with python3 + torch + transformers 5.x + sentencepiece + numpy:
#
#   tests/gpu/check_models.sh PKG WORKDIR [STEP...]
#       PKG: a package (bin/djinnctl, bin/gpu_model_reference_test, lib/);
#       WORKDIR: where models/ and ref/ go (reused between steps).
#       STEP: models | reference | test | all (the default: all three, in order)
#         models     djinnctl make-test-model: tiny and tiny-gqa in float32,
#                    float16 and bfloat16; llama-1b in float16 and bfloat16
#                    (WORKDIR/models/PRESET-DTYPE; kept if already complete)
#         reference  tests/gpu/hf_reference.py over every model -> WORKDIR/ref/
#                    (kept if already there; FORCE=1 redoes it)
#         test       gpu_model_reference_test --reference-dir WORKDIR/ref
#       Logs go to $LOG_DIR, else $OUT, else WORKDIR/logs:
#       check_models-STEP.log, check_models-results.xml.
#   tests/gpu/check_models.sh --pack BUILD_DIR PKG
#       On the build machine: copies BUILD_DIR/tests/gpu/gpu_model_reference_test
#       into PKG/bin and any shared library it needs that PKG/lib lacks
#       (except the host's core and the CUDA toolkit's, which the GPU host has).
#
# Times on an H100 (measured with the engine of 2026-11-25): models 11 s,
# reference 42 s, test 2 s: `all` is about one minute, far inside one
# 10-minute command.
#
# Environment: PYTHON (default python3), CUDA_LIB_DIRS (default
# /usr/local/cuda/lib64 and targets/x86_64-linux/lib), FORCE=1, and the
# test's own DJINN_REFERENCE_ARENA_MIB / DJINN_REFERENCE_MAX_GROWTH_MIB.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

# ------------------------------------------------------------------ --pack
if [ "${1:-}" = "--pack" ]; then
  [ $# -eq 3 ] || { echo "usage: $0 --pack BUILD_DIR PKG" >&2; exit 2; }
  set -e
  binary=$2/tests/gpu/gpu_model_reference_test
  [ -x "$binary" ] || { echo "check_models.sh: $binary missing; ninja -C $2 gpu_model_reference_test" >&2; exit 1; }
  "$root/scripts/pack-binary.sh" "$binary" "$3"
  exit 0
fi

[ $# -ge 2 ] || { sed -n '2,30p' "$0" >&2; exit 2; }
PKG=$(cd "$1" && pwd) || exit 2
mkdir -p "$2" && WORK=$(cd "$2" && pwd) || exit 2
shift 2
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(all)
LOGS=${LOG_DIR:-${OUT:-$WORK/logs}}
mkdir -p "$LOGS" "$WORK/models" "$WORK/ref"
PYTHON=${PYTHON:-python3}

# The package's libraries and the toolkit's for Djinn's binaries only (not
# for python, whose torch brings its own CUDA libraries).
cuda_libs=${CUDA_LIB_DIRS:-/usr/local/cuda/lib64:/usr/local/cuda/targets/x86_64-linux/lib}
djinn() { LD_LIBRARY_PATH="$PKG/lib:$cuda_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@"; }

MODELS=(tiny:float32 tiny:float16 tiny:bfloat16 tiny-gqa:float32 tiny-gqa:float16 tiny-gqa:bfloat16
        llama-1b:float16 llama-1b:bfloat16)

step_models() {
  local spec preset dtype dir start
  for spec in "${MODELS[@]}"; do
    preset=${spec%%:*}
    dtype=${spec#*:}
    dir=$WORK/models/$preset-$dtype
    if [ -f "$dir/.complete" ]; then
      echo "kept $dir"
      continue
    fi
    rm -rf "$dir"
    start=$(date +%s%N)
    djinn "$PKG/bin/djinnctl" make-test-model --preset "$preset" --dtype "$dtype" --out "$dir" || return 1
    touch "$dir/.complete"
    echo "made $dir in $((($(date +%s%N) - start) / 1000000)) ms"
  done
}

step_reference() {
  local spec dir name todo=()
  for spec in "${MODELS[@]}"; do
    name=${spec%%:*}-${spec#*:}
    dir=$WORK/models/$name
    [ -f "$dir/.complete" ] || { echo "check_models.sh: $dir missing; run the models step first" >&2; return 1; }
    if [ "${FORCE:-0}" != 1 ] && [ -f "$WORK/ref/$name.json" ]; then
      echo "kept $WORK/ref/$name.json"
      continue
    fi
    todo+=("$dir")
  done
  [ ${#todo[@]} -eq 0 ] && return 0
  PYTHONUNBUFFERED=1 "$PYTHON" "$here/hf_reference.py" --out-dir "$WORK/ref" --steps 64 --prompt-tokens 40 "${todo[@]}"
}

step_test() {
  local binary=${TEST_BIN:-$PKG/bin/gpu_model_reference_test}
  [ -x "$binary" ] || { echo "check_models.sh: $binary missing (check_models.sh --pack BUILD_DIR PKG)" >&2; return 1; }
  nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total --format=csv 2>&1 || true
  djinn "$binary" --reference-dir "$WORK/ref" --gtest_output="xml:$LOGS/check_models-results.xml"
}

run_step() {  # name: runs step_<name>, logged and timed
  local name=$1 start status
  start=$(date +%s)
  echo "== check_models $name  $(date -u +%FT%TZ)  $(hostname)" | tee "$LOGS/check_models-$name.log"
  "step_$name" 2>&1 | tee -a "$LOGS/check_models-$name.log"
  status=${PIPESTATUS[0]}
  echo "== check_models $name: exit $status after $(($(date +%s) - start)) s; log $LOGS/check_models-$name.log" |
    tee -a "$LOGS/check_models-$name.log"
  return "$status"
}

for step in "${steps[@]}"; do
  case "$step" in
    all) run_step models && run_step reference && run_step test || exit 1 ;;
    models | reference | test) run_step "$step" || exit 1 ;;
    *) echo "check_models.sh: unknown step '$step' (models, reference, test, all)" >&2; exit 2 ;;
  esac
done
