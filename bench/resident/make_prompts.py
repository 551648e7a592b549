#!/usr/bin/env python3
"""Writes the benchmark's prompts as token ids, shared by Djinn and transformers.

    make_prompts.py --vocab 32000 --out-dir WORKDIR/prompts

Files (one prompt per line, ids separated by spaces; every prompt starts with
BOS = 1, the rest drawn uniformly from [3, vocab) with a fixed seed, so the
same files come out on every machine):
  ttft-64.txt, ttft-512.txt, ttft-2048.txt   one prompt of that many tokens
  decode-b1.txt                              one 64-token prompt
  decode-b16.txt                             16 different 64-token prompts
Plain Python, no third-party packages.
"""

import argparse
import os
import random

SEED = 20261125


def prompt(rng, length, vocab):
    return [1] + [rng.randrange(3, vocab) for _ in range(length - 1)]


def write(path, prompts):
    with open(path, "w") as f:
        for p in prompts:
            f.write(" ".join(map(str, p)) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vocab", type=int, required=True)
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--decode-prompt", type=int, default=64)
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    rng = random.Random(SEED)
    for length in (64, 512, 2048):
        write(os.path.join(args.out_dir, f"ttft-{length}.txt"), [prompt(rng, length, args.vocab)])
    batch = [prompt(rng, args.decode_prompt, args.vocab) for _ in range(16)]
    write(os.path.join(args.out_dir, "decode-b1.txt"), batch[:1])
    write(os.path.join(args.out_dir, "decode-b16.txt"), batch)
    print(f"wrote prompts to {args.out_dir} (seed {SEED}, vocab {args.vocab})")


if __name__ == "__main__":
    main()
