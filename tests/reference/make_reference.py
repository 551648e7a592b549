#!/usr/bin/env python3
"""Computes float64 reference logits and greedy tokens for a Djinn test model.

Runs HuggingFace transformers' LlamaForCausalLM on the CPU in float64 and
writes a JSON fixture that Djinn's engine tests compare against. Needs
Python 3.12, torch, transformers 5.x, safetensors and numpy; no network.

    python3 make_reference.py --model DIR --out tests/fixtures/reference_tiny.json

HF computes three things in float32 even in a float64 model: RMSNorm (it
casts the hidden state to float32), the rotary cos/sin (the inverse
frequencies are made in float32 and the angles computed under "force
float32"), and the eager attention softmax. For a reference that is float64
throughout, this script swaps in float64 versions of those three (see
"float64 patches" below; each checks that it was really called, and the
rotary one that its frequencies agree with HF's). --hf-precision turns them
off, to see HF exactly as it ships.
"""

import argparse
import datetime
import hashlib
import json
import math
import os
import socket
import sys

# No network, ever: everything comes from --model.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import LlamaForCausalLM  # noqa: E402
from transformers.models.llama import modeling_llama  # noqa: E402

# BOS then arbitrary ids below 512, the tiny presets' vocabulary size.
DEFAULT_PROMPT_IDS = [1, 17, 42, 97, 128, 255, 300, 311, 400, 451, 500, 7]

# How often each patched function ran, to prove the patches took effect.
CALLS = {"rmsnorm": 0, "rotary": 0, "attention": 0}


# ---------------------------------------------------------------- float64 patches


def rmsnorm_forward_float64(self, hidden_states):
    """LlamaRMSNorm without HF's round trip through float32."""
    CALLS["rmsnorm"] += 1
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))


def inverse_frequencies_float64(config):
    """Rotary inverse frequencies in float64: plain rope, or rope_type llama3.

    The same formulas as transformers' rope initialisation functions, which
    compute them in float32.
    """
    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    base = float(config["rope_theta"])
    exponents = torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim
    inv_freq = 1.0 / (base**exponents)
    scaling = config.get("rope_scaling")
    if scaling is None:
        return inv_freq
    rope_type = scaling.get("rope_type", scaling.get("type"))
    if rope_type == "default":
        return inv_freq
    if rope_type != "llama3":
        sys.exit(f"make_reference: rope_type {rope_type!r} is not supported")
    factor = float(scaling["factor"])
    low = float(scaling["low_freq_factor"])
    high = float(scaling["high_freq_factor"])
    old_context = float(scaling["original_max_position_embeddings"])
    low_freq_wavelen = old_context / low
    high_freq_wavelen = old_context / high
    wavelen = 2 * math.pi / inv_freq
    # Long wavelengths are divided by factor, short ones kept, the ones in
    # between interpolated.
    scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_context / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelen >= high_freq_wavelen) & (wavelen <= low_freq_wavelen)
    return torch.where(medium, smoothed, scaled)


def make_rotary_forward_float64(inv_freq):
    def rotary_forward_float64(self, x, position_ids, *args, **kwargs):
        """cos/sin of position * inv_freq, all in float64."""
        CALLS["rotary"] += 1
        freqs = position_ids[:, :, None].to(torch.float64) * inv_freq[None, None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        scaling = float(getattr(self, "attention_scaling", 1.0))
        return (emb.cos() * scaling).to(x.dtype), (emb.sin() * scaling).to(x.dtype)

    return rotary_forward_float64


def eager_attention_float64(module, query, key, value, attention_mask, scaling, dropout=0.0,
                            **kwargs):
    """HF's eager attention with the softmax in float64 rather than float32.

    Builds its own causal mask (queries are the last q_len of the k_len
    positions) instead of reading HF's, whose format changes between
    versions: this script only ever runs one unpadded sequence.
    """
    CALLS["attention"] += 1
    groups = query.shape[1] // key.shape[1]  # grouped-query attention
    key = key.repeat_interleave(groups, dim=1)
    value = value.repeat_interleave(groups, dim=1)
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    q_len, k_len = scores.shape[-2], scores.shape[-1]
    future = torch.ones(q_len, k_len, dtype=torch.bool, device=scores.device).triu(
        k_len - q_len + 1)
    scores = scores.masked_fill(future, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return output, weights


def install_float64_patches(model, config):
    inv_freq = inverse_frequencies_float64(config)
    rotaries = 0
    for module in model.modules():
        if isinstance(module, modeling_llama.LlamaRMSNorm):
            module.forward = rmsnorm_forward_float64.__get__(module)
        elif isinstance(module, modeling_llama.LlamaRotaryEmbedding):
            # HF's own (float32) frequencies must agree: this catches a
            # rope_scaling that one side applies and the other ignores.
            theirs = module.inv_freq.to(torch.float64).cpu()
            if theirs.shape != inv_freq.shape or not torch.allclose(theirs, inv_freq, rtol=1e-6,
                                                                    atol=0):
                sys.exit(f"make_reference: rotary frequencies disagree with HF's:\n"
                         f"  ours {inv_freq.tolist()}\n  HF's {theirs.tolist()}")
            module.forward = make_rotary_forward_float64(inv_freq).__get__(module)
            rotaries += 1
    if rotaries == 0:
        sys.exit("make_reference: no LlamaRotaryEmbedding found to patch")
    # LlamaAttention looks this name up in its module at call time when
    # attn_implementation is "eager".
    modeling_llama.eager_attention_forward = eager_attention_float64


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
    parser.add_argument("--hf-precision", action="store_true",
                        help="run HF unpatched (float32 norms, rotary and softmax)")
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
    if not args.hf_precision:
        install_float64_patches(model, config)

    prompt_logits = logits_for(model, prompt_ids)
    if not args.hf_precision and min(CALLS.values()) == 0:
        sys.exit(f"make_reference: a float64 patch was not used: {CALLS}")

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

    result = {
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
        "float64_patches": [] if args.hf_precision else ["rmsnorm", "rotary", "attention_softmax"],
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
