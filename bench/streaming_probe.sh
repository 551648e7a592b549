#!/usr/bin/env bash
# A quick look at weight streaming on a GPU host: the 13B-shaped model under
# 16 and 8 GiB budgets, batch 1 and 16, a few tokens each (about 3 minutes).
# The full comparison with Accelerate is bench/streaming/.
#
#   bench/streaming_probe.sh PKG WORKDIR LOGDIR
#
# PKG: a CUDA package with djinn_bench (bench/resident/run.sh pack ...).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/wait-ready.sh
PKG=$(cd "${1:?PKG}" && pwd); B=${2:?WORKDIR}; L=${3:?LOGDIR}
mkdir -p "$L"
export LD_LIBRARY_PATH=$PKG/lib:/usr/local/cuda/lib64
bench/resident/run.sh "$PKG" "$B" make > "$L/make.log" 2>&1
python3 bench/resident/make_prompts.py --vocab 32000 --out-dir $B/prompts > /dev/null
python3 - <<'PY' > $L/h2d.txt 2>&1
import torch, time
n=1<<30; h=torch.empty(n,dtype=torch.uint8,pin_memory=True); d=torch.empty(n,dtype=torch.uint8,device='cuda')
for _ in range(2): d.copy_(h,non_blocking=True)
torch.cuda.synchronize(); s=torch.cuda.Event(enable_timing=True); e=torch.cuda.Event(enable_timing=True)
s.record(); [d.copy_(h,non_blocking=True) for _ in range(5)]; e.record(); torch.cuda.synchronize()
print("pinned H2D GB/s", 5*n/(s.elapsed_time(e)/1e3)/1e9)
PY
for budget in 16GiB 8GiB; do
  $PKG/bin/djinnd --device=cuda --vram-budget=$budget --listen=127.0.0.1:0 --metrics-listen= --model-root $B/models 2> $L/djinnd-$budget.log &
  pid=$!
  ready=$(wait_for_ready $L/djinnd-$budget.log $pid 60) || { echo "djinnd not ready"; cat $L/djinnd-$budget.log; exit 1; }
  addr=127.0.0.1:$(ready_port "$ready" grpc)
  start=$(date +%s.%N)
  $PKG/bin/djinnctl --addr $addr load m llama2-13b --max-context 192 --max-sequences 16 > $L/load-$budget.txt 2>&1
  end=$(date +%s.%N); echo "load $budget: $(awk "BEGIN{print $end - $start}") s" >> $L/load-$budget.txt
  $PKG/bin/djinnctl --addr $addr plan m >> $L/load-$budget.txt 2>&1
  $PKG/bin/djinn_bench --addr $addr --prompt-file $B/prompts/decode-b1.txt --concurrency 1 --max-tokens 12 --repeat 1 --warmup 1 --out $L/b1-$budget.json > $L/b1-$budget.txt 2>&1
  $PKG/bin/djinn_bench --addr $addr --prompt-file $B/prompts/decode-b16.txt --concurrency 16 --max-tokens 8 --repeat 1 --warmup 0 --out $L/b16-$budget.json > $L/b16-$budget.txt 2>&1
  $PKG/bin/djinnctl --addr $addr stats --json > $L/stats-$budget.json 2>&1
  kill -TERM $pid; wait $pid
done
