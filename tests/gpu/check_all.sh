#!/usr/bin/env bash
# Every GPU check of the CUDA backend, in one command, from a package that
# carries the GPU test binaries (see tests/gpu/run.sh --pack and
# tests/gpu/check_models.sh --pack):
#
#   tests/gpu/check_all.sh PKG WORKDIR
#
#   1. ops: the backend conformance suite on cuda and cpu, what only the
#      CUDA backend promises, the weight ring (tests/gpu/run.sh)
#   2. whole models against transformers    (tests/gpu/check_models.sh)
#   3. device memory never above the budget (tests/gpu/check_memory.sh)
#   4. weight streaming: streamed = resident results, on cuda and cpu
#      (tests/gpu/check_streaming.sh)
#   5. the README's first command on the GPU (scripts/run.sh with DJINN_BIN_DIR)
#   6. every architecture against transformers, models written by its own
#      save_pretrained, and chat prompts as apply_chat_template tokenizes them
#      (tests/gpu/check_hf_models.sh; the tokenizer files from PKG/tokenizers.tar.xz)
# tests/gpu/pack.sh BUILD_DIR PKG makes such a package from a CUDA build.
# Logs go to $LOG_DIR, else $OUT, else WORKDIR/logs. Exits non-zero if any
# step fails, after running them all.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PKG=$(cd "${1:?usage: $0 PKG WORKDIR}" && pwd)
WORK=${2:?usage: $0 PKG WORKDIR}
mkdir -p "$WORK"
LOGS=${LOG_DIR:-${OUT:-$WORK/logs}}
mkdir -p "$LOGS"
export LD_LIBRARY_PATH="$PKG/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}:/usr/local/cuda/lib64"

failed=()
step() {  # NAME COMMAND...
  local name=$1
  shift
  echo "== $name: $*"
  local start=$SECONDS
  if "$@" > "$LOGS/$name.log" 2>&1; then
    echo "   ok ($((SECONDS - start)) s)"
  else
    echo "   FAILED ($((SECONDS - start)) s); tail of $LOGS/$name.log:"
    tail -n 30 "$LOGS/$name.log" | sed 's/^/   | /'
    failed+=("$name")
  fi
}

step ops env OUT="$WORK/ops" "$PKG/run.sh" "$PKG"
step models env LOG_DIR="$WORK/models-logs" "$ROOT/tests/gpu/check_models.sh" "$PKG" "$WORK/models" all
step memory env LOG_DIR="$WORK/memory-logs" "$ROOT/tests/gpu/check_memory.sh" "$PKG" "$WORK/memory"
step streaming "$ROOT/tests/gpu/check_streaming.sh" "$PKG" "$WORK/memory/models"
step run env DJINN_BIN_DIR="$PKG/bin" "$ROOT/scripts/run.sh"
step hf_models env LOG_DIR="$WORK/hf-logs" "$ROOT/tests/gpu/check_hf_models.sh" "$PKG" "$WORK/hf" "$PKG/tokenizers.tar.xz"

if [ ${#failed[@]} -gt 0 ]; then
  echo "check_all: failed: ${failed[*]}"
  exit 1
fi
echo "check_all: every step passed"
