#!/usr/bin/env bash
# Makes, on the build machine, the package that tests/gpu/check_all.sh runs on
# a GPU host: the release package of a CUDA build plus every GPU test binary
# and the real tokenizer files the transformers checks read.
#
#   tests/gpu/pack.sh BUILD_DIR PKG
#       BUILD_DIR: a CUDA build (cmake -DDJINN_CUDA=ON), already built:
#         ninja -C BUILD_DIR djinnd djinnctl gpu_backend_conformance_test
#           gpu_backend_ops_test gpu_weight_ring_test gpu_model_reference_test
#           gpu_streaming_model_test gpu_hf_models_test
#       PKG: written anew: bin/ (djinnd, djinnctl, the test binaries, debug
#         info stripped), lib/ (what they load, without the CUDA toolkit's
#         libraries: the GPU host has them), run.sh, tokenizers.tar.xz.
#
# Small enough to carry to a GPU host (tens of MB). There:
#   tests/gpu/check_all.sh PKG WORKDIR
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BUILD_DIR PKG" >&2; exit 2; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$(cd "$1" && pwd)
PKG=$2

rm -rf "$PKG"
dist=$(mktemp -d)
trap 'rm -rf "$dist"' EXIT
"$ROOT/scripts/package.sh" "$BUILD" "$dist" gpu-check > /dev/null
mkdir -p "$(dirname "$PKG")"
mv "$dist/djinn-gpu-check-linux-x86_64" "$PKG"
rm -f "$PKG"/lib/libcudart.so.* "$PKG"/lib/libcublas.so.* "$PKG"/lib/libcublasLt.so.*
"$ROOT/tests/gpu/run.sh" --pack "$BUILD" "$PKG"  # the conformance suite, CUDA-only ops, the weight ring
"$ROOT/tests/gpu/check_models.sh" --pack "$BUILD" "$PKG"
"$ROOT/tests/gpu/check_streaming.sh" --pack "$BUILD" "$PKG"
"$ROOT/tests/gpu/check_hf_models.sh" --pack "$BUILD" "$PKG"
strip --strip-debug "$PKG"/bin/*

tokenizers=$(mktemp -d)
"$ROOT/tests/hf/fetch_tokenizers.sh" "$tokenizers/tokenizers"
tar -C "$tokenizers" --exclude=.lock --exclude=.tools -cJf "$PKG/tokenizers.tar.xz" tokenizers
rm -rf "$tokenizers"
du -sh "$PKG"
