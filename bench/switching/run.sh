#!/usr/bin/env bash
# Switching between two models that share one budget: two Llama-2-13B-shaped
# fp16 models (26.0 GB each, the same files under two names) in one djinnd
# with a 16 GiB budget, requests alternating between them. A request to the
# idle model first promotes its layers back from their pinned host copies,
# into the room the other model's layers give back; the switch costs those
# bytes over PCIe, never a read from disk. The report sets the measured cost
# (time to first token after a switch, minus the same request's time to first
# token with the model already resident) against promoted bytes / pinned H2D
# bandwidth (bench/streaming/h2d.py, same run).
#
#   bench/switching/run.sh PKG WORKDIR      (on a GPU host; about 3 minutes)
#
# PKG: a CUDA package with bin/djinn_bench (bench/resident/run.sh pack ...).
# The model is bench/resident/run.sh's (made if missing). Results in
# WORKDIR/results/switching/, logs in $LOG_DIR, else $OUT, else WORKDIR/logs.
# Environment: BUDGET (16GiB), ROUNDS (3), PROMPT_TOKENS (128),
# NEW_TOKENS (8), CONTEXT (256), SEQUENCES (4), PYTHON (python3).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/scripts/wait-ready.sh"
[ $# -eq 2 ] || { sed -n '2,19p' "$0" >&2; exit 2; }
PKG=$(cd "$1" && pwd) || exit 2
mkdir -p "$2" && WORK=$(cd "$2" && pwd) || exit 2
LOGS=${LOG_DIR:-${OUT:-$WORK/logs}}
RESULTS=$WORK/results/switching
mkdir -p "$LOGS" "$RESULTS" "$WORK/prompts"
BUDGET=${BUDGET:-16GiB}
ROUNDS=${ROUNDS:-3}
PROMPT_TOKENS=${PROMPT_TOKENS:-128}
NEW_TOKENS=${NEW_TOKENS:-8}
CONTEXT=${CONTEXT:-256}
SEQUENCES=${SEQUENCES:-4}
PYTHON=${PYTHON:-python3}
export LD_LIBRARY_PATH=$PKG/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

"$root/bench/resident/run.sh" "$PKG" "$WORK" make > "$LOGS/switching-make.log" 2>&1 || { cat "$LOGS/switching-make.log"; exit 1; }
"$PYTHON" - "$WORK/prompts/switching-$PROMPT_TOKENS.txt" "$PROMPT_TOKENS" <<'PY'
import random, sys
rng = random.Random(20261125)
with open(sys.argv[1], "w") as f:
    f.write(" ".join(map(str, [1] + [rng.randrange(3, 32000) for _ in range(int(sys.argv[2]) - 1)])) + "\n")
PY
"$PYTHON" "$root/bench/streaming/h2d.py" --out "$RESULTS/h2d.json" > "$LOGS/switching-h2d.log" 2>&1 ||
  echo "h2d.py failed (see $LOGS/switching-h2d.log): no bandwidth in the report"

log=$LOGS/djinnd-switching.log
"$PKG/bin/djinnd" --device=cuda --vram-budget="$BUDGET" --listen=127.0.0.1:0 --metrics-listen= \
  --model-root="$WORK/models" 2> "$log" &
pid=$!
status=0
ctl() { "$PKG/bin/djinnctl" --addr "$addr" "$@"; }
bench() {  # MODEL LABEL: one request, its time to first token
  "$PKG/bin/djinn_bench" --addr "$addr" --model "$1" --prompt-file "$WORK/prompts/switching-$PROMPT_TOKENS.txt" \
    --concurrency 1 --max-tokens "$NEW_TOKENS" --repeat 1 --warmup 0 --label "$2" --out "$RESULTS/$2.json" \
    >> "$LOGS/switching-bench.log" 2>&1 && ctl stats --json > "$RESULTS/$2.stats.json"
}
if ready=$(wait_for_ready "$log" "$pid" 120); then
  addr=127.0.0.1:$(ready_port "$ready" grpc)
  { ctl load x llama2-13b --max-context "$CONTEXT" --max-sequences "$SEQUENCES" > "$RESULTS/load-x.txt" 2>&1 &&
    ctl stats --json > "$RESULTS/loaded-x.stats.json" &&
    ctl load y llama2-13b --max-context "$CONTEXT" --max-sequences "$SEQUENCES" > "$RESULTS/load-y.txt" 2>&1 &&
    ctl stats --json > "$RESULTS/loaded-both.stats.json" &&
    # Each model once, to record its decode steps; then the measured turns:
    # a switch (the other model served last), then the same model again.
    bench x prime-x && bench y prime-y &&
    for round in $(seq 1 "$ROUNDS"); do
      for model in x y; do
        bench "$model" "r$round-$model-switch" && bench "$model" "r$round-$model-warm" || exit 1
      done
    done; } || { echo "switching: FAILED (see $LOGS)"; status=1; }
  ctl stats > "$RESULTS/stats-final.txt" 2>&1
else
  status=1
fi
kill -TERM "$pid" 2> /dev/null
wait "$pid" 2> /dev/null
"$PYTHON" "$here/report.py" "$RESULTS" | tee "$RESULTS/report.md"
cp -r "$RESULTS" "$LOGS/results-switching" 2> /dev/null
exit $status
