#!/usr/bin/env python3
"""transformers on the same model and prompts as djinn_bench: the baseline.

    hf_bench.py --model WORKDIR/models/llama2-13b --prompts WORKDIR/prompts --out hf.json

LlamaForCausalLM.from_pretrained(dtype=torch.float16 (the checkpoint's dtype),
attn_implementation="eager"), the whole model on the GPU (--load device_map: loaded straight onto the GPU,
the default and the faster; --load cpu: loaded on the host, then .cuda()).
Nothing patched. Under torch.inference_mode():

  TTFT, for each prompt ttft-{64,512,2048}.txt: synchronize, then one
    forward over the prompt with use_cache=True and logits_to_keep=1 (what
    generate() does for the prefill), then the argmax of the last logits
    copied to the host (which waits for the GPU). Median (and min) of
    --repeat runs after one warm-up.
  Decode at batch 1 (decode-b1.txt) and 16 (decode-b16.txt, 16 different
    64-token prompts, no padding needed): prefill, then --max-tokens - 1
    steps of model(next_tokens, past_key_values=cache), greedy, each step
    timed to the host's copy of the chosen ids. Median over steps (a step
    produces one token for each of the B sequences), and tokens/s = B /
    median step. Best round (lowest median) of --rounds after one warm-up
    round of 8 steps.
Also the load time. Writes JSON; prints a summary. On an H100 with the
26 GB Llama-2-13B-shaped model: ~1-3 min load, < 1 min of measuring.
"""

import argparse
import datetime
import json
import os
import socket
import statistics
import time

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import LlamaForCausalLM  # noqa: E402


def read_prompts(path):
    with open(path) as f:
        return [[int(x) for x in line.replace(",", " ").split()] for line in f
                if line.strip() and not line.startswith("#")]


def to_device(prompts):
    lengths = {len(p) for p in prompts}
    if len(lengths) != 1:
        raise SystemExit("hf_bench: prompts of one file must have one length (no padding here)")
    return torch.tensor(prompts, dtype=torch.long, device="cuda")


@torch.inference_mode()
def prefill(model, ids):
    out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
    return out, out.logits[:, -1].argmax(-1)


@torch.inference_mode()
def ttft(model, ids, repeat):
    times = []
    for i in range(repeat + 1):
        torch.cuda.synchronize()
        start = time.perf_counter()
        _, token = prefill(model, ids)
        token.cpu()
        if i > 0:
            times.append(time.perf_counter() - start)
    return {"prompt_tokens": ids.shape[1], "ttft_s": statistics.median(times), "ttft_min_s": min(times),
            "runs": times}


@torch.inference_mode()
def decode(model, ids, steps, prefill_times=None):
    """Prefill, then `steps` greedy steps; returns each step's seconds (and
    appends the prefill's, to the host copy of its tokens, to prefill_times)."""
    torch.cuda.synchronize()
    start = time.perf_counter()
    out, token = prefill(model, ids)
    if prefill_times is not None:
        token.cpu()
        prefill_times.append(time.perf_counter() - start)
    cache = out.past_key_values
    torch.cuda.synchronize()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        out = model(input_ids=token[:, None], past_key_values=cache, use_cache=True)
        cache = out.past_key_values
        token = out.logits[:, -1].argmax(-1)
        token.cpu()
        times.append(time.perf_counter() - start)
    return times


def decode_bench(model, ids, max_tokens, rounds):
    decode(model, ids, 8)  # warm-up
    best = None
    for _ in range(rounds):
        times = decode(model, ids, max_tokens - 1)
        r = {"batch": ids.shape[0], "prompt_tokens": ids.shape[1], "steps": len(times),
             "decode_s_per_step": statistics.median(times), "decode_mean_s_per_step": statistics.mean(times)}
        r["tokens_per_s"] = ids.shape[0] / r["decode_s_per_step"]
        if best is None or r["decode_s_per_step"] < best["decode_s_per_step"]:
            best = r
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--prompts", required=True, help="directory written by make_prompts.py")
    parser.add_argument("--out", required=True)
    parser.add_argument("--load", choices=["device_map", "cpu"], default="device_map")
    parser.add_argument("--repeat", type=int, default=5, help="TTFT runs per prompt length")
    parser.add_argument("--max-tokens", type=int, default=128, help="tokens per decode run (as djinn_bench)")
    parser.add_argument("--rounds", type=int, default=2, help="decode rounds; the best is kept")
    args = parser.parse_args()

    # The checkpoint's own dtype (float16 for llama2-13b), as Djinn computes it.
    with open(os.path.join(args.model, "config.json")) as f:
        dtype_name = json.load(f).get("torch_dtype") or "float16"
    dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16}.get(dtype_name, torch.float16)
    torch.cuda.synchronize()
    start = time.perf_counter()
    if args.load == "device_map":
        model = LlamaForCausalLM.from_pretrained(args.model, dtype=dtype, attn_implementation="eager",
                                                 local_files_only=True, device_map="cuda")
    else:
        model = LlamaForCausalLM.from_pretrained(args.model, dtype=dtype, attn_implementation="eager",
                                                 local_files_only=True).cuda()
    model.eval()
    torch.cuda.synchronize()
    load_s = time.perf_counter() - start
    devices = {str(p.device) for p in model.parameters()}
    dtypes = {str(p.dtype) for p in model.parameters()}
    if devices != {"cuda:0"} or dtypes != {str(dtype)}:
        raise SystemExit(f"hf_bench: model not fully {dtype} on cuda:0: {devices} {dtypes}")
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    print(f"loaded in {load_s:.1f} s ({args.load}); {weight_bytes / 1e9:.2f} GB of {dtype} weights on "
          f"{torch.cuda.get_device_name(0)}", flush=True)

    result = {
        "tool": "hf_bench",
        "device": torch.cuda.get_device_name(0),
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "attn_implementation": "eager",
        "dtype": str(dtype).replace("torch.", ""),
        "load": args.load,
        "load_s": load_s,
        "weight_bytes": weight_bytes,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "ttft": {},
        "decode": {},
    }
    for length in (64, 512, 2048):
        ids = to_device(read_prompts(os.path.join(args.prompts, f"ttft-{length}.txt")))
        result["ttft"][str(length)] = r = ttft(model, ids, args.repeat)
        print(f"TTFT {length}: {r['ttft_s'] * 1e3:.1f} ms (min {r['ttft_min_s'] * 1e3:.1f})", flush=True)
    for batch in (1, 16):
        ids = to_device(read_prompts(os.path.join(args.prompts, f"decode-b{batch}.txt")))
        result["decode"][str(batch)] = r = decode_bench(model, ids, args.max_tokens, args.rounds)
        print(f"decode batch {batch}: {r['decode_s_per_step'] * 1e3:.2f} ms/step, {r['tokens_per_s']:.1f} tokens/s",
              flush=True)
    result["peak_memory_bytes"] = torch.cuda.max_memory_allocated()
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
