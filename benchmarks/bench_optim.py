"""Optimizer step time, minigrad vs torch.optim (default single-tensor CPU path), on the
reference CNN's parameter shapes (421,642 float32 parameters).

    python benchmarks/bench_optim.py

Interleaved steps, medians (p10-p90) over 200 steps after 30 warm-up steps, both on 1 thread.
"""

from __future__ import annotations

import time

import numpy as np
import torch

import minigrad as mg
from minigrad import optim

SHAPES = [(32, 1, 3, 3), (32,), (64, 32, 3, 3), (64,), (128, 3136), (128,), (10, 128), (10,)]
CASES = [("SGD", dict(lr=0.1)), ("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", {}),
         ("AdamW", {}), ("RMSprop", {})]


def main() -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    init = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    print("load average:", " ".join(f"{x:.2f}" for x in __import__("os").getloadavg()))
    print(f"{sum(a.size for a in init):,} parameters")
    for name, kw in CASES:
        mps = [mg.tensor(a, requires_grad=True) for a in init]
        tps = [torch.tensor(a, requires_grad=True) for a in init]
        for m, t, g in zip(mps, tps, grads):
            m.grad = mg.tensor(g)
            t.grad = torch.tensor(g)
        mo, to = getattr(optim, name)(mps, **kw), getattr(torch.optim, name)(tps, **kw)
        tm, tt = [], []
        for i in range(230):
            t0 = time.perf_counter()
            mo.step()
            t1 = time.perf_counter()
            to.step()
            t2 = time.perf_counter()
            if i >= 30:
                tm.append(t1 - t0)
                tt.append(t2 - t1)
        q = lambda xs: np.percentile(xs, [50, 10, 90]) * 1e3  # noqa: E731
        print(f"{name}({', '.join(f'{k}={v}' for k, v in kw.items())}): minigrad %.3f ms (%.3f-%.3f), "
              "torch %.3f ms (%.3f-%.3f)" % (*q(tm), *q(tt)))


if __name__ == "__main__":
    main()
