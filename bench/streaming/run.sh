#!/usr/bin/env bash
# The streaming benchmark: Djinn and HF Accelerate (CPU offload) on the
# Llama-2-13B-shaped fp16 test model (random weights, 26.0 GB) with less GPU
# memory than the model needs: VRAM budgets of 8, 16 and 24 GiB, batch 1 and
# 16, 64-token prompts. See README.md beside this file.
#
#   bench/streaming/run.sh PKG WORKDIR STEP...
#       On the GPU host, each STEP one command well inside 10 minutes:
#         make        bench/resident/run.sh's make step (the model; kept if complete)
#         floors      h2d.py: pinned and pageable host-to-device copy bandwidth
#         djinn       per budget: djinnd, timed load, TTFT, decode at batch 1
#                     and 16, Stats, peak device memory (nvidia-smi)
#         accelerate  per budget, a fresh python: accelerate_bench.py, peak
#                     device memory measured the same way
#         report      report.py: the markdown table (also WORKDIR/results/streaming/report.md)
#       PKG: a CUDA package with bin/djinn_bench (bench/resident/run.sh pack
#       BUILD_DIR PKG). Results: WORKDIR/results/streaming/*.json. Logs:
#       $LOG_DIR, else $OUT, else WORKDIR/logs (streaming-STEP.log, djinnd logs,
#       nvidia-smi samples, report.md, a copy of the results).
#
# Environment: BUDGETS (default "8 16 24"; GiB, or with a unit: "512MiB"),
# PYTHON (python3 with torch, transformers, accelerate), MAX_CONTEXT (192),
# MAX_SEQUENCES (16), DJINN_TOKENS (32 per decode request), DJINN_TTFT_REPEAT
# (3), ACC_STEPS_B1 (4), ACC_STEPS_B16 (3), ACC_TTFT_REPEAT (2), CPU_MEMORY
# (Accelerate's max_memory for "cpu", 120GiB), SLACK_MIB (64), CUDA_LIB_DIRS,
# PRESET (llama2-13b), DEVICE (cuda; cpu only to try the djinn step's
# plumbing on a machine without a GPU).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

[ $# -ge 3 ] || { sed -n '2,27p' "$0" >&2; exit 2; }
PKG=$(cd "$1" && pwd) || exit 2
mkdir -p "$2" && WORK=$(cd "$2" && pwd) || exit 2
shift 2
LOGS=${LOG_DIR:-${OUT:-$WORK/logs}}
RESULTS=$WORK/results/streaming
PRESET=${PRESET:-llama2-13b}
MODEL_DIR=$WORK/models/$PRESET
PROMPTS=$WORK/prompts
mkdir -p "$LOGS" "$RESULTS" "$WORK/models"
PYTHON=${PYTHON:-python3}
MAX_CONTEXT=${MAX_CONTEXT:-192}
MAX_SEQUENCES=${MAX_SEQUENCES:-16}
DJINN_TOKENS=${DJINN_TOKENS:-32}
DJINN_TTFT_REPEAT=${DJINN_TTFT_REPEAT:-3}
ACC_STEPS_B1=${ACC_STEPS_B1:-4}
ACC_STEPS_B16=${ACC_STEPS_B16:-3}
ACC_TTFT_REPEAT=${ACC_TTFT_REPEAT:-2}
CPU_MEMORY=${CPU_MEMORY:-120GiB}
SLACK_MIB=${SLACK_MIB:-64}
DEVICE=${DEVICE:-cuda}
cuda_libs=${CUDA_LIB_DIRS:-/usr/local/cuda/lib64:/usr/local/cuda/targets/x86_64-linux/lib}
# The package's libraries for Djinn's binaries only (python's torch brings its own).
DJINN_LD=$PKG/lib:$cuda_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
djinn() { LD_LIBRARY_PATH="$DJINN_LD" "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
seconds() { echo "$(($1 / 1000)).$(printf %03d $(($1 % 1000)))"; }  # ms -> "s.mmm"
# Every command that measures something, for the report.
record() { echo "$(date -u +%FT%TZ) $*" >> "$RESULTS/commands.txt"; }
# The results beside the logs too (small), after every budget and at the end of
# every step, so that they come back with $OUT even if a command is cut off at
# its time limit; report.py --results DIR makes the report from such a copy anywhere.
save_results() {
  mkdir -p "$LOGS/results-streaming"
  cp "$RESULTS"/* "$LOGS/results-streaming/" 2> /dev/null
  return 0
}

# Budgets as djinnd and Accelerate both spell them: "8" -> "8GiB".
BUDGET_LIST=()
budgets=${BUDGETS:-8 16 24}
for b in ${budgets//,/ }; do
  case "$b" in
    *[0-9]GiB | *[0-9]MiB) ;;
    *[!0-9]* | "") echo "run.sh: budget '$b' is neither a number of GiB nor NGiB/NMiB" >&2; exit 2 ;;
    *) b=${b}GiB ;;
  esac
  BUDGET_LIST+=("$b")
done
budget_mib() { case "$1" in *GiB) echo $((${1%GiB} * 1024)) ;; *MiB) echo "${1%MiB}" ;; esac; }

need_model() {
  [ -f "$MODEL_DIR/.complete" ] || { echo "run.sh: $MODEL_DIR missing; run the make step first" >&2; return 1; }
}

need_prompts() {  # the resident benchmark's prompts: decode-b1.txt and decode-b16.txt (64 tokens each)
  [ -f "$PROMPTS/decode-b16.txt" ] && return 0
  local vocab
  vocab=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["vocab_size"])' "$MODEL_DIR/config.json") ||
    return 1
  "$PYTHON" "$root/bench/resident/make_prompts.py" --vocab "$vocab" --out-dir "$PROMPTS"
}

# "From the page cache": read the model once before loading it; from the page
# cache that takes seconds (the rate printed tells), and afterwards it is cached.
warm_page_cache() {
  local start ms bytes
  bytes=$(du -cb "$MODEL_DIR"/*.safetensors | tail -n 1 | cut -f1)
  start=$(now_ms)
  cat "$MODEL_DIR"/*.safetensors > /dev/null
  ms=$(($(now_ms) - start))
  echo "page cache: read $((bytes / 1000000)) MB of safetensors in $(seconds "$ms") s" \
    "($((bytes / (ms > 0 ? ms : 1) / 1000000)) GB/s)"
}

# ------------------------------------------------- device memory (nvidia-smi)
# One nvidia-smi sampling every compute process every 50 ms into a CSV
# (timestamp, pid, used MiB), from before a process starts until it has exited;
# the same for djinnd and for Accelerate's python (as tests/gpu/check_memory.sh).
SAMPLER=""
start_sampler() {  # csv
  : > "$1"
  command -v nvidia-smi > /dev/null || { echo "no nvidia-smi: device memory not sampled"; return 0; }
  # Line-buffered (stdbuf execs nvidia-smi, so $! stays nvidia-smi): its output goes to a
  # file, and a block-buffered tail would be lost when it is killed below.
  local linebuf=()
  command -v stdbuf > /dev/null && linebuf=(stdbuf -oL)
  "${linebuf[@]}" nvidia-smi --query-compute-apps=timestamp,pid,used_memory --format=csv,noheader,nounits -lms 50 \
    >> "$1" 2> "$1.err" &
  SAMPLER=$!
  sleep 0.3
  if ! kill -0 "$SAMPLER" 2> /dev/null; then
    echo "nvidia-smi -lms refused ($(head -c 200 "$1.err")); polling in a loop"
    (while :; do
      nvidia-smi --query-compute-apps=timestamp,pid,used_memory --format=csv,noheader,nounits
      sleep 0.05
    done >> "$1") &
    SAMPLER=$!
  fi
}
stop_sampler() {
  [ -n "$SAMPLER" ] || return 0
  sleep 0.3
  kill "$SAMPLER" 2> /dev/null
  wait "$SAMPLER" 2> /dev/null
  SAMPLER=""
}
# The largest sample of process PID -> JSON. If nvidia-smi never lists the pid
# (another pid namespace), the largest per-timestamp total of every process is
# taken instead (pid_matched false): only the measured process uses the GPU then.
write_peak() {  # csv pid out.json
  [ -s "$1.err" ] || rm -f "$1.err"
  awk -F', *' -v pid="$2" '
    $3 ~ /^[0-9]+$/ {
      if ($2 == pid) { n++; if ($3 + 0 > peak) peak = $3 + 0 }
      total[$1] += $3; all++
    }
    END {
      for (t in total) if (total[t] > any) any = total[t]
      if (n > 0) printf "{\"pid\": %d, \"samples\": %d, \"peak_mib\": %d, \"pid_matched\": true}\n", pid, n, peak
      else printf "{\"pid\": %d, \"samples\": %d, \"peak_mib\": %s, \"pid_matched\": false}\n", pid, all, all ? any : "null"
    }' "$1" > "$3"
  echo "device memory (nvidia-smi, 50 ms samples): $(cat "$3")"
}
used_by() {  # MiB used by process $1 now; empty if not listed
  command -v nvidia-smi > /dev/null || return 0
  nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits |
    awk -F', *' -v pid="$1" '$1 == pid { print $2 }'
}

PID=""
PYPID=""
stop_djinnd() {  # SIGTERM, then SIGKILL if it has not exited 20 s later
  [ -n "$PID" ] || return 0
  kill -TERM "$PID" 2> /dev/null
  for _ in $(seq 200); do
    kill -0 "$PID" 2> /dev/null || break
    sleep 0.1
  done
  kill -9 "$PID" 2> /dev/null
  wait "$PID" 2> /dev/null
}
cleanup() {
  [ -n "$PID" ] && kill -9 "$PID" 2> /dev/null
  [ -n "$PYPID" ] && kill -9 "$PYPID" 2> /dev/null
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2> /dev/null
}
trap cleanup EXIT

# ------------------------------------------------------------------ steps
step_make() {
  PRESET=$PRESET LOG_DIR=$LOGS "$root/bench/resident/run.sh" "$PKG" "$WORK" make
}

step_floors() {
  record "python3 bench/streaming/h2d.py"
  PYTHONUNBUFFERED=1 "$PYTHON" "$here/h2d.py" --out "$RESULTS/h2d.json"
}

bench() {  # label prompt-file concurrency max-tokens repeat warmup out-dir
  record "djinn_bench --prompt-file $2 --concurrency $3 --max-tokens $4 --repeat $5 --warmup $6  # $1"
  echo "-- djinn_bench $1"
  djinn timeout 300 "$PKG/bin/djinn_bench" --addr "$ADDR" --model m --prompt-file "$2" --concurrency "$3" \
    --max-tokens "$4" --repeat "$5" --warmup "$6" --label "$1" --out "$7/djinn-$1.json" > /dev/null
}

djinn_budget() {  # budget
  local b=$1 mib log ready max used overhead start load_ms
  mib=$(budget_mib "$b")
  log=$LOGS/djinnd-$b.log
  echo "---------------- djinnd --vram-budget=$b"
  start_sampler "$LOGS/nvml-djinn-$b.csv"
  record "djinnd --device=$DEVICE --vram-budget=$b --model-root $WORK/models"
  # env execs djinnd, so $! is djinnd itself (a function in the background would be a subshell).
  env LD_LIBRARY_PATH="$DJINN_LD" "$PKG/bin/djinnd" --device="$DEVICE" --vram-budget="$b" --listen=127.0.0.1:0 \
    --metrics-listen= --model-root="$WORK/models" 2> "$log" &
  PID=$!
  # On failure PID stays set: the caller's stop_djinnd ends a daemon that is up but not ready.
  ready=$(wait_for_ready "$log" "$PID" 120) || return 1
  ADDR=127.0.0.1:$(ready_port "$ready" grpc)
  grep -m1 '"msg":"device"' "$log" || true
  # The CUDA context's overhead: what the process holds beyond its budget with no model.
  sleep 1
  max=0
  for _ in 1 2 3 4 5; do
    used=$(used_by "$PID")
    [ -n "$used" ] && [ "$used" -gt "$max" ] && max=$used
    sleep 0.2
  done
  overhead=null
  [ "$max" -gt 0 ] && overhead=$((max - mib)) && echo "before the load djinnd holds $max MiB: budget $mib + context $overhead MiB"
  record "djinnctl load m $PRESET --max-context $MAX_CONTEXT --max-sequences $MAX_SEQUENCES"
  start=$(now_ms)
  djinn timeout 300 "$PKG/bin/djinnctl" --addr "$ADDR" load m "$PRESET" --max-context "$MAX_CONTEXT" \
    --max-sequences "$MAX_SEQUENCES" > "$LOGS/djinn-$b-load.txt" 2>&1 || { cat "$LOGS/djinn-$b-load.txt"; return 1; }
  load_ms=$(($(now_ms) - start))
  tail -n 1 "$LOGS/djinn-$b-load.txt"
  echo "loaded in $(seconds "$load_ms") s"
  # The daemon's own start and end of the load (its log's timestamps).
  grep -E '"msg":"(loading model|model ready)"' "$log" > "$RESULTS/djinn-$b-load-log.jsonl"
  djinn "$PKG/bin/djinnctl" --addr "$ADDR" plan m | tee "$RESULTS/djinn-$b-plan.txt"
  djinn "$PKG/bin/djinnctl" --addr "$ADDR" stats --json > "$RESULTS/djinn-$b-stats-loaded.json"
  echo "{\"budget\": \"$b\", \"budget_mib\": $mib, \"device\": \"$DEVICE\", \"load_s\": $(seconds "$load_ms")," \
    "\"context_overhead_mib\": $overhead, \"max_context\": $MAX_CONTEXT, \"max_sequences\": $MAX_SEQUENCES," \
    "\"pid\": $PID, \"package\": \"$(head -n 2 "$PKG/MANIFEST.txt" 2> /dev/null | tr '\n' ' ' | tr -d '"[:cntrl:]\134')\"}" \
    > "$RESULTS/djinn-$b-meta.json"

  # TTFT: the 64-token prompt alone, max_tokens 1. Then short warm-up runs of
  # each shape (they record the decode steps' CUDA graphs), then the decode runs.
  bench "$b-ttft" "$PROMPTS/decode-b1.txt" 1 1 "$DJINN_TTFT_REPEAT" 1 "$RESULTS" || return 1
  bench "$b-warm-b1" "$PROMPTS/decode-b1.txt" 1 4 1 0 "$LOGS" || return 1
  bench "$b-decode-b1" "$PROMPTS/decode-b1.txt" 1 "$DJINN_TOKENS" 1 0 "$RESULTS" || return 1
  bench "$b-warm-b16" "$PROMPTS/decode-b16.txt" 16 4 1 0 "$LOGS" || return 1
  bench "$b-decode-b16" "$PROMPTS/decode-b16.txt" 16 "$DJINN_TOKENS" 1 0 "$RESULTS" || return 1
  djinn "$PKG/bin/djinnctl" --addr "$ADDR" stats --json > "$RESULTS/djinn-$b-stats-after.json"
  stop_djinnd
  stop_sampler
  write_peak "$LOGS/nvml-djinn-$b.csv" "$PID" "$RESULTS/djinn-$b-memory.json"
  PID=""
  "$PYTHON" - "$RESULTS" "$b" << 'EOF'
import json, os, sys
results, b = sys.argv[1], sys.argv[2]
for part in ("ttft", "decode-b1", "decode-b16"):
    r = json.load(open(os.path.join(results, "djinn-%s-%s.json" % (b, part))))
    s = r["summary"]
    line = "%-6s %-10s ttft %8.1f ms" % (b, part, s["ttft_s"] * 1e3)
    if r["max_tokens"] > 1:
        line += "  decode %8.1f ms/step, %7.1f tokens/s" % (s["decode_s_per_token"] * 1e3, s["decode_tokens_per_s"])
    print(line)
EOF
}

step_djinn() {
  need_model || return 1
  need_prompts || return 1
  trap cleanup EXIT # this runs in run_step's pipeline subshell: stop djinnd on any way out
  [ -x "$PKG/bin/djinn_bench" ] || { echo "run.sh: $PKG/bin/djinn_bench missing (bench/resident/run.sh pack BUILD_DIR PKG)" >&2; return 1; }
  # shellcheck source=SCRIPTDIR/../../scripts/wait-ready.sh
  . "$root/scripts/wait-ready.sh"
  warm_page_cache
  local b failed=""
  for b in "${BUDGET_LIST[@]}"; do
    # A budget that fails is left out; the others still run.
    if ! djinn_budget "$b"; then
      failed="$failed $b"
      stop_djinnd
      PID=""
      stop_sampler
    fi
    save_results
  done
  [ -z "$failed" ] || { echo "djinn step FAILED at:$failed (see djinnd-BUDGET.log)"; return 1; }
}

step_accelerate() {
  need_model || return 1
  need_prompts || return 1
  trap cleanup EXIT
  warm_page_cache
  local b status failed=""
  for b in "${BUDGET_LIST[@]}"; do
    echo "---------------- Accelerate, max_memory {0: $b, cpu: $CPU_MEMORY}"
    rm -f "$RESULTS/accelerate-$b.json" "$RESULTS/accelerate-$b-memory.json"  # no stale figures if this run fails
    start_sampler "$LOGS/nvml-accelerate-$b.csv"
    record "python3 bench/streaming/accelerate_bench.py --model $MODEL_DIR --budget $b --cpu-memory $CPU_MEMORY" \
      "--ttft-repeat $ACC_TTFT_REPEAT --steps-b1 $ACC_STEPS_B1 --steps-b16 $ACC_STEPS_B16"
    # A simple command in the background: $! is python itself, whose memory nvidia-smi lists.
    PYTHONUNBUFFERED=1 "$PYTHON" "$here/accelerate_bench.py" --model "$MODEL_DIR" --prompts "$PROMPTS" --budget "$b" \
      --cpu-memory "$CPU_MEMORY" --ttft-repeat "$ACC_TTFT_REPEAT" --steps-b1 "$ACC_STEPS_B1" \
      --steps-b16 "$ACC_STEPS_B16" --out "$RESULTS/accelerate-$b.json" &
    PYPID=$!
    wait "$PYPID"
    status=$?
    stop_sampler
    write_peak "$LOGS/nvml-accelerate-$b.csv" "$PYPID" "$RESULTS/accelerate-$b-memory.json"
    PYPID=""
    [ "$status" -eq 0 ] || { echo "accelerate_bench.py exited $status at $b"; failed="$failed $b"; }
    save_results
  done
  [ -z "$failed" ] || { echo "accelerate step FAILED at:$failed"; return 1; }
}

step_report() {
  "$PYTHON" "$here/report.py" --work "$WORK" --preset "$PRESET" --budgets "${BUDGET_LIST[*]}" \
    --slack-mib "$SLACK_MIB" --out "$RESULTS/report.md" && cp "$RESULTS/report.md" "$LOGS/report.md"
}

run_step() {
  local name=$1 fn=$2 start status
  start=$(date +%s)
  echo "== bench/streaming $name  $(date -u +%FT%TZ)  $(hostname)  budgets: ${BUDGET_LIST[*]}" |
    tee "$LOGS/streaming-$name.log"
  "$fn" 2>&1 | tee -a "$LOGS/streaming-$name.log"
  status=${PIPESTATUS[0]}
  save_results
  echo "== bench/streaming $name: exit $status after $(($(date +%s) - start)) s" | tee -a "$LOGS/streaming-$name.log"
  return "$status"
}

for step in "$@"; do
  case "$step" in
    make) run_step make step_make || exit 1 ;;
    floors) run_step floors step_floors || exit 1 ;;
    djinn) run_step djinn step_djinn || exit 1 ;;
    accelerate) run_step accelerate step_accelerate || exit 1 ;;
    report) run_step report step_report || exit 1 ;;
    *) echo "run.sh: unknown step '$step' (make, floors, djinn, accelerate, report)" >&2; exit 2 ;;
  esac
done
