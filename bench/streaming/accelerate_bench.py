#!/usr/bin/env python3
"""HF Accelerate's CPU offload on the same model and prompts as Djinn: the streaming baseline.

    accelerate_bench.py --model WORKDIR/models/llama2-13b --prompts WORKDIR/prompts --budget 8GiB \
        --out accelerate-8GiB.json

The model loaded the way a user of Accelerate fits it into a GPU memory limit:

    config = AutoConfig.from_pretrained(model)
    with init_empty_weights():
        empty = AutoModelForCausalLM.from_config(config).to(float16)
    device_map = infer_auto_device_map(empty, max_memory={0: BUDGET, "cpu": CPU_MEMORY},
                                       no_split_module_classes=["LlamaDecoderLayer"], dtype=float16)
    model = AutoModelForCausalLM.from_pretrained(model, dtype=float16, device_map=device_map)

(If building the empty model, the map or that load fails, the model is loaded with
transformers' own device_map="auto" and the same max_memory instead; the JSON's
load_method and load_fallback_reason say so.) Modules mapped to "cpu" stay in
(pageable) host memory; Accelerate's hooks copy their weights to the GPU at
every forward pass and drop them after: the bytes it streams per step. Default attention implementation, nothing
patched. Measured under torch.inference_mode() with bench/resident/hf_bench.py's
functions:

  TTFT, batch 1: one forward over decode-b1.txt's 64-token prompt
    (use_cache=True, logits_to_keep=1) + the argmax copied to the host;
    median of --ttft-repeat runs after one warm-up.
  Decode, batch 1 (decode-b1.txt) and 16 (decode-b16.txt): the prefill
    (timed the same way: the batch-16 TTFT), then 1 + --steps-b1 /
    --steps-b16 greedy steps of model(next_ids, past_key_values=cache), each
    timed to the host's copy of the ids; the first step is a warm-up and
    dropped, the median of the rest is the step time; tokens/s = batch /
    step time.

Few steps, because Accelerate is slow at small budgets (about 2.8 s a step at
8 GiB on an H100): about 70 s at 8 GiB, 45 s at 16 GiB, 30 s at 24 GiB,
loading included. Writes JSON (with this process's pid, whose device memory
run.sh samples with nvidia-smi); prints a summary.
"""

import argparse
import collections
import datetime
import gc
import json
import os
import re
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "resident"))
import hf_bench  # noqa: E402  (sets HF_HUB_OFFLINE; imports torch and transformers)
import torch  # noqa: E402
import transformers  # noqa: E402
import accelerate  # noqa: E402
from accelerate import infer_auto_device_map, init_empty_weights  # noqa: E402
from transformers import AutoConfig, AutoModelForCausalLM  # noqa: E402


def device_of(name, device_map):
    """The device_map entry that holds parameter `name` (the longest matching module prefix)."""
    best = None
    for module, device in device_map.items():
        if module == "" or name == module or name.startswith(module + "."):
            if best is None or len(module) > len(best):
                best = module
    return None if best is None else device_map[best]


def on_host(device):
    return str(device) in ("cpu", "disk")


def placement(model, device_map):
    """Bytes of weights on the GPU and offloaded (copied at every forward), and the layers of each."""
    gpu_bytes = host_bytes = 0
    gpu_layers, host_layers = set(), set()
    for name, p in model.named_parameters():
        device = device_of(name, device_map)
        size = p.numel() * p.element_size()
        layer = re.search(r"\.layers\.(\d+)\.", name)
        if on_host(device):
            host_bytes += size
            if layer:
                host_layers.add(int(layer.group(1)))
        else:
            gpu_bytes += size
            if layer:
                gpu_layers.add(int(layer.group(1)))
    return {"gpu_weight_bytes": gpu_bytes, "offloaded_weight_bytes": host_bytes,
            "gpu_layers": sorted(gpu_layers), "offloaded_layers": sorted(host_layers)}


def parameter_devices(model):
    """Bytes of parameters by the device they are on now. After dispatch_model, the parameters of
    the modules offloaded to "cpu" are on "meta" (their weights sit in the hooks' weights map and
    are copied in at every forward); a parameter still on "cpu" would run on the CPU instead."""
    by_device = collections.Counter()
    for _, p in model.named_parameters():
        by_device[str(p.device)] += p.numel() * p.element_size()
    return dict(by_device)


def empty_model(config, dtype):
    """The model's modules with meta tensors (no memory), in the dtype it will load in."""
    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(config)
    model.to(dtype)
    model.tie_weights()
    return model


def decode_run(model, ids, steps):
    prefill_times = []
    times = hf_bench.decode(model, ids, 1 + steps, prefill_times)[1:]
    batch = ids.shape[0]
    r = {"batch": batch, "prompt_tokens": ids.shape[1], "steps": len(times), "warmup_steps": 1,
         "ttft_s": prefill_times[0], "decode_s_per_step": statistics.median(times),
         "decode_mean_s_per_step": statistics.mean(times), "step_times": times}
    r["tokens_per_s"] = batch / r["decode_s_per_step"]
    return r


def serve_static_batches(model, args, result, save):
    """bench/serving's baseline: the same requests served in static batches.

    A static batch of B requests costs its prefill plus new_tokens steps, and
    every request in it ends together; from the measured prefill and the
    median step (after a warm-up), tokens/s = B * new_tokens / (prefill +
    new_tokens * step), and every request's first token comes after the
    prefill. Few steps, because a step takes over a second when layers are
    offloaded: the rest of the batch is estimated from them.
    """
    prompts = hf_bench.read_prompts(args.serving_prompts)
    result["serving"] = {}
    for batch in [int(b) for b in args.serving_batches.split(",") if b]:
        ids = hf_bench.to_device(prompts[:batch])
        r = decode_run(model, ids, args.serving_steps)
        total = r["ttft_s"] + args.serving_new_tokens * r["decode_s_per_step"]
        r["new_tokens"] = args.serving_new_tokens
        r["estimated_request_s"] = total
        r["estimated_tokens_per_s"] = batch * args.serving_new_tokens / total
        result["serving"][str(batch)] = r
        save()
        print(f"static batch {batch}: prefill {r['ttft_s']:.3f} s, step {r['decode_s_per_step']:.3f} s; "
              f"{args.serving_new_tokens} tokens each in about {total:.1f} s, {r['estimated_tokens_per_s']:.1f} "
              "tokens/s", flush=True)
        del ids
        gc.collect()
        torch.cuda.empty_cache()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--prompts", required=True, help="directory written by make_prompts.py")
    parser.add_argument("--budget", required=True, help="max_memory for GPU 0, e.g. 8GiB")
    parser.add_argument("--cpu-memory", default="120GiB", help="max_memory for the host")
    parser.add_argument("--out", required=True)
    parser.add_argument("--ttft-repeat", type=int, default=2)
    parser.add_argument("--steps-b1", type=int, default=4)
    parser.add_argument("--steps-b16", type=int, default=3)
    parser.add_argument("--serving-prompts", default="",
                        help="bench/serving: a prompt file; with --serving-batches, static batches of its first "
                        "B prompts instead of the batch-1/16 runs")
    parser.add_argument("--serving-batches", default="", help="e.g. 32,64")
    parser.add_argument("--serving-steps", type=int, default=2, help="timed steps per static batch (after 1 warm-up)")
    parser.add_argument("--serving-new-tokens", type=int, default=128)
    args = parser.parse_args()

    with open(os.path.join(args.model, "config.json")) as f:
        dtype_name = json.load(f).get("torch_dtype") or "float16"
    dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16}.get(dtype_name, torch.float16)
    max_memory = {0: args.budget, "cpu": args.cpu_memory}
    torch.cuda.init()
    start = time.perf_counter()
    no_split = ["LlamaDecoderLayer"]
    try:
        config = AutoConfig.from_pretrained(args.model, local_files_only=True)
        empty = empty_model(config, dtype)
        no_split = list(getattr(empty, "_no_split_modules", None) or no_split)
        # A copy: accelerate's get_max_memory turns the strings of the dict it is given into ints in place.
        device_map = infer_auto_device_map(empty, max_memory=dict(max_memory), no_split_module_classes=no_split,
                                           dtype=dtype)
        del empty
        failure = None
    except Exception as e:  # noqa: BLE001  (any failure: transformers' own placement below instead)
        device_map, failure = None, f"the empty model or infer_auto_device_map failed ({type(e).__name__}: {e})"
    map_s = time.perf_counter() - start
    start = time.perf_counter()
    load_method = "from_pretrained(device_map=infer_auto_device_map(...))"
    if device_map is not None:
        try:
            model = AutoModelForCausalLM.from_pretrained(args.model, dtype=dtype, device_map=device_map,
                                                         local_files_only=True)
        except Exception as e:  # noqa: BLE001
            failure = f"from_pretrained with the explicit device map failed ({type(e).__name__}: {e})"
            gc.collect()  # whatever the failed load left on the GPU
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
    if failure is not None:
        # The same placement by transformers' own call of infer_auto_device_map (its no_split_modules, the
        # largest layer kept free on the GPU for the offloaded ones).
        print(f"{failure}; falling back to device_map='auto', max_memory={max_memory}", flush=True)
        load_method = "from_pretrained(device_map='auto', max_memory=...)"
        start = time.perf_counter()
        model = AutoModelForCausalLM.from_pretrained(args.model, dtype=dtype, device_map="auto",
                                                     max_memory=dict(max_memory), local_files_only=True)
    model.eval()
    torch.cuda.synchronize()
    load_s = time.perf_counter() - start
    used_map = dict(getattr(model, "hf_device_map", None) or device_map or {"": "cuda:0"})
    place = placement(model, used_map)
    devices = parameter_devices(model)
    print(f"max_memory {max_memory}: {len(place['gpu_layers'])} layers on the GPU, "
          f"{len(place['offloaded_layers'])} offloaded; {place['gpu_weight_bytes'] / 1e9:.2f} GB of weights on the "
          f"GPU, {place['offloaded_weight_bytes'] / 1e9:.2f} GB copied per forward; device map in {map_s:.1f} s, "
          f"loaded in {load_s:.1f} s; parameter bytes by device now: {devices}; "
          f"{torch.cuda.memory_allocated() / 2**30:.2f} GiB allocated on the GPU", flush=True)
    if devices.get("cpu"):
        print("WARNING: parameters on 'cpu' (not offloaded by hooks): those layers run on the CPU, "
              "not streamed to the GPU", flush=True)

    result = {
        "tool": "accelerate_bench",
        "pid": os.getpid(),
        "budget": args.budget,
        "max_memory": {str(k): v for k, v in max_memory.items()},
        "no_split_module_classes": no_split,
        "load_method": load_method,
        "load_fallback_reason": failure,
        "device_map": {k: str(v) for k, v in used_map.items()},
        **place,
        "parameter_bytes_by_device": devices,
        "gpu_allocated_after_load_bytes": torch.cuda.memory_allocated(),
        "device": torch.cuda.get_device_name(0),
        "transformers_version": transformers.__version__,
        "accelerate_version": accelerate.__version__,
        "torch_version": torch.__version__,
        "attn_implementation": getattr(model.config, "_attn_implementation", None),
        "dtype": str(dtype).replace("torch.", ""),
        "device_map_s": map_s,
        "load_s": load_s,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "decode": {},
    }

    def save():  # after every phase, so that a run cut short keeps what it measured
        result["torch_peak_allocated_bytes"] = torch.cuda.max_memory_allocated()
        result["torch_peak_reserved_bytes"] = torch.cuda.max_memory_reserved()
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")

    save()
    if args.serving_prompts:
        serve_static_batches(model, args, result, save)
        return
    ids = hf_bench.to_device(hf_bench.read_prompts(os.path.join(args.prompts, "decode-b1.txt")))
    result["ttft"] = r = hf_bench.ttft(model, ids, args.ttft_repeat)
    save()
    print(f"TTFT, batch 1, {r['prompt_tokens']} tokens: {r['ttft_s']:.3f} s (runs {r['runs']})", flush=True)
    for batch, steps in ((1, args.steps_b1), (16, args.steps_b16)):
        ids = hf_bench.to_device(hf_bench.read_prompts(os.path.join(args.prompts, f"decode-b{batch}.txt")))
        result["decode"][str(batch)] = r = decode_run(model, ids, steps)
        save()
        print(f"batch {batch}: prefill {r['ttft_s']:.3f} s; decode {r['decode_s_per_step']:.3f} s/step (median of "
              f"{r['steps']} after 1 warm-up), {r['tokens_per_s']:.2f} tokens/s", flush=True)
    print(f"torch peak allocated {result['torch_peak_allocated_bytes'] / 2**20:.0f} MiB, reserved "
          f"{result['torch_peak_reserved_bytes'] / 2**20:.0f} MiB; wrote {args.out}")


if __name__ == "__main__":
    main()
