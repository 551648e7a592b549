#!/usr/bin/env python3
"""Computes float64 reference logits and greedy tokens for a Djinn test model.

Runs HuggingFace transformers' LlamaForCausalLM on the CPU in float64 and
writes a JSON fixture that Djinn's engine tests compare against. Needs
Python 3.12, torch, transformers 5.x, safetensors and numpy; no network.

    python3 make_reference.py --model DIR --out tests/fixtures/reference_tiny.json

The model runs exactly as transformers ships it (eager attention): nothing
of ours is patched in, so the reference is code nobody here wrote. Note that
HF computes RMSNorm statistics, the rotary cos/sin and the attention softmax
in float32 even in a float64 model, so the reference carries float32 rounding
at those points; Djinn's fp32 engine is compared with a 1e-4 bound, far above
that.

It also encodes a few texts with the sentencepiece library (the tokenizer
Llama checkpoints were made for) so that Djinn's own tokenizer can be checked
against it.
"""

import argparse
import datetime
import hashlib
import json
import os
import socket
import sys

# No network, ever: everything comes from --model.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import sentencepiece  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import LlamaForCausalLM  # noqa: E402

# BOS then arbitrary ids below 512, the tiny presets' vocabulary size.
DEFAULT_PROMPT_IDS = [1, 17, 42, 97, 128, 255, 300, 311, 400, 451, 500, 7]

# Texts for the tokenizer cross-check: words from the training corpus and
# not, digits, punctuation, runs of spaces, and characters only byte
# fallback can spell.
TOKENIZER_TEXTS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "Once upon a time, in 1987, there were 42 cats!",
    "  leading and  double   spaces ",
    "naïve café, déjà vu",
    "日本語のテキスト",
    "emoji 🙂 and € signs",
    "tabs\tand\nnewlines",
    "",
]

# ---------------------------------------------------------------- reference


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def logits_for(model, ids):
    """Logits [len(ids), vocab] for the whole sequence, from scratch (no cache)."""
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids], dtype=torch.long), use_cache=False)
    logits = out.logits[0]
    if logits.dtype != torch.float64:
        sys.exit(f"make_reference: logits are {logits.dtype}, not float64")
    return logits


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="model directory (HF layout)")
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--steps", type=int, default=48, help="greedy tokens to generate")
    parser.add_argument("--prompt-ids", default=",".join(map(str, DEFAULT_PROMPT_IDS)),
                        help="comma-separated prompt token ids (default: %(default)s)")
    parser.add_argument("--preset", default="", help="the djinnctl make-test-model preset (recorded)")
    parser.add_argument("--seed", type=int, default=-1, help="the make-test-model seed (recorded)")
    args = parser.parse_args()

    model_dir = os.path.abspath(args.model)
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    prompt_ids = [int(x) for x in args.prompt_ids.split(",") if x.strip()]
    if not prompt_ids or any(i < 0 or i >= config["vocab_size"] for i in prompt_ids):
        sys.exit(f"make_reference: prompt ids must be in [0, {config['vocab_size']})")

    model, info = LlamaForCausalLM.from_pretrained(
        model_dir, dtype=torch.float64, attn_implementation="eager", local_files_only=True,
        output_loading_info=True)
    # Every tensor in the checkpoint must be used and none missing (a tied
    # lm_head is not missing: it is the embedding).
    tied = {"lm_head.weight"} if config.get("tie_word_embeddings") else set()
    problems = {k: v for k, v in info.items()
                if v and not (k == "missing_keys" and set(v) <= tied)}
    if problems:
        sys.exit(f"make_reference: checkpoint does not match the model: {problems}")
    # Exact whatever the checkpoint dtype: float32/16 and bfloat16 all fit in
    # float64. A no-op when dtype= was honoured.
    model = model.to(device="cpu", dtype=torch.float64).eval()
    for name, p in model.named_parameters():
        if p.dtype != torch.float64:
            sys.exit(f"make_reference: {name} is {p.dtype}")
    prompt_logits = logits_for(model, prompt_ids)

    # Greedy decoding, recomputing the whole sequence each step: slow but
    # simple, and the cache plays no part. EOS does not stop it.
    ids = list(prompt_ids)
    greedy_ids, top2_gaps = [], []
    for _ in range(args.steps):
        last = logits_for(model, ids)[-1]
        top2 = torch.topk(last, 2)
        greedy_ids.append(int(top2.indices[0]))
        # How far the winner is ahead: a tiny gap means that an engine with
        # float32 rounding may legitimately pick the other token.
        top2_gaps.append(float(top2.values[0] - top2.values[1]))
        ids.append(greedy_ids[-1])

    files = {}
    for name in sorted(os.listdir(model_dir)):
        path = os.path.join(model_dir, name)
        if os.path.isfile(path):
            files[name] = sha256_of(path)

    processor = sentencepiece.SentencePieceProcessor(model_file=os.path.join(model_dir, "tokenizer.model"))
    tokenizer_cases = []
    for text in TOKENIZER_TEXTS:
        ids = processor.encode(text)
        tokenizer_cases.append({"text": text, "ids": ids, "decoded": processor.decode(ids)})

    result = {
        "preset": args.preset,
        "seed": args.seed,
        "model_dir_name": os.path.basename(model_dir.rstrip("/")),
        "files": files,
        "config": config,
        "prompt_ids": prompt_ids,
        "prompt_logits": [[float(v) for v in row] for row in prompt_logits.tolist()],
        "greedy_ids": greedy_ids,
        "greedy_top2_gaps": top2_gaps,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "dtype": "float64",
        "attn_implementation": "eager",
        "tokenizer_cases": tokenizer_cases,
        "sentencepiece_version": sentencepiece.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
    }
    # json writes floats with repr(): the shortest string that reads back to
    # the same double, so nothing is lost.
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}: {len(prompt_ids)} prompt positions, {len(greedy_ids)} greedy ids, "
          f"smallest top-2 gap {min(top2_gaps, default=float('nan')):.3g}")


if __name__ == "__main__":
    main()
