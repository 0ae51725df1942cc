"""Where a training step's time goes, per op, in minigrad or in PyTorch.

    env -u OPENBLAS_CORETYPE python benchmarks/profile_train_step.py --case cnn
    env -u OPENBLAS_CORETYPE python benchmarks/profile_train_step.py --case cnn --framework torch

minigrad: every ``Function``'s forward and backward is wrapped with a timer (the kernel plus
the op's own NumPy work, without ``Function.apply``/engine bookkeeping), and the phases of the
step (forward, loss, zero_grad, backward, optimizer) are timed as wholes; "bookkeeping" is a
phase's time minus the ops inside it. torch: ``torch.profiler`` self CPU time per op. Medians
over ``--steps`` steps (after ``--warmup``), in ms per step. Runs one framework per process.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train_step import CASES, make_batches  # noqa: E402


def profile_minigrad(case: str, steps: int, warmup: int, threads: int | None,
                     by_shape: bool = False) -> None:
    import minigrad as mg
    import minigrad.nn.functional as F
    from minigrad.autograd import Function

    if threads:
        mg.set_num_threads(threads)
    samples: dict = collections.defaultdict(list)
    current: dict = collections.defaultdict(float)

    def wrap(cls, name):
        orig = cls.__dict__[name].__func__

        def timed(ctx, *args, **kwargs):
            key = cls.__name__
            if by_shape:  # the shape of the first array: forward's input, backward's gradient
                first = next((a for a in args if isinstance(a, np.ndarray)), None)
                key += "" if first is None else str(tuple(first.shape))
            t0 = time.perf_counter()
            try:
                return orig(ctx, *args, **kwargs)
            finally:
                current[(name, key)] += time.perf_counter() - t0

        setattr(cls, name, staticmethod(timed))

    def subclasses(c):
        for s in c.__subclasses__():
            yield s
            yield from subclasses(s)

    import minigrad.ops  # noqa: F401  (every op class registered)
    import minigrad.ops.conv  # noqa: F401
    import minigrad.ops.pool  # noqa: F401

    for cls in set(subclasses(Function)):
        for name in ("forward", "backward"):
            if name in cls.__dict__:
                wrap(cls, name)

    mg.manual_seed(0)
    model = CASES[case][1](mg.nn)
    opt = mg.optim.Adam(model.parameters(), lr=1e-3)
    xs, ys = make_batches(case)
    batches = [(mg.tensor(x), mg.tensor(y)) for x, y in zip(xs, ys)]
    for i in range(warmup + steps):
        current.clear()
        x, y = batches[i % len(batches)]
        t0 = time.perf_counter()
        out = model(x)
        t1 = time.perf_counter()
        loss = F.cross_entropy(out, y)
        t2 = time.perf_counter()
        opt.zero_grad()
        t3 = time.perf_counter()
        loss.backward()
        t4 = time.perf_counter()
        opt.step()
        t5 = time.perf_counter()
        if i < warmup:
            continue
        phases = {"model forward": t1 - t0, "cross_entropy (forward)": t2 - t1,
                  "zero_grad": t3 - t2, "backward (engine total)": t4 - t3,
                  "optimizer step": t5 - t4, "STEP TOTAL": t5 - t0}
        for k, v in phases.items():
            samples[("phase", k)].append(v)
        fw = sum(v for (kind, _), v in current.items() if kind == "forward")
        bw = sum(v for (kind, _), v in current.items() if kind == "backward")
        samples[("phase", "forward bookkeeping (apply, modules)")].append(t2 - t0 - fw)
        samples[("phase", "backward bookkeeping (engine)")].append(t4 - t3 - bw)
        for k, v in current.items():
            samples[k].append(v)
    print(f"minigrad {case}: {steps} steps, threads {mg.get_num_threads()}, ms per step (median, p90)")
    rows = sorted(samples.items(), key=lambda kv: (kv[0][0] != "phase", -np.median(kv[1])))
    for (kind, name), v in rows:
        v = np.array(v + [0.0] * (steps - len(v))) * 1e3
        print(f"  {kind:9s} {name:48s} {np.median(v):8.3f} {np.percentile(v, 90):8.3f}")


def profile_torch(case: str, steps: int, warmup: int, threads: int | None, fast: bool) -> None:
    import torch
    import torch.nn.functional as F
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(threads or 2)
    torch.manual_seed(0)
    model = CASES[case][1](torch.nn)
    fmt = torch.channels_last if fast else torch.contiguous_format
    if fast:
        model = model.to(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True if fast else None)
    xs, ys = make_batches(case)
    batches = [(torch.from_numpy(x).contiguous(memory_format=fmt), torch.from_numpy(y))
               for x, y in zip(xs, ys)]

    def step(i):
        x, y = batches[i % len(batches)]
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for i in range(warmup):
        step(i)
    times = []
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(steps):
            t0 = time.perf_counter()
            step(i)
            times.append(time.perf_counter() - t0)
    print(f"torch {case} ({'channels_last, fused Adam' if fast else 'default'}): {steps} steps, "
          f"threads {torch.get_num_threads()}; step median {np.median(times) * 1e3:.3f} ms "
          "(under the profiler)")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default="cnn", choices=sorted(CASES))
    ap.add_argument("--framework", default="minigrad", choices=["minigrad", "torch", "torch-fast"])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--by-shape", action="store_true", help="minigrad: one row per op and shape")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()}")
    if args.framework == "minigrad":
        profile_minigrad(args.case, args.steps, args.warmup, args.threads, args.by_shape)
    else:
        profile_torch(args.case, args.steps, args.warmup, args.threads, args.framework == "torch-fast")
    return 0


if __name__ == "__main__":
    sys.exit(main())
