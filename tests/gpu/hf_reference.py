#!/usr/bin/env python3
"""Reference logits and greedy tokens from transformers, on the GPU, for Djinn's test models.

For each model directory (written by `djinnctl make-test-model`) this runs
HuggingFace transformers' LlamaForCausalLM exactly as shipped (eager
attention, nothing of ours patched in) and writes, into --out-dir:

  NAME.json            what tests/gpu/model_reference_test.cc reads (below)
  NAME.ref.f32         float32 logits [positions, vocab] of the float32 run
  NAME.hf-DTYPE.f32    float32 copies of the logits transformers computed in
                       DTYPE (float16 / bfloat16)

NAME is the model directory's name. The float32 run is the reference: the
checkpoint upcast exactly to float32, TF32 off, on the GPU. The DTYPE runs
show transformers' own rounding error in half precision, which bounds what
Djinn may show in the same dtype. For a float16 checkpoint DTYPE is float16,
for bfloat16 bfloat16, and for a float32 checkpoint both (the checkpoint
rounded by torch's .to(dtype), as Djinn's loader rounds it).

The prompt is BOS followed by the first --prompt-tokens ids that the model's
own tokenizer.model (sentencepiece) gives for a fixed English text.

NAME.json:
  name, preset, dtype (the checkpoint's), model_dir (absolute), config,
  vocab_size, prompt_text, prompt_ids,
  reference: {dtype: float32, logits_file, greedy_ids, greedy_top2_gaps}
     greedy: --steps argmax tokens, the whole sequence recomputed at every
     step (no cache), EOS does not stop it; top2 gap = winner's logit minus
     the runner-up's at each step.
  hf: [{dtype, logits_file, greedy_ids}]
     greedy_ids: transformers' own greedy continuation in that dtype with its
     KV cache (model(..., past_key_values=...)), argmax, EOS does not stop it.
  transformers_version, torch_version, device, attn_implementation, tf32,
  date, host, seconds

Usage (a GPU host with torch, transformers 5.x, sentencepiece, numpy; no network):
  hf_reference.py --out-dir WORKDIR/ref MODEL_DIR...
"""

import argparse
import datetime
import gc
import json
import os
import socket
import sys
import time

# No network, ever: everything comes from the model directories.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import numpy as np  # noqa: E402
import sentencepiece  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import LlamaForCausalLM  # noqa: E402

PROMPT_TEXT = (
    "Once upon a time, in a small village by the sea, there lived an old fisherman who "
    "told stories to the children every evening. The quick brown fox jumps over the lazy dog, "
    "and the numbers 1987, 42 and 3.14 appear in the tale as well."
)

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def fail(message):
    sys.exit(f"hf_reference: {message}")


def prompt_ids_for(model_dir, config, count):
    processor = sentencepiece.SentencePieceProcessor(model_file=os.path.join(model_dir, "tokenizer.model"))
    ids = []
    while len(ids) < count:
        ids += processor.encode(PROMPT_TEXT + " ")
    ids = [config.get("bos_token_id", 1)] + ids[:count]
    if any(i < 0 or i >= config["vocab_size"] for i in ids):
        fail(f"{model_dir}: tokenizer ids outside [0, {config['vocab_size']})")
    return ids


def load(model_dir, config, dtype):
    model, info = LlamaForCausalLM.from_pretrained(
        model_dir, dtype=dtype, attn_implementation="eager", local_files_only=True, output_loading_info=True)
    # Every tensor in the checkpoint must be used and none missing (a tied
    # lm_head is not missing: it is the embedding).
    tied = {"lm_head.weight"} if config.get("tie_word_embeddings") else set()
    problems = {k: v for k, v in info.items() if v and not (k == "missing_keys" and set(v) <= tied)}
    if problems:
        fail(f"{model_dir}: checkpoint does not match the model: {problems}")
    # A no-op when dtype= was honoured; exact for an upcast.
    model = model.to(device="cuda", dtype=dtype).eval()
    for name, p in model.named_parameters():
        if p.dtype != dtype:
            fail(f"{name} is {p.dtype}, not {dtype}")
    return model


@torch.no_grad()
def all_logits(model, ids):
    """float32 copy of the logits [len(ids), vocab], from scratch (no cache)."""
    out = model(input_ids=torch.tensor([ids], dtype=torch.long, device="cuda"), use_cache=False)
    logits = out.logits[0]
    if logits.shape[0] != len(ids):
        fail(f"got logits for {logits.shape[0]} positions, not {len(ids)}")
    return logits.float()


@torch.no_grad()
def greedy_recompute(model, prompt, steps):
    """argmax tokens and top-2 gaps, recomputing the whole sequence every step."""
    ids = list(prompt)
    tokens, gaps = [], []
    for _ in range(steps):
        last = all_logits(model, ids)[-1]
        top2 = torch.topk(last, 2)
        tokens.append(int(top2.indices[0]))
        gaps.append(float(top2.values[0] - top2.values[1]))
        ids.append(tokens[-1])
    return tokens, gaps


@torch.no_grad()
def greedy_cached(model, prompt, steps):
    """transformers' usual incremental decoding: prefill, then one token per step with the KV cache."""
    out = model(input_ids=torch.tensor([prompt], dtype=torch.long, device="cuda"), use_cache=True)
    tokens = []
    for step in range(steps):
        # torch.argmax returns the first maximal index, as Djinn's greedy does.
        token = int(torch.argmax(out.logits[0, -1]))
        tokens.append(token)
        if step + 1 == steps:
            break
        out = model(input_ids=torch.tensor([[token]], dtype=torch.long, device="cuda"),
                    past_key_values=out.past_key_values, use_cache=True)
    return tokens


def write_f32(path, tensor):
    tensor.detach().to("cpu", torch.float32).contiguous().numpy().astype("<f4", copy=False).tofile(path)


def free(model):
    del model
    gc.collect()
    torch.cuda.empty_cache()


def reference_for(model_dir, out_dir, args):
    start = time.time()
    model_dir = os.path.abspath(model_dir)
    name = os.path.basename(model_dir.rstrip("/"))
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    stored = config.get("torch_dtype") or config.get("dtype")
    if stored not in DTYPES:
        fail(f"{model_dir}: unknown dtype {stored!r} in config.json")
    prompt = prompt_ids_for(model_dir, config, args.prompt_tokens)

    # The float32 reference.
    model = load(model_dir, config, torch.float32)
    ref_logits = all_logits(model, prompt)
    ref_file = f"{name}.ref.f32"
    write_f32(os.path.join(out_dir, ref_file), ref_logits)
    greedy_ids, gaps = greedy_recompute(model, prompt, args.steps)
    free(model)

    # transformers in half precision.
    hf_runs = []
    for dtype_name in (["float16", "bfloat16"] if stored == "float32" else [stored]):
        model = load(model_dir, config, DTYPES[dtype_name])
        logits = all_logits(model, prompt)
        hf_file = f"{name}.hf-{dtype_name}.f32"
        write_f32(os.path.join(out_dir, hf_file), logits)
        diff = (logits - ref_logits).double()
        rel = float(diff.norm() / ref_logits.double().norm())
        max_rel = float(diff.abs().max() / ref_logits.abs().max())
        hf_greedy = greedy_cached(model, prompt, args.steps)
        agree = next((i for i, (a, b) in enumerate(zip(hf_greedy, greedy_ids)) if a != b), len(greedy_ids))
        hf_runs.append({"dtype": dtype_name, "logits_file": hf_file, "greedy_ids": hf_greedy,
                        "rel_error_vs_reference": rel, "max_rel_error_vs_reference": max_rel,
                        "greedy_agreement_with_reference": agree})
        print(f"  {name}: transformers {dtype_name}: rel {rel:.3e}, max {max_rel:.3e}, "
              f"greedy = float32 reference for {agree}/{len(greedy_ids)} tokens", flush=True)
        free(model)

    preset = args.preset or name.rsplit("-", 1)[0]
    result = {
        "name": name,
        "preset": preset,
        "dtype": stored,
        "model_dir": model_dir,
        "config": config,
        "vocab_size": config["vocab_size"],
        "prompt_text": PROMPT_TEXT,
        "prompt_ids": prompt,
        "reference": {"dtype": "float32", "logits_file": ref_file, "greedy_ids": greedy_ids,
                      "greedy_top2_gaps": gaps},
        "hf": hf_runs,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "device": torch.cuda.get_device_name(0),
        "attn_implementation": "eager",
        "tf32": {"matmul": torch.backends.cuda.matmul.allow_tf32, "cudnn": torch.backends.cudnn.allow_tf32},
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "seconds": round(time.time() - start, 2),
    }
    path = os.path.join(out_dir, f"{name}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(f"wrote {path}: {len(prompt)} prompt positions x {config['vocab_size']}, {len(greedy_ids)} greedy ids, "
          f"smallest top-2 gap {min(gaps):.3g} (first 16: {min(gaps[:16]):.3g}), {result['seconds']} s", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", required=True, help="directory for NAME.json and the logit files")
    parser.add_argument("--steps", type=int, default=64, help="greedy tokens (default %(default)s)")
    parser.add_argument("--prompt-tokens", type=int, default=40,
                        help="tokenizer ids after BOS (default %(default)s)")
    parser.add_argument("--preset", default="",
                        help="preset to record (default: the directory name up to its last '-')")
    parser.add_argument("models", nargs="+", help="model directories")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        fail("no CUDA device visible to torch")
    # The reference is plain float32: no TF32 in matrix products or convolutions.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    os.makedirs(args.out_dir, exist_ok=True)
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, {torch.cuda.get_device_name(0)}",
          flush=True)
    for model_dir in args.models:
        reference_for(model_dir, args.out_dir, args)


if __name__ == "__main__":
    main()
