#!/usr/bin/env bash
# djinnd on the GPU never takes more device memory than its budget plus the
# CUDA context, while it loads a model and generates. On a GPU host:
#
#   tests/gpu/check_memory.sh PKG WORKDIR
#       PKG: a package (bin/djinnd, bin/djinnctl, lib/). WORKDIR: as for
#       check_models.sh; WORKDIR/models/llama-1b-bfloat16 is made if missing.
#       Logs and samples go to $LOG_DIR, else $OUT, else WORKDIR/logs
#       (check_memory.log, check_memory-samples.csv, djinnd logs).
#
# 1. Context overhead: djinnd --device=cuda with --vram-budget=1GiB and then
#    4GiB and no model; the process's device memory as nvidia-smi reports it
#    (--query-compute-apps used_memory) minus the budget is the overhead of
#    the CUDA context, cuBLAS workspace and staging buffers. It must be the
#    same for both budgets (within OVERHEAD_TOLERANCE_MIB, default 32): the
#    budget is one allocation and nothing else scales with it.
# 2. Under load: djinnd with --vram-budget=6GiB; nvidia-smi samples every
#    process's memory every 50 ms in the background from before djinnd
#    starts until it has exited; djinnctl loads llama-1b (bf16, 2.1 GB), then
#    CONCURRENCY (12) generations of 256 tokens run at once (more than the 8
#    KV slots, so some queue). The largest sample of djinnd's memory must not
#    exceed budget + overhead (from step 1) + SLACK_MIB (default 64; kernel
#    modules that CUDA loads lazily on first launch add to the context, not
#    to the budget; the log says how much of it was used).
# 3. `djinnctl stats --json` while loaded: budget = the flag, weights, KV
#    cache and workspace each > 0, weights + ring + KV + workspace + free =
#    budget; after unloading, free = budget again.
# 4. A budget below the smallest plan: llama-1b (116 MiB layers) into 512
#    MiB, less than its fixed weights, workspace, one KV sequence and a
#    two-slot ring (streaming everything else), fails with
#    RESOURCE_EXHAUSTED, and nothing stays taken (free = budget).
#
# Exit 0 when every check passes. Takes under a minute on an H100 (plus
# ~15 s to make the model the first time).
# ok() always succeeds, so `A && ok || fail` is an if-else; cleanup runs from the trap.
# shellcheck disable=SC2015,SC2317
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/wait-ready.sh
. "$here/../../scripts/wait-ready.sh"

[ $# -eq 2 ] || { sed -n '2,32p' "$0" >&2; exit 2; }
PKG=$(cd "$1" && pwd) || exit 2
mkdir -p "$2" && WORK=$(cd "$2" && pwd) || exit 2
LOGS=${LOG_DIR:-${OUT:-$WORK/logs}}
mkdir -p "$LOGS" "$WORK/models"
SLACK_MIB=${SLACK_MIB:-64}
OVERHEAD_TOLERANCE_MIB=${OVERHEAD_TOLERANCE_MIB:-32}
CONCURRENCY=${CONCURRENCY:-12}
BUDGET_GIB=${BUDGET_GIB:-6}
MODEL=llama-1b-bfloat16
cuda_libs=${CUDA_LIB_DIRS:-/usr/local/cuda/lib64:/usr/local/cuda/targets/x86_64-linux/lib}
DJINN_LD=$PKG/lib:$cuda_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
djinn() { LD_LIBRARY_PATH="$DJINN_LD" "$@"; }

exec > >(tee "$LOGS/check_memory.log") 2>&1
echo "== check_memory  $(date -u +%FT%TZ)  $(hostname)"
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total --format=csv

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

PID=""
SAMPLER=""
cleanup() {
  [ -n "$PID" ] && kill -9 "$PID" 2> /dev/null
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2> /dev/null
}
trap cleanup EXIT

if [ ! -f "$WORK/models/$MODEL/.complete" ]; then
  rm -rf "${WORK:?}/models/$MODEL"
  start=$(date +%s)
  djinn "$PKG/bin/djinnctl" make-test-model --preset llama-1b --dtype bfloat16 --out "$WORK/models/$MODEL" || exit 1
  touch "$WORK/models/$MODEL/.complete"
  echo "made $MODEL in $(($(date +%s) - start)) s"
fi

ADDR=""
start_djinnd() {  # budget_gib log [budget flag value] -> sets PID, ADDR
  # env execs djinnd, so $! is djinnd itself (a function in the background would be a subshell).
  env LD_LIBRARY_PATH="$DJINN_LD" "$PKG/bin/djinnd" --device=cuda --vram-budget="${3:-$1GiB}" --listen=127.0.0.1:0 --metrics-listen= \
    --model-root="$WORK/models" 2> "$2" &
  PID=$!
  local ready
  ready=$(wait_for_ready "$2" "$PID" 120) || { PID=""; return 1; }
  ADDR=127.0.0.1:$(ready_port "$ready" grpc)
}
stop_djinnd() {
  kill -TERM "$PID"
  wait "$PID"
  local status=$?
  PID=""
  [ "$status" -eq 0 ] || fail "djinnd exited $status"
}
ctl() { djinn "$PKG/bin/djinnctl" --addr "$ADDR" "$@"; }

# Device memory (MiB) of process $1 now, from nvidia-smi; empty if not listed.
used_by() {
  nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits |
    awk -F', *' -v pid="$1" '$1 == pid { print $2 }'
}

# JSON checks on `stats --json` output (protobuf JSON: uint64 as strings).
# $1 budget bytes, $2 "loaded" or "empty"; stats JSON on stdin.
check_stats() {
  python3 -c '
import json, sys
budget, want = int(sys.argv[1]), sys.argv[2]
stats = json.load(sys.stdin)
m = {k: int(v) for k, v in stats["memory"].items()}
get = lambda k: m.get(k, 0)
parts = get("residentWeightBytes") + get("ringBufferBytes") + get("kvCacheBytes") + get("workspaceBytes")
print("  budget %d, weights %d, ring %d, kv %d (used %d), workspace %d, free %d" % (
    get("budgetBytes"), get("residentWeightBytes"), get("ringBufferBytes"), get("kvCacheBytes"),
    get("kvCacheUsedBytes"), get("workspaceBytes"), get("freeBytes")))
problems = []
if get("budgetBytes") != budget: problems.append("budgetBytes != %d" % budget)
if parts + get("freeBytes") != get("budgetBytes"): problems.append("weights + ring + kv + workspace + free != budget")
if want == "loaded":
    for k in ("residentWeightBytes", "kvCacheBytes", "workspaceBytes"):
        if get(k) <= 0: problems.append(k + " is 0")
else:
    if get("freeBytes") != budget: problems.append("free != budget with no model loaded")
print("  " + ("; ".join(problems) if problems else "split consistent"))
sys.exit(1 if problems else 0)
' "$1" "$2"
}

# ------------------------------------------------------------ 1. overhead
declare -A overhead=()
for gib in 1 4; do
  start_djinnd "$gib" "$LOGS/djinnd-overhead-${gib}GiB.log" || { fail "djinnd --vram-budget=${gib}GiB did not start"; exit 1; }
  sleep 1
  max=0
  for _ in 1 2 3 4 5; do
    used=$(used_by "$PID")
    [ -n "$used" ] && [ "$used" -gt "$max" ] && max=$used
    sleep 0.2
  done
  stop_djinnd
  [ "$max" -gt 0 ] || { fail "nvidia-smi lists no memory for djinnd (pid namespaces?)"; exit 1; }
  overhead[$gib]=$((max - gib * 1024))
  echo "budget ${gib} GiB: djinnd uses ${max} MiB -> overhead ${overhead[$gib]} MiB"
done
delta=$((overhead[4] - overhead[1]))
if [ "${delta#-}" -le "$OVERHEAD_TOLERANCE_MIB" ]; then
  ok "overhead constant: ${overhead[1]} MiB at 1 GiB, ${overhead[4]} MiB at 4 GiB"
else
  fail "overhead differs by $delta MiB between the 1 GiB and 4 GiB budgets"
fi
OVERHEAD=$((overhead[1] > overhead[4] ? overhead[1] : overhead[4]))

# ------------------------------------------------------------ 2. under load
samples=$LOGS/check_memory-samples.csv
: > "$samples"
# One nvidia-smi polling every 50 ms (a loop of nvidia-smi calls if -lms is refused).
nvidia-smi --query-compute-apps=timestamp,pid,used_memory --format=csv,noheader,nounits -lms 50 \
  >> "$samples" 2> "$LOGS/check_memory-sampler.err" &
SAMPLER=$!
sleep 0.5
if ! kill -0 "$SAMPLER" 2> /dev/null; then
  echo "nvidia-smi -lms refused ($(head -c 200 "$LOGS/check_memory-sampler.err")); polling in a loop"
  (while :; do
    nvidia-smi --query-compute-apps=timestamp,pid,used_memory --format=csv,noheader,nounits
    sleep 0.05
  done >> "$samples") &
  SAMPLER=$!
fi

BUDGET_BYTES=$((BUDGET_GIB << 30))
start_djinnd "$BUDGET_GIB" "$LOGS/djinnd-load.log" || { fail "djinnd --vram-budget=${BUDGET_GIB}GiB did not start"; exit 1; }
DJINND_PID=$PID
start=$(date +%s%N)
ctl load m "$MODEL" --max-sequences 8 --max-context 2048 || fail "load $MODEL"
echo "loaded $MODEL in $((($(date +%s%N) - start) / 1000000)) ms"
ctl stats --json > "$LOGS/check_memory-stats-loaded.json"
check_stats "$BUDGET_BYTES" loaded < "$LOGS/check_memory-stats-loaded.json" &&
  ok "stats split after load" || fail "stats split after load"

gen_pids=()
for i in $(seq "$CONCURRENCY"); do
  ctl generate m "Request $i: once upon a time, in a land far away," --max-tokens 256 --ignore-eos \
    > "$LOGS/check_memory-gen-$i.txt" 2> "$LOGS/check_memory-gen-$i.usage" &
  gen_pids+=($!)
done
sleep 2
ctl stats --json > "$LOGS/check_memory-stats-generating.json"
python3 -c 'import json,sys; m=json.load(sys.stdin)["memory"]; print("  while generating: kv used %s of %s bytes" % (m.get("kvCacheUsedBytes", 0), m.get("kvCacheBytes", 0)))' \
  < "$LOGS/check_memory-stats-generating.json"
gen_failed=0
for p in "${gen_pids[@]}"; do wait "$p" || gen_failed=$((gen_failed + 1)); done
[ "$gen_failed" -eq 0 ] && ok "$CONCURRENCY concurrent generations finished" || fail "$gen_failed generations failed"
tail -n 1 "$LOGS/check_memory-gen-1.usage"
ctl unload m || fail "unload"
ctl stats --json | check_stats "$BUDGET_BYTES" empty && ok "everything returned after unload" ||
  fail "memory not returned after unload"
stop_djinnd
sleep 0.5
kill "$SAMPLER" 2> /dev/null
wait "$SAMPLER" 2> /dev/null
SAMPLER=""

n=$(awk -F', *' -v pid="$DJINND_PID" '$2 == pid' "$samples" | wc -l)
peak=$(awk -F', *' -v pid="$DJINND_PID" '$2 == pid && $3 + 0 > max { max = $3 + 0 } END { print max + 0 }' "$samples")
limit=$((BUDGET_GIB * 1024 + OVERHEAD))
echo "under load: $n samples of djinnd (pid $DJINND_PID); peak ${peak} MiB; budget $((BUDGET_GIB * 1024)) MiB +" \
  "overhead ${OVERHEAD} MiB = ${limit} MiB; beyond that: $((peak - limit)) MiB (slack ${SLACK_MIB} MiB)"
if [ "$n" -lt 20 ]; then
  fail "only $n samples of djinnd's memory"
elif [ "$peak" -le $((limit + SLACK_MIB)) ]; then
  ok "peak device memory within budget + context overhead"
else
  fail "peak ${peak} MiB exceeds budget + overhead + slack ($((limit + SLACK_MIB)) MiB)"
fi

# ------------------------------------------------------------ 4. too large
start_djinnd 0 "$LOGS/djinnd-too-large.log" 512MiB || { fail "djinnd --vram-budget=512MiB did not start"; exit 1; }
if ctl load m "$MODEL" > "$LOGS/check_memory-too-large.out" 2>&1; then
  fail "loading $MODEL into 512 MiB succeeded"
elif grep -q RESOURCE_EXHAUSTED "$LOGS/check_memory-too-large.out"; then
  ok "512 MiB budget: $(head -n 1 "$LOGS/check_memory-too-large.out")"
else
  fail "512 MiB budget: expected RESOURCE_EXHAUSTED, got: $(cat "$LOGS/check_memory-too-large.out")"
fi
ctl stats --json | check_stats $((512 << 20)) empty && ok "nothing kept after the failed load" ||
  fail "memory kept after the failed load"
used=$(used_by "$PID")
echo "after the failed load djinnd uses ${used:-?} MiB (budget 512 + overhead ${overhead[1]})"
stop_djinnd

echo
if [ "$failures" -eq 0 ]; then
  echo "check_memory: all checks passed"
else
  echo "check_memory: $failures check(s) FAILED"
fi
exit $((failures > 0))
