"""Per-op Python overhead: minigrad against PyTorch on tiny tensors, where the time is
all framework overhead (graph recording, dispatch, the backward engine), not arithmetic.

Cases (float32, shape (32,), both inputs require grad unless noted):

- ``add``: ``a + b`` on tensors that need no grad (the leanest path through an op);
- ``add (grad)``: ``x + y`` with graph recording;
- ``chain forward``: ``((x * y) + y).relu().sum()`` (4 ops);
- ``chain forward+backward``: the same plus ``.backward()``.

Samples of ``--inner`` calls are timed alternately for minigrad and torch (interleaved, so
both see the same machine load) after ``--warmup`` samples; the table shows the median and
p10/p90 of the per-call time in microseconds and the ratio of the medians (minigrad /
torch: below 1 is faster). torch gets minigrad's thread count (``torch.set_num_threads``).

Run (unset the OpenBLAS core-type override so that BLAS picks the kernel for this CPU)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_overhead.py

Options: ``--samples N`` (default 500), ``--inner N`` (calls per sample, default 20),
``--warmup N`` (default 20), ``--clock wall|cpu`` (default wall). ``cpu`` times with this
thread's CPU clock, which leaves out the time the process waits for a core while other jobs
run on a shared machine: with these tiny ops both frameworks compute on the calling thread,
so it is a fair, much steadier measure (wall time is what a user sees).
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import numpy as np
import threadpoolctl
import torch

import minigrad as mg


def cases() -> list[tuple[str, int, Callable[[], object], Callable[[], object]]]:
    """(name, ops per call, minigrad fn, torch fn)."""
    rng = np.random.default_rng(0)
    xa, ya = (rng.standard_normal(32).astype(np.float32) for _ in range(2))
    x, y = mg.tensor(xa, requires_grad=True), mg.tensor(ya, requires_grad=True)
    tx, ty = torch.tensor(xa, requires_grad=True), torch.tensor(ya, requires_grad=True)
    a, b = mg.tensor(xa), mg.tensor(ya)
    ta, tb = torch.tensor(xa), torch.tensor(ya)

    def mg_chain():
        return ((x * y) + y).relu().sum()

    def torch_chain():
        return ((tx * ty) + ty).relu().sum()

    def mg_step():
        mg_chain().backward()

    def torch_step():
        torch_chain().backward()

    return [
        ("add", 1, lambda: a + b, lambda: ta + tb),
        ("add (grad)", 1, lambda: x + y, lambda: tx + ty),
        ("chain forward", 4, mg_chain, torch_chain),
        ("chain forward+backward", 4, mg_step, torch_step),
    ]


CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


def time_sample(fn: Callable[[], object], inner: int, clock: Callable[[], float]) -> float:
    """Seconds per call, averaged over ``inner`` back-to-back calls."""
    t0 = clock()
    for _ in range(inner):
        fn()
    return (clock() - t0) / inner


def blas_summary() -> list[str]:
    out = []
    for lib in threadpoolctl.threadpool_info():
        out.append(
            f"{lib.get('internal_api')} {lib.get('version')} kernel={lib.get('architecture')} "
            f"threads={lib.get('num_threads')} ({lib.get('filepath', '').rsplit('/', 1)[-1]})"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--inner", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    args = parser.parse_args()
    clock = CLOCKS[args.clock]

    threads = mg.get_num_threads()
    torch.set_num_threads(threads)
    print(f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
          f"minigrad {mg.__version__} (backend {mg.backend.current()})")
    print(f"threads: minigrad {threads}, torch {torch.get_num_threads()}")
    for line in blas_summary():
        print(f"BLAS: {line}")
    print(f"{args.samples} samples x {args.inner} calls per framework and case, interleaved, "
          f"after {args.warmup} warm-up samples; {args.clock} clock; times are per call in "
          "microseconds")
    print()

    rows = []
    for name, n_ops, mg_fn, torch_fn in cases():
        for _ in range(args.warmup):
            time_sample(mg_fn, args.inner, clock)
            time_sample(torch_fn, args.inner, clock)
        mg_t, torch_t = [], []
        for i in range(args.samples):
            # alternate which framework goes first so neither always runs right after the other
            first, second = (mg_fn, torch_fn) if i % 2 == 0 else (torch_fn, mg_fn)
            t1, t2 = time_sample(first, args.inner, clock), time_sample(second, args.inner, clock)
            (mg_t if first is mg_fn else torch_t).append(t1)
            (torch_t if first is mg_fn else mg_t).append(t2)
        mg_p = np.percentile(mg_t, [10, 50, 90]) * 1e6
        torch_p = np.percentile(torch_t, [10, 50, 90]) * 1e6
        rows.append((name, n_ops, mg_p, torch_p))

    header = (
        f"| {'case':24s} | ops | minigrad median (p10-p90) | per op | torch median (p10-p90) "
        f"| ratio |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for name, n_ops, m, t in rows:
        mg_cell = f"{m[1]:7.2f} ({m[0]:6.2f}-{m[2]:6.2f})"
        torch_cell = f"{t[1]:7.2f} ({t[0]:6.2f}-{t[2]:6.2f})"
        print(
            f"| {name:24s} | {n_ops:3d} | {mg_cell:25s} | {m[1] / n_ops:6.2f} | {torch_cell:22s} "
            f"| {m[1] / t[1]:5.2f} |"
        )

if __name__ == "__main__":
    main()
