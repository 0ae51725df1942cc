"""Memory stability of a long training run: RSS and live Python objects of the reference CNN
trained with Adam (batch 64) for 2,000 steps.

    python benchmarks/bench_memory.py [--steps 2000] [--data random|mnist] [--backend cython]

Model: conv 1->32 3x3 pad 1, ReLU, maxpool 2, conv 32->64 3x3 pad 1, ReLU, maxpool 2, flatten,
Linear 3136->128, ReLU, Linear 128->10; cross-entropy; Adam(lr=1e-3). Prints RSS (from
/proc/self/statm) and the gc object count at step 200 and at the last step, and exits with
status 1 if RSS grew by 5% or more between the two.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time

import numpy as np

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn, optim


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def reference_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def batches(kind: str, batch: int, seed: int = 0):
    """An endless stream of (x (B, 1, 28, 28) float32, y (B,) int64) batches."""
    if kind == "mnist":
        from minigrad.data import MNIST, DataLoader

        loader = DataLoader(MNIST(train=True), batch_size=batch, shuffle=True, drop_last=True)
        while True:
            yield from loader
    rng = np.random.default_rng(seed)
    pool_x = rng.random((32, batch, 1, 28, 28), dtype=np.float32)
    pool_y = rng.integers(0, 10, (32, batch))
    i = 0
    while True:
        yield mg.tensor(pool_x[i % 32]), mg.tensor(pool_y[i % 32])
        i += 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--first", type=int, default=200, help="step of the first measurement")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--data", choices=["random", "mnist"], default="random")
    ap.add_argument("--backend", default=None, help="numpy or cython (default: what is loaded)")
    args = ap.parse_args()
    if args.backend:
        mg.backend._select(args.backend)

    mg.manual_seed(0)
    model = reference_cnn()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    stream = batches(args.data, args.batch)
    print(f"backend {mg.backend.current()}, data {args.data}, batch {args.batch}, "
          f"{args.steps} steps; RSS at start {rss_mib():.1f} MiB", flush=True)
    marks = {}
    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        x, y = next(stream)
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if step in (args.first, args.steps) or step % 500 == 0:
            gc.collect()
            marks[step] = (rss_mib(), len(gc.get_objects()))
            print(f"step {step:5d}: RSS {marks[step][0]:8.1f} MiB, {marks[step][1]:7d} gc objects, "
                  f"loss {loss.item():.4f}, {time.perf_counter() - t0:6.1f} s", flush=True)
    (r0, o0), (r1, o1) = marks[args.first], marks[args.steps]
    growth = (r1 - r0) / r0 * 100
    print(f"RSS growth from step {args.first} to {args.steps}: {r1 - r0:+.1f} MiB ({growth:+.2f}%); "
          f"gc objects {o1 - o0:+d}")
    ok = growth < 5.0
    print("OK: RSS growth < 5%" if ok else "FAIL: RSS grew by 5% or more")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
