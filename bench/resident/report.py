#!/usr/bin/env python3
"""The resident benchmark's markdown report, from the JSON files run.sh wrote.

    report.py --work WORKDIR [--out report.md]

Reads WORKDIR/results/{floors,hf,make,djinn-meta,djinn-ttft-*,djinn-decode-*}.json,
commands.txt and the model's config.json and safetensors headers. Plain
Python. Figures that a step has not produced yet are shown as "—".

Definitions:
  weight bytes     the safetensors tensor data (every weight, fp16)
  HBM floor        weight bytes / D2D copy bandwidth (read + write counted),
                   the least time a batch-1 decode step can take
  prefill FLOPs    2 * tokens * (the layers' matrix weights) + causal
                   attention 2 * tokens * (tokens + 1) * q_dim per layer (QK^T
                   and PV) + the lm_head for the last row only
  prefill rate     prefill FLOPs(2048) / TTFT(2048)
"""

import argparse
import glob
import json
import os
import struct

TARGET_DECODE_FLOOR = 1.25
TARGET_PREFILL_GEMM = 0.60


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def weight_bytes(model_dir):
    total = 0
    for path in glob.glob(os.path.join(model_dir, "*.safetensors")):
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
        for name, t in header.items():
            if name != "__metadata__":
                total += t["data_offsets"][1] - t["data_offsets"][0]
    return total


def prefill_flops(c, tokens):
    hidden, inter, layers = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    heads = c["num_attention_heads"]
    kv_heads = c.get("num_key_value_heads") or heads
    head_dim = c.get("head_dim") or hidden // heads
    q_dim, kv_dim = heads * head_dim, kv_heads * head_dim
    per_layer = hidden * (q_dim + 2 * kv_dim) + q_dim * hidden + 3 * hidden * inter
    matmul = 2.0 * tokens * layers * per_layer
    attention = 2.0 * tokens * (tokens + 1) * q_dim * layers
    lm_head = 2.0 * hidden * c["vocab_size"]
    return matmul + attention + lm_head


def ms(seconds):
    return "—" if seconds is None else f"{seconds * 1e3:.2f} ms"


def ratio(a, b, digits=2):
    return "—" if a is None or b is None or b == 0 else f"{a / b:.{digits}f}"


def finish(lines, results, out_path):
    """Appends the run's commands.txt to the report lines, prints the report and writes it to out_path."""
    commands = os.path.join(results, "commands.txt")
    if os.path.exists(commands):
        lines.extend(["", "Commands:", "", "```"])
        with open(commands) as f:
            lines.extend(line.rstrip("\n") for line in f)
        lines.append("```")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if out_path:
        with open(out_path, "w") as f:
            f.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", required=True)
    parser.add_argument("--out", default="")
    parser.add_argument("--preset", default="llama2-13b", help="model directory under WORKDIR/models")
    args = parser.parse_args()
    results = os.path.join(args.work, "results")
    model_dir = os.path.join(args.work, "models", args.preset)
    config = load(os.path.join(model_dir, "config.json")) or {}
    floors = load(os.path.join(results, "floors.json")) or {}
    hf = load(os.path.join(results, "hf.json")) or {}
    make = load(os.path.join(results, "make.json")) or {}
    meta = load(os.path.join(results, "djinn-meta.json")) or {}
    djinn = {}
    for path in glob.glob(os.path.join(results, "djinn-*.json")):
        r = load(path)
        if r and r.get("tool") == "djinn_bench":
            djinn[r["label"]] = r
    models = (load(os.path.join(results, "djinn-model.json")) or {}).get("models", [])

    wbytes = weight_bytes(model_dir) if config else None
    copy_bw = floors.get("copy_bytes_per_s")
    floor_s = wbytes / copy_bw if wbytes and copy_bw else None
    gemm_tflops = floors.get("layer_mix_tflops")

    def dj(label, key):
        r = djinn.get(label)
        return r["summary"][key] if r else None

    def hf_ttft(length):
        r = hf.get("ttft", {}).get(str(length))
        return r["ttft_s"] if r else None

    def hf_decode(batch, key="decode_s_per_step"):
        r = hf.get("decode", {}).get(str(batch))
        return r[key] if r else None

    lines = []
    out = lines.append
    out(f"# Resident benchmark: {args.preset} (random weights), Djinn vs transformers")
    out("")
    out(f"- Device: {floors.get('device') or hf.get('device') or '—'} ({floors.get('nvidia_smi', '—')})")
    out(f"- Date: {floors.get('date') or hf.get('date') or '—'}; host {floors.get('host') or hf.get('host') or '—'}")
    out(f"- Djinn: {meta.get('package', '—')}; djinnd --device=cuda --vram-budget={meta.get('budget', '—')}, "
        f"loaded with --max-context {meta.get('max_context', '—')} --max-sequences {meta.get('max_sequences', '—')}"
        f" in {meta.get('load_s', '—')} s")
    out(f"- transformers {hf.get('transformers_version', '—')}, torch {hf.get('torch_version', '—')}: "
        f"LlamaForCausalLM {hf.get('dtype', '—')}, attn_implementation=eager, whole model on the GPU (loaded via "
        f"{hf.get('load', '—')} in {hf.get('load_s', 0):.1f} s)")
    if models:
        m = models[0]
        out(f"- Model: {m.get('parameters', '—')} parameters, {wbytes / 1e9:.2f} GB of weights"
            if wbytes else "- Model: —")
    elif wbytes:
        out(f"- Model: {wbytes / 1e9:.2f} GB of fp16 weights (random; `djinnctl make-test-model --preset llama2-13b`"
            f"{', written in %.0f s' % make['make_s'] if make.get('make_s') else ''})")
    out("")
    out("## Limits of this GPU (floors.py)")
    out("")
    out("| figure | value |")
    out("|---|---|")
    out(f"| D2D copy bandwidth (read + write) | {copy_bw / 1e12:.3f} TB/s |" if copy_bw else "| D2D copy bandwidth | — |")
    out(f"| HBM floor per decode step: weight bytes / bandwidth | {ms(floor_s)} |")
    if gemm_tflops:
        shapes = ", ".join(f"{k} {v['tflops']:.0f}" for k, v in floors["gemm_layer"].items())
        out(f"| cuBLAS fp16 GEMM at M={floors['prefill_tokens']}, one layer's products | {gemm_tflops:.1f} TFLOP/s "
            f"({shapes}) |")
        if floors.get("fused_layer_mix_tflops"):
            out(f"| the same with q\\|k\\|v and gate\\|up stacked (as Djinn holds them) | "
                f"{floors['fused_layer_mix_tflops']:.1f} TFLOP/s |")
        out(f"| cuBLAS fp16 GEMM lm_head / 8192³ | {floors['gemm_lm_head']['tflops']:.0f} / "
            f"{floors['gemm_8192_cubed_tflops']:.0f} TFLOP/s |")
    out("")
    out("## Djinn vs transformers (same prompts, greedy)")
    out("")
    out("| measurement | Djinn | transformers | speed-up (HF time / Djinn time) |")
    out("|---|---|---|---|")
    for length in (64, 512, 2048):
        d, h = dj(f"ttft-{length}", "ttft_s"), hf_ttft(length)
        out(f"| time to first token, {length}-token prompt, batch 1 | {ms(d)} | {ms(h)} | {ratio(h, d)}× |")
    d1, h1 = dj("decode-b1", "decode_s_per_token"), hf_decode(1)
    out(f"| decode time per token, batch 1 | {ms(d1)} | {ms(h1)} | {ratio(h1, d1)}× |")
    d16, h16 = dj("decode-b16", "decode_s_per_token"), hf_decode(16)
    out(f"| decode step time, batch 16 (each sequence's time per token) | {ms(d16)} | {ms(h16)} | {ratio(h16, d16)}× |")
    t16 = dj("decode-b16", "decode_tokens_per_s")
    ht16 = hf_decode(16, "tokens_per_s")
    out(f"| decode throughput, batch 16 | {'—' if t16 is None else f'{t16:.0f} tokens/s'} | "
        f"{'—' if ht16 is None else f'{ht16:.0f} tokens/s'} | {ratio(t16, ht16)}× |")
    out("")
    out("## Against the targets")
    out("")
    out("| ratio | value | target | |")
    out("|---|---|---|---|")
    r = d1 / floor_s if d1 and floor_s else None
    out(f"| Djinn batch-1 decode / HBM floor | {ratio(d1, floor_s)} | ≤ {TARGET_DECODE_FLOOR} | "
        f"{'—' if r is None else ('met' if r <= TARGET_DECODE_FLOOR else 'NOT met')} |")
    out(f"| transformers batch-1 decode / HBM floor | {ratio(h1, floor_s)} | | |")
    d2048 = dj("ttft-2048", "ttft_s")
    rate = prefill_flops(config, 2048) / d2048 / 1e12 if config and d2048 else None
    r = rate / gemm_tflops if rate and gemm_tflops else None
    out(f"| Djinn 2048-token prefill rate / cuBLAS GEMM rate | "
        f"{'—' if r is None else f'{rate:.0f} / {gemm_tflops:.0f} TFLOP/s = {r:.2f}'} | ≥ {TARGET_PREFILL_GEMM} | "
        f"{'—' if r is None else ('met' if r >= TARGET_PREFILL_GEMM else 'NOT met')} |")
    h2048 = hf_ttft(2048)
    if config and h2048:
        hrate = prefill_flops(config, 2048) / h2048 / 1e12
        out(f"| transformers 2048-token prefill rate / GEMM rate | {hrate:.0f} / "
            f"{gemm_tflops or float('nan'):.0f} TFLOP/s = {ratio(hrate, gemm_tflops)} | | |")
    if config:
        out("")
        out(f"Prefill FLOPs at 2048 tokens: {prefill_flops(config, 2048) / 1e12:.1f} TFLOP (matrix products of every "
            "layer, causal attention, lm_head for the last row). Djinn's TTFT is client-side over gRPC "
            f"(the daemon's own: {ms(dj('ttft-2048', 'server_ttft_s'))} at 2048).")
    out("")
    out("## How it was measured")
    out("")
    out("- Djinn: `djinn_bench` (bench/djinn_bench.cc), client-side times of the streamed tokens, greedy, "
        "ignore_eos; TTFT: max_tokens 1, median of 5 runs after 1 warm-up; decode: 64-token prompt(s), "
        f"{djinn.get('decode-b1', {}).get('max_tokens', '—')} new tokens, median over the steps after the first "
        "token, median over the rounds (3 at batch 1, 2 at batch 16).")
    out("- transformers: `hf_bench.py`: TTFT = one forward over the prompt (use_cache, logits_to_keep=1) + argmax "
        "to the host, median of 5 after 1 warm-up; decode = manual loop with past_key_values, each step timed to "
        "the host's copy of the ids, median over steps, best of 2 rounds.")
    out("- Same prompt token ids for both (make_prompts.py, fixed seed): BOS + uniform ids.")
    finish(lines, results, args.out)


if __name__ == "__main__":
    main()
