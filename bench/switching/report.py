#!/usr/bin/env python3
"""The switching benchmark's table, from bench/switching/run.sh's results.

    report.py RESULTS_DIR

One row per measured turn: the model, its time to first token right after a
switch (the other model served last) and again with nothing to move, the
difference (the switch's cost), the bytes the switch promoted and evicted
(from Stats before and after), and what those bytes take over PCIe at the
pinned H2D bandwidth measured in the same run. Plain Python.
"""

import glob
import importlib.util
import os
import re
import sys

# The serving report's JSON reading and pinned bandwidth.
_spec = importlib.util.spec_from_file_location(
    "serving_report", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "serving", "report.py"))
_serving = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_serving)
load, pinned_bandwidth = _serving.load, _serving.pinned_bandwidth


def model_stats(stats, name):
    for model in (stats or {}).get("models", []):
        if model.get("name") == name:
            return model
    return {}


def counter(model, field):
    return int(model.get(field, 0) or 0)  # proto3 JSON writes uint64 as strings


def main():
    results = sys.argv[1]
    pinned = pinned_bandwidth(load(os.path.join(results, "h2d.json")))
    both = load(os.path.join(results, "loaded-both.stats.json")) or {}
    print(f"pinned H2D: {pinned / 1e9:.1f} GB/s" if pinned else "pinned H2D: not measured")
    for name in ("x", "y"):
        m = model_stats(both, name)
        if m:
            print(f"after both loads, {name}: {m.get('residentLayers', 0)} layers resident, "
                  f"{m.get('streamedLayers', 0)} streamed, ring {counter(m, 'ringBufferBytes') / 1e9:.2f} GB")
    print()
    print("| turn | TTFT after switch | TTFT warm | switch cost | layers promoted | GB promoted | "
          "GB / pinned H2D | cost / (GB / H2D) | layers evicted from the other |")
    print("|---|---|---|---|---|---|---|---|---|")
    turns = sorted(glob.glob(os.path.join(results, "r*-switch.json")))
    for path in turns:
        label = os.path.basename(path)[: -len("-switch.json")]
        model = re.sub(r"^r\d+-", "", label)
        other = "y" if model == "x" else "x"
        switch, warm = load(path), load(os.path.join(results, f"{label}-warm.json"))
        # Stats before the switch: after the other model's warm turn (or the primes).
        rnd = int(re.match(r"r(\d+)", label).group(1))
        before_label = f"r{rnd}-x-warm" if model == "y" else (f"r{rnd - 1}-y-warm" if rnd > 1 else "prime-y")
        before = load(os.path.join(results, f"{before_label}.stats.json"))
        after = load(os.path.join(results, f"{label}-switch.stats.json"))
        if not (switch and warm and before and after):
            print(f"| {label} | missing results | | | | | | | |")
            continue
        ttft_switch, ttft_warm = switch["rounds"][-1]["ttft_s"], warm["rounds"][-1]["ttft_s"]
        cost = ttft_switch - ttft_warm
        mb, ma = model_stats(before, model), model_stats(after, model)
        ob, oa = model_stats(before, other), model_stats(after, other)
        layers = counter(ma, "residencyPromotions") - counter(mb, "residencyPromotions")
        moved = counter(ma, "residencyPromotedBytes") - counter(mb, "residencyPromotedBytes")
        evicted = counter(oa, "residencyEvictions") - counter(ob, "residencyEvictions")
        floor = moved / pinned if pinned else None
        print(f"| {label} | {ttft_switch:.3f} s | {ttft_warm:.3f} s | {cost:.3f} s | {layers} | {moved / 1e9:.2f} | "
              + (f"{floor:.3f} s | {cost / floor:.2f}x" if floor else "- | -") + f" | {evicted} |")


if __name__ == "__main__":
    main()
