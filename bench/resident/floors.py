#!/usr/bin/env python3
"""The GPU's own limits, measured with torch, for the resident benchmark's ratios.

    floors.py --config WORKDIR/models/llama2-13b/config.json --out floors.json

1. Device-to-device copy bandwidth: dst.copy_(src) of one --copy-gib buffer
   (cudaMemcpyAsync device to device), timed with CUDA events over --iters
   copies, best of --rounds. Counted as bytes read + bytes written:
   bandwidth = 2 * bytes / time. Decoding one token must read every weight
   once, so weight_bytes / bandwidth is the floor of the time per token at
   batch 1 (the "HBM floor").
2. The cuBLAS fp16 GEMM rate at the prefill shapes of the model in --config:
   out[M, N] = x[M, K] · w[N, K]^T (torch.nn.functional.linear, fp32
   accumulation: reduced-precision reductions off, as Djinn computes) for
   M = --tokens (2048) and every weight shape of one layer (q, k, v, o, gate,
   up, down) and the lm_head, each best of --rounds. "layer_mix_tflops" is one
   layer's 7 products: their FLOPs / their summed best times, the rate that a
   prefill's matrix products could reach (the report's denominator);
   "fused_layer_mix_tflops" the same with q|k|v and gate|up stacked as Djinn
   holds them (informational); also 8192^3 as a sanity figure.
Writes JSON; prints a summary. Takes under a minute on an H100.
"""

import argparse
import datetime
import json
import socket
import subprocess

import torch


def timed(fn, iters, rounds):
    """Best over `rounds` of the mean seconds per call over `iters` calls."""
    fn()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(rounds):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        end.synchronize()
        best = min(best, start.elapsed_time(end) / 1000.0 / iters)
    return best


def copy_bandwidth(gib, iters, rounds):
    n = int(gib * (1 << 30))
    src = torch.empty(n, dtype=torch.uint8, device="cuda")
    src.random_(0, 255)
    dst = torch.empty_like(src)
    seconds = timed(lambda: dst.copy_(src), iters, rounds)
    del src, dst
    torch.cuda.empty_cache()
    return {"bytes": n, "seconds_per_copy": seconds, "bytes_per_s_read_plus_write": 2 * n / seconds}


def gemm(m, n, k, iters, rounds):
    x = torch.randn(m, k, dtype=torch.float16, device="cuda")
    w = torch.randn(n, k, dtype=torch.float16, device="cuda") * 0.02
    out = torch.empty(m, n, dtype=torch.float16, device="cuda")
    seconds = timed(lambda: torch.matmul(x, w.t(), out=out), iters, rounds)
    flops = 2.0 * m * n * k
    return {"m": m, "n": n, "k": k, "seconds": seconds, "flops": flops, "tflops": flops / seconds / 1e12}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="the model's config.json")
    parser.add_argument("--out", required=True)
    parser.add_argument("--tokens", type=int, default=2048, help="prefill rows M (default %(default)s)")
    parser.add_argument("--copy-gib", type=float, default=2.0)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with open(args.config) as f:
        c = json.load(f)
    # Djinn's matrix products accumulate in fp32 and never reduce in fp16.
    torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False
    hidden, inter, vocab = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    heads, kv_heads = c["num_attention_heads"], c.get("num_key_value_heads", c["num_attention_heads"])
    head_dim = c.get("head_dim") or hidden // heads
    q_dim, kv_dim = heads * head_dim, kv_heads * head_dim

    copy = [copy_bandwidth(g, args.iters, args.rounds) for g in (1.0, args.copy_gib)]
    best_copy = max(copy, key=lambda r: r["bytes_per_s_read_plus_write"])
    m = args.tokens
    layer_shapes = {"q": (q_dim, hidden), "k": (kv_dim, hidden), "v": (kv_dim, hidden), "o": (hidden, q_dim),
                    "gate": (inter, hidden), "up": (inter, hidden), "down": (hidden, inter)}
    layer = {name: gemm(m, n, k, args.iters, args.rounds) for name, (n, k) in layer_shapes.items()}
    mix_flops = sum(r["flops"] for r in layer.values())
    mix_seconds = sum(r["seconds"] for r in layer.values())
    # The same products with q|k|v and gate|up stacked into one weight each,
    # as Djinn's engine holds them (informational).
    fused_shapes = {"qkv": (q_dim + 2 * kv_dim, hidden), "o": (hidden, q_dim), "gate_up": (2 * inter, hidden),
                    "down": (hidden, inter)}
    fused = {name: gemm(m, n, k, args.iters, args.rounds) for name, (n, k) in fused_shapes.items()}
    lm_head = gemm(m, vocab, hidden, args.iters, args.rounds)
    square = gemm(8192, 8192, 8192, 5, args.rounds)
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        smi = ""
    result = {
        "device": torch.cuda.get_device_name(0),
        "nvidia_smi": smi,
        "torch_version": torch.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "copy": copy,
        "copy_bytes_per_s": best_copy["bytes_per_s_read_plus_write"],
        "prefill_tokens": m,
        "gemm_layer": layer,
        "layer_mix_tflops": mix_flops / mix_seconds / 1e12,
        "gemm_layer_fused": fused,
        "fused_layer_mix_tflops": sum(r["flops"] for r in fused.values()) / sum(r["seconds"] for r in fused.values())
        / 1e12,
        "gemm_lm_head": lm_head,
        "gemm_8192_cubed_tflops": square["tflops"],
        "method": "torch CUDA events; best of rounds of mean over iters; copy counts read + write; "
                  "fp16 GEMMs with fp32 accumulation (reduced-precision reduction off)",
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    per_shape = ", ".join("%s %.0f" % (k, v["tflops"]) for k, v in layer.items())
    print(f"{result['device']}: D2D copy {result['copy_bytes_per_s'] / 1e12:.3f} TB/s (read + write); "
          f"fp16 GEMM at M={m}: layer mix {result['layer_mix_tflops']:.1f} TFLOP/s "
          f"({per_shape}); fused qkv/gate_up mix {result['fused_layer_mix_tflops']:.1f}; lm_head {lm_head['tflops']:.0f}, "
          f"8192^3 {square['tflops']:.0f} TFLOP/s")


if __name__ == "__main__":
    main()
