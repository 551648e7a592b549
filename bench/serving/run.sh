#!/usr/bin/env bash
# Serving many clients on one GPU: the Llama-2-13B-shaped fp16 test model
# (26.0 GB) under a VRAM budget (default 16 GiB), 32 and 64 concurrent
# clients, 128-token prompts, 128 new tokens each, greedy. djinn_bench (the
# load generator, bench/djinn_bench.cc) reports aggregate tokens/s and the
# time to first token and inter-token latency at p50 and p99; the report sets
# them against the copy floor of the batch reached: every pass copies the
# streamed layers once, so B sequences can get at most B tokens per
# (streamed bytes / pinned H2D bandwidth).
#
#   bench/serving/run.sh PKG WORKDIR      (on a GPU host; about 4 minutes)
#
# PKG: a CUDA package with bin/djinn_bench (bench/resident/run.sh pack ...).
# The model is bench/resident/run.sh's (made if missing). Results in
# WORKDIR/results/serving/, logs in $LOG_DIR, else $OUT, else WORKDIR/logs.
# Then the baseline: HF Accelerate (bench/streaming/accelerate_bench.py's
# load, the same max_memory) serving the same requests in static batches of
# N, its throughput estimated from the measured prefill and step times.
# Accelerate's max_memory bounds only its weights: its KV cache and
# activations come on top (at 16GiB it peaked at 25 GiB). ACCELERATE_PEAK
# ("32:6GiB 64:1GiB") runs it again per batch with a smaller max_memory, so
# that its peak GPU memory stays within the budget Djinn had in total.
# Environment: BUDGET (16GiB), CLIENTS ("32 64"), PROMPT_TOKENS (128),
# NEW_TOKENS (128), PYTHON (python3 with torch, transformers, accelerate),
# ACCELERATE (1; 0 skips the baseline), ACCELERATE_PEAK (""), CPU_MEMORY (120GiB).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/scripts/wait-ready.sh"
[ $# -eq 2 ] || { sed -n '2,24p' "$0" >&2; exit 2; }
PKG=$(cd "$1" && pwd) || exit 2
mkdir -p "$2" && WORK=$(cd "$2" && pwd) || exit 2
LOGS=${LOG_DIR:-${OUT:-$WORK/logs}}
RESULTS=$WORK/results/serving
mkdir -p "$LOGS" "$RESULTS" "$WORK/prompts"
BUDGET=${BUDGET:-16GiB}
CLIENTS=${CLIENTS:-"32 64"}
PROMPT_TOKENS=${PROMPT_TOKENS:-128}
NEW_TOKENS=${NEW_TOKENS:-128}
PYTHON=${PYTHON:-python3}
ACCELERATE=${ACCELERATE:-1}
CPU_MEMORY=${CPU_MEMORY:-120GiB}
export LD_LIBRARY_PATH=$PKG/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

"$root/bench/resident/run.sh" "$PKG" "$WORK" make > "$LOGS/serving-make.log" 2>&1 || { cat "$LOGS/serving-make.log"; exit 1; }
# 64 different prompts: BOS + uniform ids, fixed seed (the same on every machine).
"$PYTHON" - "$WORK/prompts/serving-$PROMPT_TOKENS.txt" "$PROMPT_TOKENS" <<'PY'
import random, sys
rng = random.Random(20261125)
with open(sys.argv[1], "w") as f:
    for _ in range(64):
        f.write(" ".join(map(str, [1] + [rng.randrange(3, 32000) for _ in range(int(sys.argv[2]) - 1)])) + "\n")
PY
"$PYTHON" "$root/bench/streaming/h2d.py" --out "$RESULTS/h2d.json" > "$LOGS/serving-h2d.log" 2>&1 ||
  echo "h2d.py failed (see $LOGS/serving-h2d.log): no copy floor in the report"

status=0
for clients in $CLIENTS; do
  log=$LOGS/djinnd-serving-$clients.log
  "$PKG/bin/djinnd" --device=cuda --vram-budget="$BUDGET" --listen=127.0.0.1:0 --metrics-listen= \
    --model-root="$WORK/models" 2> "$log" &
  pid=$!
  if ready=$(wait_for_ready "$log" "$pid" 120); then
    addr=127.0.0.1:$(ready_port "$ready" grpc)
    # Room for every client at once: each holds prompt + new tokens of KV.
    "$PKG/bin/djinnctl" --addr "$addr" load m llama2-13b --max-context $((PROMPT_TOKENS + NEW_TOKENS)) \
      --max-sequences "$clients" > "$RESULTS/load-$clients.txt" 2>&1 &&
      "$PKG/bin/djinnctl" --addr "$addr" plan m > "$RESULTS/plan-$clients.txt" 2>&1 &&
      # A short round first records the decode steps of every batch size.
      "$PKG/bin/djinn_bench" --addr "$addr" --prompt-file "$WORK/prompts/serving-$PROMPT_TOKENS.txt" \
        --concurrency "$clients" --max-tokens 4 --repeat 1 --warmup 0 > /dev/null 2>&1 &&
      "$PKG/bin/djinn_bench" --addr "$addr" --prompt-file "$WORK/prompts/serving-$PROMPT_TOKENS.txt" \
        --concurrency "$clients" --max-tokens "$NEW_TOKENS" --repeat 1 --warmup 0 --label "clients-$clients" \
        --out "$RESULTS/djinn-$clients.json" > "$LOGS/serving-bench-$clients.log" 2>&1 &&
      "$PKG/bin/djinnctl" --addr "$addr" stats --json > "$RESULTS/stats-$clients.json" 2>&1 ||
      { echo "clients $clients: FAILED (see $LOGS)"; status=1; }
  else
    status=1
  fi
  kill -TERM "$pid" 2> /dev/null
  wait "$pid" 2> /dev/null
done
if [ "$ACCELERATE" = 1 ]; then
  # torch brings its own CUDA libraries: not the package's.
  env LD_LIBRARY_PATH= "$PYTHON" "$root/bench/streaming/accelerate_bench.py" --model "$WORK/models/llama2-13b" \
    --prompts "$WORK/prompts" --budget "$BUDGET" --cpu-memory "$CPU_MEMORY" \
    --serving-prompts "$WORK/prompts/serving-$PROMPT_TOKENS.txt" --serving-batches "$(tr ' ' ',' <<< "$CLIENTS")" \
    --serving-new-tokens "$NEW_TOKENS" --out "$RESULTS/accelerate.json" > "$LOGS/serving-accelerate.log" 2>&1 ||
    { echo "accelerate baseline FAILED (see $LOGS/serving-accelerate.log)"; status=1; }
  grep -E "static batch|max_memory" "$LOGS/serving-accelerate.log"
fi
for spec in ${ACCELERATE_PEAK:-}; do  # BATCH:MAX_MEMORY
  batch=${spec%%:*} budget=${spec#*:}
  env LD_LIBRARY_PATH= "$PYTHON" "$root/bench/streaming/accelerate_bench.py" --model "$WORK/models/llama2-13b" \
    --prompts "$WORK/prompts" --budget "$budget" --cpu-memory "$CPU_MEMORY" \
    --serving-prompts "$WORK/prompts/serving-$PROMPT_TOKENS.txt" --serving-batches "$batch" \
    --serving-new-tokens "$NEW_TOKENS" --out "$RESULTS/accelerate-peak-$batch.json" \
    > "$LOGS/serving-accelerate-peak-$batch.log" 2>&1 ||
    { echo "accelerate at max_memory $budget FAILED (see $LOGS/serving-accelerate-peak-$batch.log)"; status=1; }
  grep -E "static batch|max_memory" "$LOGS/serving-accelerate-peak-$batch.log"
done
"$PYTHON" "$here/report.py" "$RESULTS" | tee "$RESULTS/report.md"
cp -r "$RESULTS" "$LOGS/results-serving" 2> /dev/null
exit $status
