"""Kernel benchmarks: minigrad against NumPy and PyTorch on this machine.

Every case times minigrad and its references interleaved (turns of a few back-to-back calls
of each, in alternating order), after warm-up calls, and reports the median with p10/p90 of each and
the ratio of the medians (minigrad / first reference: below 1 is faster). Each framework
gets the same thread count (``torch.set_num_threads``; NumPy's BLAS is given that many
threads while NumPy is timed and returned to minigrad's policy, one thread, afterwards).

Run (unset the OpenBLAS core-type override so that BLAS picks the kernel for this CPU)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_kernels.py

Options: ``--reps N`` timed calls per framework (default 120), ``--warmup N`` (default 20),
``--block N`` calls per turn (default 5), ``--threads N``,
``--only SUBSTRING`` (select cases), ``--section SUBSTRING`` (select cases by section, e.g.
``--section pooling``), ``--no-save`` (do not append to RESULTS.md). For the pooling and
elementwise cases the GFLOP/s column counts one operation per input element.

Adding a case: write a ``build(ctx) -> (minigrad_fn, {reference_name: fn}, flops)``
function and append a ``Case`` to ``CASES`` (``section`` groups cases in RESULTS.md).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import threadpoolctl
import torch

import minigrad as mg
from minigrad import backend
from minigrad.backend import reference
from minigrad.ops.conv import conv2d
from minigrad.ops.pool import avg_pool2d, max_pool2d

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"


@dataclass
class Context:
    """What a case's build function may use."""

    threads: int
    rng: np.random.Generator
    numpy_blas: list  # threadpoolctl controllers of NumPy's own BLAS


@dataclass
class Case:
    name: str
    section: str
    build: Callable[[Context], tuple[Callable[[], object], dict[str, Callable[[], object]], float]]


# --------------------------------------------------------------------------- matmul


def _numpy_with_threads(ctx: Context, fn: Callable[[], object]) -> Callable[[], object]:
    """fn, timed with NumPy's BLAS on ctx.threads threads (minigrad keeps it at one)."""

    def run():
        for lib in ctx.numpy_blas:
            lib.set_num_threads(ctx.threads)
        try:
            return fn()
        finally:
            for lib in ctx.numpy_blas:
                lib.set_num_threads(1)

    # The runner times only ``inner``: the two set_num_threads calls stay outside the clock.
    run.inner = fn
    # OpenBLAS's worker threads busy-wait for up to ~0.1 s after a call (THREAD_TIMEOUT):
    # wait that out, or the next framework runs with a core taken by a spinning thread.
    run.settle = 0.15
    run.before = lambda: [lib.set_num_threads(ctx.threads) for lib in ctx.numpy_blas]
    run.after = lambda: [lib.set_num_threads(1) for lib in ctx.numpy_blas]
    return run


def matmul_case(m: int, k: int, n: int) -> Callable[[Context], tuple]:
    def build(ctx: Context):
        a = ctx.rng.standard_normal((m, k)).astype(np.float32)
        b = ctx.rng.standard_normal((k, n)).astype(np.float32)
        at, bt = torch.from_numpy(a), torch.from_numpy(b)
        ours = lambda: backend.matmul(a, b)  # noqa: E731
        refs = {
            "numpy": _numpy_with_threads(ctx, lambda: np.matmul(a, b)),
            "torch": lambda: torch.matmul(at, bt),
        }
        return ours, refs, 2.0 * m * k * n

    return build


def linear_case(batch: int, fin: int, fout: int) -> Callable[[Context], tuple]:
    """The autograd op: forward + backward of a Linear layer (weight and input gradients)."""

    def build(ctx: Context):
        x = ctx.rng.standard_normal((batch, fin)).astype(np.float32)
        w = ctx.rng.standard_normal((fout, fin)).astype(np.float32) * 0.05
        b = np.zeros(fout, np.float32)
        g = ctx.rng.standard_normal((batch, fout)).astype(np.float32)
        xm, wm, bm = (mg.tensor(v, requires_grad=True) for v in (x, w, b))
        xt, wt, bt = (torch.tensor(v, requires_grad=True) for v in (x, w, b))
        gt = torch.from_numpy(g)

        def ours():
            xm.grad = wm.grad = bm.grad = None
            mg.ops.linalg.linear(xm, wm, bm).backward(mg.tensor(g))

        def theirs():
            xt.grad = wt.grad = bt.grad = None
            torch.nn.functional.linear(xt, wt, bt).backward(gt)

        return ours, {"torch": theirs}, 3 * 2.0 * batch * fin * fout

    return build


# --------------------------------------------------------------------------- conv2d


def conv_case(n: int, cin: int, hw: int, cout: int, k: int, pad: int, input_grad: bool, backward: bool):
    """conv2d (+ backward with a fixed cotangent) through the autograd layer, like training."""

    def build(ctx: Context):
        x = ctx.rng.standard_normal((n, cin, hw, hw)).astype(np.float32)
        w = (ctx.rng.standard_normal((cout, cin, k, k)) * 0.1).astype(np.float32)
        b = np.zeros(cout, np.float32)
        oh = hw + 2 * pad - k + 1
        g = ctx.rng.standard_normal((n, cout, oh, oh)).astype(np.float32)
        xm = mg.tensor(x, requires_grad=input_grad)
        wm, bm = mg.tensor(w, requires_grad=True), mg.tensor(b, requires_grad=True)
        xt = torch.tensor(x, requires_grad=input_grad)
        wt, bt = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
        gm, gt = mg.tensor(g), torch.from_numpy(g)

        def ours():
            xm.grad = wm.grad = bm.grad = None
            out = conv2d(xm, wm, bm, padding=pad)
            if backward:
                out.backward(gm)

        def theirs():
            xt.grad = wt.grad = bt.grad = None
            out = torch.nn.functional.conv2d(xt, wt, bt, padding=pad)
            if backward:
                out.backward(gt)

        flops = 2.0 * n * cout * oh * oh * cin * k * k
        if backward:
            flops *= 3 if input_grad else 2
        return ours, {"torch": theirs}, flops

    return build


CASES: list[Case] = [
    Case("matmul f32 512x512 @ 512x512", "matmul", matmul_case(512, 512, 512)),
    Case("matmul f32 1024x1024 @ 1024x1024", "matmul", matmul_case(1024, 1024, 1024)),
    Case("matmul f32 64x784 @ 784x1024", "matmul", matmul_case(64, 784, 1024)),
    Case("linear f32 fwd+bwd 64x784 -> 1024", "matmul", linear_case(64, 784, 1024)),
    Case("conv1 fwd 64x1x28x28, 32 3x3 pad 1", "conv2d", conv_case(64, 1, 28, 32, 3, 1, False, False)),
    Case("conv1 fwd+bwd (no input grad)", "conv2d", conv_case(64, 1, 28, 32, 3, 1, False, True)),
    Case("conv2 fwd 64x32x14x14, 64 3x3 pad 1", "conv2d", conv_case(64, 32, 14, 64, 3, 1, True, False)),
    Case("conv2 fwd+bwd", "conv2d", conv_case(64, 32, 14, 64, 3, 1, True, True)),
]


# --------------------------------------------------------------------------- pooling and elementwise


def pool_case(kind: str, n: int, c: int, hw: int, k: int, stride: int | None, pad: int, backward: bool):
    """max_pool2d / avg_pool2d through the autograd layer (+ backward with a fixed cotangent)."""

    def build(ctx: Context):
        x = ctx.rng.standard_normal((n, c, hw, hw)).astype(np.float32)
        ours_fn = max_pool2d if kind == "max" else avg_pool2d
        theirs_fn = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d
        xm, xt = mg.tensor(x, requires_grad=backward), torch.tensor(x, requires_grad=backward)
        g = ctx.rng.standard_normal(tuple(theirs_fn(torch.from_numpy(x), k, stride, pad).shape))
        gm, gt = mg.tensor(g.astype(np.float32)), torch.from_numpy(g.astype(np.float32))

        def ours():
            xm.grad = None
            out = ours_fn(xm, k, stride, pad)
            if backward:
                out.backward(gm)

        def theirs():
            xt.grad = None
            out = theirs_fn(xt, k, stride, pad)
            if backward:
                out.backward(gt)

        return ours, {"torch": theirs}, float(x.size)  # one comparison/addition per input element

    return build


def relu_case(shape: tuple[int, ...], backward: bool):
    """ReLU through the autograd layer; forward-only also against NumPy's np.maximum."""

    def build(ctx: Context):
        x = ctx.rng.standard_normal(shape).astype(np.float32)
        g = ctx.rng.standard_normal(shape).astype(np.float32)
        xm, xt = mg.tensor(x, requires_grad=backward), torch.tensor(x, requires_grad=backward)
        gm, gt = mg.tensor(g), torch.from_numpy(g)

        def ours():
            xm.grad = None
            out = mg.relu(xm)
            if backward:
                out.backward(gm)

        def theirs():
            xt.grad = None
            out = torch.relu(xt)
            if backward:
                out.backward(gt)

        refs = {"torch": theirs}
        if backward:
            refs["numpy"] = lambda: np.where(np.maximum(x, 0) > 0, g, 0)  # forward + backward
        else:
            refs["numpy"] = lambda: np.maximum(x, 0)
        return ours, refs, float(x.size)

    return build


def cross_entropy_case(n: int, c: int):
    """The fused log-softmax + NLL kernel (loss and gradient) against the NumPy reference,
    and torch's cross_entropy forward + backward (through its autograd)."""

    def build(ctx: Context):
        x = ctx.rng.standard_normal((n, c)).astype(np.float32)
        t = ctx.rng.integers(0, c, n)
        xt, tt = torch.tensor(x, requires_grad=True), torch.from_numpy(t)

        def theirs():
            xt.grad = None
            torch.nn.functional.cross_entropy(xt, tt, reduction="sum").backward()

        refs = {"numpy": lambda: reference.log_softmax_nll_forward(x, t, -100), "torch": theirs}
        return lambda: backend.log_softmax_nll_forward(x, t, -100), refs, float(x.size)

    return build


_PE = "pooling and elementwise"
CASES += [
    Case("max_pool2d fwd+bwd 64x32x28x28 k2", _PE, pool_case("max", 64, 32, 28, 2, None, 0, True)),
    Case("max_pool2d fwd+bwd 64x64x14x14 k2", _PE, pool_case("max", 64, 64, 14, 2, None, 0, True)),
    Case("max_pool2d fwd 64x32x28x28 k2 (no grad)", _PE, pool_case("max", 64, 32, 28, 2, None, 0, False)),
    Case("max_pool2d fwd+bwd 64x32x28x28 k3 s2 p1", _PE, pool_case("max", 64, 32, 28, 3, 2, 1, True)),
    Case("avg_pool2d fwd+bwd 64x32x28x28 k2", _PE, pool_case("avg", 64, 32, 28, 2, None, 0, True)),
    Case("relu fwd 64x32x28x28", _PE, relu_case((64, 32, 28, 28), False)),
    Case("relu fwd+bwd 64x32x28x28", _PE, relu_case((64, 32, 28, 28), True)),
    Case("log_softmax_nll kernel 64x10", _PE, cross_entropy_case(64, 10)),
    Case("log_softmax_nll kernel 4096x100", _PE, cross_entropy_case(4096, 100)),
]


# --------------------------------------------------------------------------- runner


def _time_block(fn: Callable[[], object], calls: int) -> list[float]:
    """Seconds per call of ``calls`` back-to-back calls (fn's before/after hooks, e.g. NumPy's
    thread count, stay outside the clock)."""
    before, after = getattr(fn, "before", None), getattr(fn, "after", None)
    call = fn if before is None else fn.inner
    if before is not None:
        before()
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    if after is not None:
        after()
    return times


def run_case(case: Case, ctx: Context, reps: int, warmup: int, pause: float, block: int) -> dict:
    """Time every framework on ``case``: turns of ``block`` back-to-back calls, alternating
    between the frameworks (order reversed every round), until each has ``reps`` timed calls
    after ``warmup`` untimed ones. Timing turns rather than single calls keeps one framework's
    idle worker threads (still spinning after its call) out of the next framework's clock."""
    ours, refs, flops = case.build(ctx)
    fns = {"minigrad": ours, **refs}
    names = list(fns)
    times: dict[str, list[float]] = {k: [] for k in names}
    rounds = -(-(warmup + reps) // block)
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            ts = _time_block(fns[name], block)
            done = r * block
            times[name].extend(t for i, t in enumerate(ts) if done + i >= warmup)
            wait = max(pause, getattr(fns[name], "settle", 0.0))
            time.sleep(wait)  # let this framework's spinning threads go idle
            if wait > 0.01:
                # After a long sleep the core may have clocked down: busy-wait a few ms so
                # that the next framework does not pay for the ramp-up.
                until = time.perf_counter() + 0.005
                while time.perf_counter() < until:
                    pass
    stats = {}
    for name, ts in times.items():
        arr = np.array(ts) * 1e3
        stats[name] = {
            "median": float(np.median(arr)),
            "p10": float(np.percentile(arr, 10)),
            "p90": float(np.percentile(arr, 90)),
        }
    return {"case": case, "flops": flops, "stats": stats, "refs": list(refs)}


def _fmt_stat(s: dict) -> str:
    return f"{s['median']:.3f} [{s['p10']:.3f}, {s['p90']:.3f}]"


def format_table(results: list[dict]) -> str:
    lines = [
        "| case | minigrad ms (median [p10, p90]) | reference | reference ms | time ratio minigrad/ref "
        "| minigrad GFLOP/s |",
        "|---|---|---|---|---|---|",
    ]
    for res in results:
        mine = res["stats"]["minigrad"]
        gflops = res["flops"] / (mine["median"] * 1e-3) / 1e9
        for i, ref in enumerate(res["refs"]):
            theirs = res["stats"][ref]
            ratio = mine["median"] / theirs["median"]
            first = i == 0
            lines.append(
                f"| {res['case'].name if first else ''} | {_fmt_stat(mine) if first else ''} | {ref} | "
                f"{_fmt_stat(theirs)} | {ratio:.2f}x | {f'{gflops:.0f}' if first else ''} |"
            )
    return "\n".join(lines)


def blas_summary() -> str:
    rows = []
    for lib in threadpoolctl.threadpool_info():
        rows.append(
            f"{Path(lib['filepath']).name}: {lib.get('internal_api')} {lib.get('version')}, "
            f"architecture {lib.get('architecture')}, {lib['num_threads']} thread(s)"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=120)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=mg.get_num_threads())
    parser.add_argument("--only", default="")
    parser.add_argument("--section", default="",
                        help="select cases whose section contains this (several: comma-separated)")
    parser.add_argument("--block", type=int, default=5,
                        help="back-to-back calls per framework per turn")
    parser.add_argument("--pause", type=float, default=0.02,
                        help="seconds between one framework's turn and the next's")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)

    mg.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    numpy_blas = [
        lib for lib in threadpoolctl.ThreadpoolController().lib_controllers
        if lib.user_api == "blas" and "numpy" in lib.filepath
    ]
    ctx = Context(args.threads, np.random.default_rng(0), numpy_blas)
    sections = args.section.split(",")
    cases = [c for c in CASES if args.only in c.name and any(s in c.section for s in sections)]

    print(f"minigrad backend: {backend.current()}, threads: {args.threads}; torch threads: "
          f"{torch.get_num_threads()}")
    print("threadpoolctl.threadpool_info():")
    for lib in threadpoolctl.threadpool_info():
        print("  ", lib)
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")

    load_before = os.getloadavg()
    results = []
    for case in cases:
        res = run_case(case, ctx, args.reps, args.warmup, args.pause, args.block)
        results.append(res)
        mine = res["stats"]["minigrad"]
        ref = res["refs"][0]
        print(f"{case.name:40s} minigrad {_fmt_stat(mine)} ms   {ref} {_fmt_stat(res['stats'][ref])} ms"
              f"   ratio {mine['median'] / res['stats'][ref]['median']:.2f}x", flush=True)

    table = format_table(results)
    print()
    print(table)
    if args.no_save:
        return
    command = "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_kernels.py"
    extra = " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sections = sorted({r["case"].section for r in results})
    block = [
        "",
        f"## Kernels: {' and '.join(sections)}" if sections != ["conv2d", "matmul"]
        else "## Kernels: matmul and conv2d",
        "",
        f"Run {date} on {platform.processor() or platform.machine()} ({os.cpu_count()} vCPU), "
        f"`{command}{' ' + extra if extra else ''}`; {args.reps} timed calls per framework after "
        f"{args.warmup} warm-up calls, in turns of {args.block} back-to-back calls alternating "
        f"between the frameworks; {args.threads} thread(s) for every framework. "
        "The machine was shared with other work while this ran (1-minute load average "
        f"{load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} vCPUs): "
        "the numbers are noisy, compare the ratios (taken in one interleaved run) rather than "
        "absolute times.",
        "",
        "BLAS libraries (threadpoolctl, as minigrad leaves them):",
        "",
        *[f"- {line}" for line in blas_summary().splitlines()],
        "",
        table,
        "",
    ]
    new = not RESULTS.exists() or RESULTS.stat().st_size == 0
    with open(RESULTS, "a") as f:
        if new:
            f.write("# Benchmark results\n")
        f.write("\n".join(block))
    print(f"\nappended to {RESULTS}")


if __name__ == "__main__":
    main()
