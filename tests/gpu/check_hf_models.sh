#!/usr/bin/env bash
# Issue 12's check on a GPU host, in one command: models written by
# transformers itself, for every architecture Djinn serves, against
# transformers, on the CUDA backend, resident and streamed; and chat prompts
# tokenized exactly as apply_chat_template does. On a GPU host with python3 +
# torch + transformers 5.x + tokenizers + numpy (no network needed):
#
#   tests/gpu/check_hf_models.sh PKG WORKDIR TOKENIZERS [STEP...]
#       PKG: a package holding bin/gpu_hf_models_test (--pack below) and lib/;
#       WORKDIR: where models/, ref/ and chat/ go (reused between steps; a
#         complete model is kept);
#       TOKENIZERS: the real tokenizer files, a folder as
#         tests/hf/fetch_tokenizers.sh DIR writes it, or a .tar.xz of that
#         folder (the GPU host has no network: fetch here, carry it there);
#       STEP: models | reference | chat | test | all (the default, in order)
#         models     tests/hf/hf_models.py models: Llama (llama3 rope,
#                    theta 500000), Llama with attention+MLP biases, Mistral,
#                    Qwen2 (biases, tied), Qwen3 (q/k norm, head_dim 128):
#                    hidden 768, 4 layers, GQA groups of 3 and 5, the real
#                    tokenizers' vocabularies and files, float32 and
#                    bfloat16, save_pretrained (5.x layout, sharded)
#         reference  hf_models.py reference on the GPU: float64 logits over a
#                    chat-templated prompt, 64 greedy tokens, transformers'
#                    own bf16 error (WORKDIR/ref; FORCE=1 redoes it)
#         chat       hf_models.py chat: apply_chat_template over 21
#                    conversations per template (WORKDIR/chat)
#         test       gpu_hf_models_test: the bounds of tests/hf/hf_model_check.h
#       Logs go to $LOG_DIR, else $OUT, else WORKDIR/logs: check_hf_models-STEP.log,
#       check_hf_models-results.xml.
#   tests/gpu/check_hf_models.sh --pack BUILD_DIR PKG
#       On the build machine: copies BUILD_DIR/tests/gpu/gpu_hf_models_test into
#       PKG/bin with the shared libraries it needs (scripts/pack-binary.sh).
#
# Last run, 2026-12-04 on the lent H200 (transformers 5.17.0, torch
# 2.11.0+cu130): models 62 s, reference 54 s, chat 19 s, test 15 s; all 15
# tests pass (fp32: logits within 1e-6 of transformers, 64/64 greedy tokens;
# bf16: about 1e-2, under the bound; streamed = resident bit for bit). The
# whole check, 2.5 minutes, fits one 10-minute command. From here, with the
# device tool: carry PKG and the tokenizer tarball (an ignored folder, e.g.
# .carry/hf-device/{pkg,tokenizers.tar.xz}; strip PKG/bin/* to keep it small):
#   tests/gpu/check_hf_models.sh .carry/hf-device/pkg /tmp/w .carry/hf-device/tokenizers.tar.xz
#
# Environment: PYTHON (default python3), CUDA_LIB_DIRS (default
# /usr/local/cuda/lib64 and targets/x86_64-linux/lib), FORCE=1.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

if [ "${1:-}" = "--pack" ]; then
  [ $# -eq 3 ] || { echo "usage: $0 --pack BUILD_DIR PKG" >&2; exit 2; }
  binary=$2/tests/gpu/gpu_hf_models_test
  [ -x "$binary" ] || { echo "check_hf_models.sh: $binary missing; ninja -C $2 tests/gpu/gpu_hf_models_test" >&2; exit 1; }
  exec "$root/scripts/pack-binary.sh" "$binary" "$3"
fi

[ $# -ge 3 ] || { sed -n '2,41p' "$0" >&2; exit 2; }
PKG=$(cd "$1" && pwd) || exit 2
mkdir -p "$2" && WORK=$(cd "$2" && pwd) || exit 2
TOKENIZERS_ARG=$3
shift 3
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(all)
LOGS=${LOG_DIR:-${OUT:-$WORK/logs}}
mkdir -p "$LOGS" "$WORK/models" "$WORK/ref" "$WORK/chat"
PYTHON=${PYTHON:-python3}
export PYTHONUNBUFFERED=1

# The tokenizer files: a folder, or a tarball of one unpacked into WORKDIR.
if [ -f "$TOKENIZERS_ARG" ]; then
  rm -rf "$WORK/tokenizers-unpacked"
  mkdir -p "$WORK/tokenizers-unpacked"
  tar -xJf "$TOKENIZERS_ARG" -C "$WORK/tokenizers-unpacked" || exit 1
  TOKENIZERS=$(dirname "$(find "$WORK/tokenizers-unpacked" -name tokenizer.json -path '*llama3_1*' | head -n 1)")/..
  TOKENIZERS=$(cd "$TOKENIZERS" && pwd)
else
  TOKENIZERS=$(cd "$TOKENIZERS_ARG" && pwd) || exit 2
fi
for name in llama3_1 qwen2_5 qwen3 llama2 mistral_nemo; do
  [ -f "$TOKENIZERS/$name/tokenizer.json" ] || { echo "check_hf_models.sh: $TOKENIZERS/$name/tokenizer.json missing" >&2; exit 2; }
done

cuda_libs=${CUDA_LIB_DIRS:-/usr/local/cuda/lib64:/usr/local/cuda/targets/x86_64-linux/lib}
djinn() { LD_LIBRARY_PATH="$PKG/lib:$cuda_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@"; }

step_models() {
  "$PYTHON" "$root/tests/hf/hf_models.py" models "$WORK/models" --tokenizers "$TOKENIZERS"
}

step_reference() {
  local dir todo=()
  for dir in "$WORK"/models/*/; do
    dir=${dir%/}
    [ -f "$dir/.complete" ] || { echo "check_hf_models.sh: $dir incomplete; run the models step" >&2; return 1; }
    if [ "${FORCE:-0}" != 1 ] && [ -f "$WORK/ref/$(basename "$dir").json" ]; then
      echo "kept $WORK/ref/$(basename "$dir").json"
      continue
    fi
    todo+=("$dir")
  done
  [ ${#todo[@]} -eq 0 ] && return 0
  "$PYTHON" "$root/tests/hf/hf_models.py" reference --device cuda --half-runs --out-dir "$WORK/ref" "${todo[@]}"
}

step_chat() {
  "$PYTHON" "$root/tests/hf/hf_models.py" chat "$WORK/chat" --tokenizers "$TOKENIZERS"
}

step_test() {
  local binary=${TEST_BIN:-$PKG/bin/gpu_hf_models_test}
  [ -x "$binary" ] || { echo "check_hf_models.sh: $binary missing (check_hf_models.sh --pack BUILD_DIR PKG)" >&2; return 1; }
  nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total --format=csv 2>&1 || true
  djinn "$binary" --reference-dir "$WORK/ref" --chat-dir "$WORK/chat" --tokenizers-dir "$TOKENIZERS" \
    --gtest_output="xml:$LOGS/check_hf_models-results.xml"
}

run_step() {  # name: runs step_<name>, logged and timed
  local name=$1 start status
  start=$(date +%s)
  echo "== check_hf_models $name  $(date -u +%FT%TZ)  $(hostname)" | tee "$LOGS/check_hf_models-$name.log"
  "step_$name" 2>&1 | tee -a "$LOGS/check_hf_models-$name.log"
  status=${PIPESTATUS[0]}
  echo "== check_hf_models $name: exit $status after $(($(date +%s) - start)) s; log $LOGS/check_hf_models-$name.log" |
    tee -a "$LOGS/check_hf_models-$name.log"
  return "$status"
}

for step in "${steps[@]}"; do
  case "$step" in
    all) run_step models && run_step reference && run_step chat && run_step test || exit 1 ;;
    models | reference | chat | test) run_step "$step" || exit 1 ;;
    *) echo "check_hf_models.sh: unknown step '$step' (models, reference, chat, test, all)" >&2; exit 2 ;;
  esac
done
