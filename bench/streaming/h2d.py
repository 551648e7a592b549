#!/usr/bin/env python3
"""Host-to-device copy bandwidth, pinned and pageable, for the streaming benchmark's copy floor.

    h2d.py --out h2d.json

For each size in --sizes-mib (256 and 1024 MiB: a streamed layer of the 13B
model is 605 MiB): a host buffer, filled so that its pages exist, either
  pinned    torch.empty(n, pin_memory=True) (cudaHostAlloc, as Djinn's
            streamed layers are held), or
  pageable  torch.empty(n) (ordinary malloc'd memory, as Accelerate's
            offloaded weights are held; the driver stages it through its own
            pinned buffers),
copied into a preallocated device buffer with dst.copy_(src, non_blocking=True)
(cudaMemcpyAsync host to device on the current stream). First --warmup-s
seconds of copies (the PCIe link leaves its idle power state), then the time
of --iters copies by CUDA events, best of --rounds (bench/resident/floors.py's
timed()). GB/s = bytes / seconds / 1e9. pinned_h2d_bytes_per_s and
pageable_h2d_bytes_per_s are the best over the sizes. Writes JSON; prints a
summary. About 20 s on an H100, most of it torch's start.
"""

import argparse
import datetime
import json
import os
import socket
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "resident"))
from floors import timed  # noqa: E402  (CUDA events, best of rounds)


def h2d(n, pinned, iters, rounds, warmup_s):
    src = torch.empty(n, dtype=torch.uint8, pin_memory=pinned)
    src.fill_(1)  # every page exists before the timing
    dst = torch.empty(n, dtype=torch.uint8, device="cuda")

    def copy():
        dst.copy_(src, non_blocking=True)

    end = time.perf_counter() + warmup_s
    while time.perf_counter() < end:
        copy()
        torch.cuda.synchronize()
    seconds = timed(copy, iters, rounds)
    del src, dst
    torch.cuda.empty_cache()
    return {"bytes": n, "pinned": pinned, "iters": iters, "rounds": rounds, "seconds_per_copy": seconds,
            "bytes_per_s": n / seconds}


def smi(fields):
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=" + fields, "--format=csv,noheader"], capture_output=True,
                              text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--sizes-mib", default="256,1024")
    parser.add_argument("--iters", type=int, default=8, help="pinned copies per timed round")
    parser.add_argument("--pageable-iters", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup-s", type=float, default=1.0)
    args = parser.parse_args()
    sizes = [int(s) << 20 for s in args.sizes_mib.split(",")]
    torch.cuda.init()
    runs = []
    for n in sizes:
        for pinned in (True, False):
            r = h2d(n, pinned, args.iters if pinned else args.pageable_iters, args.rounds, args.warmup_s)
            runs.append(r)
            print(f"{'pinned  ' if pinned else 'pageable'} {n >> 20:5d} MiB: {r['bytes_per_s'] / 1e9:6.2f} GB/s "
                  f"({r['seconds_per_copy'] * 1e3:.2f} ms per copy)", flush=True)
    pinned = max(r["bytes_per_s"] for r in runs if r["pinned"])
    pageable = max(r["bytes_per_s"] for r in runs if not r["pinned"])
    result = {
        "tool": "h2d",
        "device": torch.cuda.get_device_name(0),
        "nvidia_smi": smi("name,driver_version,memory.total"),
        # Read after the copies: an idle link may already have dropped its generation again.
        "pcie_link": smi("pcie.link.gen.current,pcie.link.gen.max,pcie.link.width.current,pcie.link.width.max"),
        "torch_version": torch.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "runs": runs,
        "pinned_h2d_bytes_per_s": pinned,
        "pageable_h2d_bytes_per_s": pageable,
        "method": "torch dst.copy_(src, non_blocking=True), CUDA events, best of rounds of mean over iters after "
                  f"{args.warmup_s} s of warm-up copies; best over sizes; GB = 1e9 bytes",
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(f"{result['device']}: pinned H2D {pinned / 1e9:.1f} GB/s, pageable {pageable / 1e9:.1f} GB/s "
          f"(PCIe link now: gen/max gen/width/max width {result['pcie_link'] or '—'})")


if __name__ == "__main__":
    main()
