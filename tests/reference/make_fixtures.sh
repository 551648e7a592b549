#!/usr/bin/env bash
# Regenerates tests/fixtures/reference_*.json: writes the tiny test models
# with djinnctl, then runs transformers on them (make_reference.py).
# Needs a host with Python, torch, transformers, sentencepiece (the GPU test
# host has them; the computation runs on its CPU).
#   tests/reference/make_fixtures.sh DJINNCTL OUT_DIR
set -euo pipefail
DJINNCTL=${1:?path to djinnctl}
OUT=${2:?output directory}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
for preset in tiny tiny-gqa tiny-tied; do
  "$DJINNCTL" make-test-model --preset "$preset" --seed 1 --out "$WORK/$preset" > /dev/null
  python3 "$HERE/make_reference.py" --model "$WORK/$preset" --preset "$preset" --seed 1 \
    --out "$OUT/reference_$preset.json"
done
