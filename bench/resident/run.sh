#!/usr/bin/env bash
# The resident-model speed benchmark: Djinn and transformers on the
# Llama-2-13B-shaped fp16 test model (random weights, 26.0 GB), fully in GPU
# memory, on the same prompts. See README.md beside this file.
#
#   bench/resident/run.sh pack BUILD_DIR PKG
#       On the build machine: copies BUILD_DIR/bench/djinn_bench into PKG/bin
#       (and any library it needs that PKG/lib lacks).
#   bench/resident/run.sh PKG WORKDIR STEP...
#       On the GPU host, each STEP one command of at most 10 minutes:
#         make      djinnctl make-test-model --preset llama2-13b (26 GB; kept if complete)
#         floors    floors.py: D2D copy bandwidth, cuBLAS fp16 GEMM rates
#         djinn     djinnd + djinn_bench: TTFT at 64/512/2048, decode at batch 1 and 16
#                   (djinn-ttft / djinn-decode: either half alone, if one command is short of time)
#         hf        hf_bench.py: transformers, the same measurements
#         report    report.py: the markdown table (also WORKDIR/results/report.md)
#       Results: WORKDIR/results/*.json. Logs: $LOG_DIR, else $OUT, else
#       WORKDIR/logs (bench-STEP.log, djinnd.log, report.md).
#
# Environment: PYTHON (python3 with torch + transformers), BUDGET (djinnd
# --vram-budget, default 64GiB), MAX_CONTEXT (2304), MAX_SEQUENCES (16),
# MAX_TOKENS (128), CUDA_LIB_DIRS, PRESET (llama2-13b; e.g. llama-1b for a
# quick trial of the whole sequence; the targets are defined for llama2-13b).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

# ------------------------------------------------------------------ pack
if [ "${1:-}" = "pack" ]; then
  [ $# -eq 3 ] || { echo "usage: $0 pack BUILD_DIR PKG" >&2; exit 2; }
  set -e
  binary=$2/bench/djinn_bench
  [ -x "$binary" ] || { echo "run.sh: $binary missing; ninja -C $2 djinn_bench" >&2; exit 1; }
  "$root/scripts/pack-binary.sh" "$binary" "$3"
  exit 0
fi

[ $# -ge 3 ] || { sed -n '2,25p' "$0" >&2; exit 2; }
PKG=$(cd "$1" && pwd) || exit 2
mkdir -p "$2" && WORK=$(cd "$2" && pwd) || exit 2
shift 2
LOGS=${LOG_DIR:-${OUT:-$WORK/logs}}
RESULTS=$WORK/results
PRESET=${PRESET:-llama2-13b}
MODEL_DIR=$WORK/models/$PRESET
PROMPTS=$WORK/prompts
mkdir -p "$LOGS" "$RESULTS" "$WORK/models"
PYTHON=${PYTHON:-python3}
BUDGET=${BUDGET:-64GiB}
MAX_CONTEXT=${MAX_CONTEXT:-2304}
MAX_SEQUENCES=${MAX_SEQUENCES:-16}
MAX_TOKENS=${MAX_TOKENS:-128}
cuda_libs=${CUDA_LIB_DIRS:-/usr/local/cuda/lib64:/usr/local/cuda/targets/x86_64-linux/lib}
# The package's libraries for Djinn's binaries only (python's torch brings its own).
DJINN_LD=$PKG/lib:$cuda_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
djinn() { LD_LIBRARY_PATH="$DJINN_LD" "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# Every command that measures something, for the report.
record() { echo "$(date -u +%FT%TZ) $*" >> "$RESULTS/commands.txt"; }

need_model() {
  [ -f "$MODEL_DIR/.complete" ] || { echo "run.sh: $MODEL_DIR missing; run the make step first" >&2; return 1; }
}

need_prompts() {
  [ -f "$PROMPTS/decode-b16.txt" ] && return 0
  local vocab
  vocab=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["vocab_size"])' "$MODEL_DIR/config.json") ||
    return 1
  "$PYTHON" "$here/make_prompts.py" --vocab "$vocab" --out-dir "$PROMPTS"
}

# ------------------------------------------------------------------ steps
step_make() {
  if [ -f "$MODEL_DIR/.complete" ]; then
    echo "kept $MODEL_DIR ($(du -sh "$MODEL_DIR" | cut -f1))"
    return 0
  fi
  local free start ms
  free=$(df -B1 --output=avail "$WORK" | tail -n 1)
  echo "free disk at $WORK: $((free / 1000000000)) GB (llama2-13b needs 26.0 GB)"
  [ "$PRESET" != llama2-13b ] || [ "$free" -gt 27000000000 ] || { echo "run.sh: not enough disk space" >&2; return 1; }
  rm -rf "$MODEL_DIR"
  start=$(now_ms)
  record "djinnctl make-test-model --preset $PRESET --out $MODEL_DIR"
  djinn "$PKG/bin/djinnctl" make-test-model --preset "$PRESET" --out "$MODEL_DIR" || return 1
  ms=$(($(now_ms) - start))
  touch "$MODEL_DIR/.complete"
  sync
  echo "{\"make_s\": $((ms / 1000)).$(printf %03d $((ms % 1000))), \"bytes\": $(du -sb "$MODEL_DIR" | cut -f1)}" \
    > "$RESULTS/make.json"
  echo "made $MODEL_DIR in $((ms / 1000)) s"
}

step_floors() {
  need_model || return 1
  record "python3 bench/resident/floors.py --config $MODEL_DIR/config.json"
  PYTHONUNBUFFERED=1 "$PYTHON" "$here/floors.py" --config "$MODEL_DIR/config.json" --out "$RESULTS/floors.json"
}

PID=""
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2> /dev/null; }
trap cleanup EXIT

bench() {  # label prompt-file concurrency max-tokens repeat
  local label=$1
  shift
  record "djinn_bench --prompt-file $1 --concurrency $2 --max-tokens $3 --repeat $4 --warmup 1"
  echo "-- djinn_bench $label"
  djinn timeout 400 "$PKG/bin/djinn_bench" --addr "$ADDR" --model m --prompt-file "$1" --concurrency "$2" \
    --max-tokens "$3" --repeat "$4" --warmup 1 --label "$label" --out "$RESULTS/djinn-$label.json" > /dev/null
}

step_djinn_parts() {  # parts: ttft and/or decode
  need_model || return 1
  need_prompts || return 1
  trap cleanup EXIT # this runs in run_step's pipeline subshell: stop djinnd on any way out
  [ -x "$PKG/bin/djinn_bench" ] || { echo "run.sh: $PKG/bin/djinn_bench missing (run.sh pack BUILD_DIR PKG)" >&2; return 1; }
  # shellcheck source=SCRIPTDIR/../../scripts/wait-ready.sh
  . "$root/scripts/wait-ready.sh"
  local log=$LOGS/djinnd.log ready start load_ms part
  record "djinnd --device=cuda --vram-budget=$BUDGET --model-root $WORK/models"
  # env execs djinnd, so $! is djinnd itself (a function in the background would be a subshell).
  env LD_LIBRARY_PATH="$DJINN_LD" "$PKG/bin/djinnd" --device=cuda --vram-budget="$BUDGET" --listen=127.0.0.1:0 --metrics-listen= \
    --model-root="$WORK/models" 2> "$log" &
  PID=$!
  ready=$(wait_for_ready "$log" "$PID" 120) || { PID=""; return 1; }
  ADDR=127.0.0.1:$(ready_port "$ready" grpc)
  grep -m1 '"msg":"device"' "$log" || true
  start=$(now_ms)
  record "djinnctl load m $PRESET --max-context $MAX_CONTEXT --max-sequences $MAX_SEQUENCES"
  djinn "$PKG/bin/djinnctl" --addr "$ADDR" load m "$PRESET" --max-context "$MAX_CONTEXT" \
    --max-sequences "$MAX_SEQUENCES" || return 1
  load_ms=$(($(now_ms) - start))
  echo "loaded in $load_ms ms"
  djinn "$PKG/bin/djinnctl" --addr "$ADDR" list --json > "$RESULTS/djinn-model.json"
  djinn "$PKG/bin/djinnctl" --addr "$ADDR" stats --json > "$RESULTS/djinn-stats.json"
  echo "{\"load_s\": $((load_ms / 1000)).$(printf %03d $((load_ms % 1000))), \"budget\": \"$BUDGET\"," \
    "\"max_context\": $MAX_CONTEXT, \"max_sequences\": $MAX_SEQUENCES," \
    "\"package\": \"$(head -n 2 "$PKG/MANIFEST.txt" 2> /dev/null | tr '\n' ' ' | tr -d '"')\"}" \
    > "$RESULTS/djinn-meta.json"
  for part in "$@"; do
    case "$part" in
      ttft)
        for length in 64 512 2048; do
          bench "ttft-$length" "$PROMPTS/ttft-$length.txt" 1 1 5 || return 1
        done
        ;;
      decode)
        bench decode-b1 "$PROMPTS/decode-b1.txt" 1 "$MAX_TOKENS" 3 || return 1
        bench decode-b16 "$PROMPTS/decode-b16.txt" 16 "$MAX_TOKENS" 2 || return 1
        ;;
    esac
  done
  djinn "$PKG/bin/djinnctl" --addr "$ADDR" stats --json > "$RESULTS/djinn-stats-after.json"
  kill -TERM "$PID"
  wait "$PID"
  PID=""
  "$PYTHON" - "$RESULTS" << 'EOF'
import glob, json, os, sys
for path in sorted(glob.glob(os.path.join(sys.argv[1], "djinn-*-*.json"))):
    r = json.load(open(path))
    if r.get("tool") != "djinn_bench":
        continue
    s = r["summary"]
    line = "%-12s ttft %8.2f ms (daemon's own %.2f ms)" % (r["label"], s["ttft_s"] * 1e3, s["server_ttft_s"] * 1e3)
    if r["max_tokens"] > 1:
        line += "  decode %7.2f ms/token per sequence, %8.1f tokens/s in all" % (
            s["decode_s_per_token"] * 1e3, s["decode_tokens_per_s"])
    print(line)
EOF
}

step_hf() {
  need_model || return 1
  need_prompts || return 1
  record "python3 bench/resident/hf_bench.py --model $MODEL_DIR --max-tokens $MAX_TOKENS"
  PYTHONUNBUFFERED=1 "$PYTHON" "$here/hf_bench.py" --model "$MODEL_DIR" --prompts "$PROMPTS" \
    --max-tokens "$MAX_TOKENS" --out "$RESULTS/hf.json"
}

step_report() {
  "$PYTHON" "$here/report.py" --work "$WORK" --preset "$PRESET" --out "$RESULTS/report.md" && cp "$RESULTS/report.md" "$LOGS/report.md"
}

run_step() {
  local name=$1 fn=$2 start status
  shift 2
  start=$(date +%s)
  echo "== bench/resident $name  $(date -u +%FT%TZ)  $(hostname)" | tee "$LOGS/bench-$name.log"
  "$fn" "$@" 2>&1 | tee -a "$LOGS/bench-$name.log"
  status=${PIPESTATUS[0]}
  echo "== bench/resident $name: exit $status after $(($(date +%s) - start)) s" | tee -a "$LOGS/bench-$name.log"
  return "$status"
}

for step in "$@"; do
  case "$step" in
    make) run_step make step_make || exit 1 ;;
    floors) run_step floors step_floors || exit 1 ;;
    djinn) run_step djinn step_djinn_parts ttft decode || exit 1 ;;
    djinn-ttft) run_step djinn-ttft step_djinn_parts ttft || exit 1 ;;
    djinn-decode) run_step djinn-decode step_djinn_parts decode || exit 1 ;;
    hf) run_step hf step_hf || exit 1 ;;
    report) run_step report step_report || exit 1 ;;
    *) echo "run.sh: unknown step '$step' (make, floors, djinn, djinn-ttft, djinn-decode, hf, report)" >&2; exit 2 ;;
  esac
done
