#!/usr/bin/env python3
"""The serving benchmark's table, from bench/serving/run.sh's results.

    report.py RESULTS_DIR

Per client count: the batch reached (the KV sequences the plan kept, at most
the clients), the layers streamed, aggregate tokens/s (every token / the
round's wall time), decode tokens/s (batch / median inter-token gap), time to
first token and inter-token latency at p50 and p99, and the copy floor: a pass
copies the streamed bytes once, so the batch gets at most batch tokens per
(streamed bytes / pinned H2D bandwidth). Plain Python.
"""

import glob
import importlib.util
import os
import re
import sys

# The resident benchmark's report reads JSON the same forgiving way (None
# for a missing or partial file).
_spec = importlib.util.spec_from_file_location(
    "resident_report", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "resident", "report.py"))
_resident = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_resident)
load = _resident.load


def pinned_bandwidth(h2d):
    runs = [r for r in (h2d or {}).get("runs", []) if r.get("pinned")]
    return max((r["bytes_per_s"] for r in runs), default=None)


def main():
    results = sys.argv[1]
    pinned = pinned_bandwidth(load(os.path.join(results, "h2d.json")))
    accelerate = (load(os.path.join(results, "accelerate.json")) or {}).get("serving", {})
    print("| clients | batch reached | layers resident / streamed | streamed GB per pass | aggregate tokens/s | "
          "decode tokens/s | copy floor tokens/s | decode / floor | TTFT p50 / p99 | ITL p50 / p99 | "
          "Accelerate, static batch: tokens/s | Djinn / Accelerate |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for path in sorted(glob.glob(os.path.join(results, "djinn-*.json")),
                       key=lambda p: int(re.search(r"djinn-(\d+)", p).group(1))):
        clients = int(re.search(r"djinn-(\d+)", path).group(1))
        bench = (load(path) or {}).get("summary", {})
        stats = load(os.path.join(results, f"stats-{clients}.json")) or {}
        model = (stats.get("models") or [{}])[0]
        batch = min(clients, int(model.get("kvSequencesTotal", clients)))
        streamed = int(model.get("streamedBytesPerPass", 0))
        itl = bench.get("itl_p50_s") or 0
        decode = batch / itl if itl else None
        floor = batch / (streamed / pinned) if pinned and streamed else None
        ratio = f"{decode / floor:.2f}" if decode and floor else "—"
        acc = (accelerate.get(str(clients)) or {}).get("estimated_tokens_per_s")
        acc_text = f"{acc:.1f}" if acc else "—"
        aggregate = bench.get("aggregate_tokens_per_s")
        versus = f"{aggregate / acc:.1f}×" if acc and aggregate else "—"
        print(f"| {clients} | {batch} | {model.get('residentLayers', 0)} / {model.get('streamedLayers', 0)} | "
              f"{streamed / 1e9:.2f} | {bench.get('aggregate_tokens_per_s', 0):.1f} | "
              f"{decode or 0:.1f} | {floor or 0:.1f} | {ratio} | "
              f"{bench.get('ttft_p50_s', 0):.3f} / {bench.get('ttft_p99_s', 0):.3f} s | "
              f"{bench.get('itl_p50_s', 0):.3f} / {bench.get('itl_p99_s', 0):.3f} s | {acc_text} | {versus} |")
    if pinned:
        print(f"\nPinned host-to-device bandwidth (h2d.py): {pinned / 1e9:.1f} GB/s.")
    if accelerate:
        print("Accelerate: the same requests in one static batch of N; tokens/s = N x new tokens / (prefill + new "
              "tokens x median step), from its measured prefill and steps (accelerate.json).")
        peak = (load(os.path.join(results, "accelerate.json")) or {}).get("torch_peak_reserved_bytes")
        if peak:
            print(f"Accelerate's peak GPU memory (torch reserved) at that max_memory: {peak / 2**30:.1f} GiB.")
    # ACCELERATE_PEAK runs: a smaller max_memory, so that its peak stays within Djinn's budget.
    for path in sorted(glob.glob(os.path.join(results, "accelerate-peak-*.json")),
                       key=lambda p: int(re.search(r"peak-(\d+)", p).group(1))):
        clients = re.search(r"peak-(\d+)", path).group(1)
        run = load(path) or {}
        acc = ((run.get("serving") or {}).get(clients) or {}).get("estimated_tokens_per_s")
        djinn = ((load(os.path.join(results, f"djinn-{clients}.json")) or {}).get("summary") or {}).get(
            "aggregate_tokens_per_s")
        if not acc:
            continue
        versus = f"; Djinn / Accelerate {djinn / acc:.1f}x" if djinn else ""
        print(f"Accelerate, static batch {clients}, max_memory {run.get('max_memory', {}).get('0', '?')}: "
              f"{acc:.1f} tokens/s, peak GPU memory {run.get('torch_peak_reserved_bytes', 0) / 2**30:.1f} GiB"
              f"{versus}.")


if __name__ == "__main__":
    main()
