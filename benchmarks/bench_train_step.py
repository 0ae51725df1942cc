"""Whole training steps, minigrad against PyTorch: forward, cross-entropy, zero_grad, backward
and the optimizer step, batch 64.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_train_step.py
    python benchmarks/bench_train_step.py --cases mlp128 --steps 100 --no-record   # a quick look

Cases (Adam(lr=1e-3), cross-entropy, float32, random inputs; both frameworks start from the
same weights, copied from minigrad to torch, and see the same batches):

- ``cnn``: conv 1->32 3x3 pad 1, ReLU, maxpool 2, conv 32->64 3x3 pad 1, ReLU, maxpool 2,
  flatten, Linear 3136->128, ReLU, Linear 128->10, built from ``minigrad.nn`` modules. Torch
  runs twice: its default eager setup, and with channels_last memory format +
  ``Adam(fused=True)``.
- ``mlp1024``: 784-1024-10 with ReLU;  ``mlp128``: 784-128-10 with ReLU.

Timing: the frameworks alternate in blocks of ``--block`` steps within one process, torch on
``minigrad.get_num_threads()`` threads. After ``--warmup`` steps per framework, every step is
timed separately (``time.perf_counter``); the table gives medians and p10/p90 over
``--steps`` steps, and the ratios (minigrad / torch) of the medians and of the p10s. The
timing then runs again in a fresh process with ``OMP_WAIT_POLICY=passive`` (a second table):
on a machine shared with other jobs, spinning OpenMP threads and their wake-ups dominate
both frameworks' times with the default policy. Peak RSS of the CNN training
loop is measured in fresh processes, one per framework (each imports only its own framework).
The table goes to benchmarks/RESULTS.md under "Training step" (``--no-record`` to skip).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BATCH = 64
SECTION = "## Training step"


# --------------------------------------------------------------------------- models


def cnn_layers(nn):
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def mlp_layers(nn, hidden):
    return nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10))


CASES = {
    "cnn": ("reference CNN", cnn_layers),
    "mlp1024": ("MLP 784-1024-10", lambda nn: mlp_layers(nn, 1024)),
    "mlp128": ("MLP 784-128-10", lambda nn: mlp_layers(nn, 128)),
}


def make_batches(case: str, count: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    shape = (BATCH, 1, 28, 28)
    xs = [rng.random(shape, dtype=np.float32) for _ in range(count)]
    ys = [rng.integers(0, 10, BATCH).astype(np.int64) for _ in range(count)]
    return xs, ys


class MinigradStep:
    """One minigrad training step on a prepared batch."""

    name = "minigrad"

    def __init__(self, case, xs, ys):
        import minigrad as mg
        import minigrad.nn.functional as F

        mg.manual_seed(0)
        self.model = CASES[case][1](mg.nn)
        self.opt = mg.optim.Adam(self.model.parameters(), lr=1e-3)
        self.batches = [(mg.tensor(x), mg.tensor(y)) for x, y in zip(xs, ys)]
        self.F = F
        self.i = 0

    def __call__(self):
        x, y = self.batches[self.i % len(self.batches)]
        self.i += 1
        loss = self.F.cross_entropy(self.model(x), y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return loss

    def state(self):
        return {k: v.data for k, v in self.model.state_dict().items()}


class TorchStep:
    """One torch training step; ``fast``: channels_last + Adam(fused=True)."""

    def __init__(self, case, xs, ys, weights, fast=False):
        import torch
        import torch.nn.functional as F

        self.torch = torch
        self.model = CASES[case][1](torch.nn)
        self.model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})
        fmt = torch.channels_last if fast else torch.contiguous_format
        if fast:
            self.model = self.model.to(memory_format=fmt)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3, fused=True if fast else None)
        self.batches = [
            (torch.from_numpy(x).contiguous(memory_format=fmt), torch.from_numpy(y))
            for x, y in zip(xs, ys)
        ]
        self.F = F
        self.i = 0
        self.name = "torch (channels_last, fused Adam)" if fast else "torch (default)"

    def __call__(self):
        x, y = self.batches[self.i % len(self.batches)]
        self.i += 1
        loss = self.F.cross_entropy(self.model(x), y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return loss


# --------------------------------------------------------------------------- timing


def interleaved(runners, steps: int, warmup: int, block: int) -> list[np.ndarray]:
    """Per-step seconds for each runner, the runners alternating in blocks of ``block`` steps."""
    times = [[] for _ in runners]
    for _ in range(warmup):
        for r in runners:
            r()
    done = 0
    while done < steps:
        n = min(block, steps - done)
        for k, r in enumerate(runners):
            for _ in range(n):
                t0 = time.perf_counter()
                r()
                times[k].append(time.perf_counter() - t0)
        done += n
    return [np.array(t) for t in times]


def stats_ms(t: np.ndarray) -> tuple[float, float, float]:
    return tuple(float(v) * 1e3 for v in np.percentile(t, [50, 10, 90]))


def check_same_losses(case, xs, ys, weights) -> float:
    """Largest loss difference over 3 steps from identical weights (a sanity check that both
    frameworks train the same model)."""
    m = MinigradStep(case, xs, ys)
    for k, v in m.model.state_dict().items():
        v.data[...] = weights[k]
    t = TorchStep(case, xs, ys, weights)
    diffs = [abs(float(m().item()) - float(t().item())) for _ in range(3)]
    return max(diffs)


# --------------------------------------------------------------------------- peak memory


def memory_child(framework: str, steps: int, threads: int) -> None:
    """Train the CNN for ``steps`` steps in this fresh process; print peak RSS as JSON."""

    def rss_mib() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    xs, ys = make_batches("cnn")
    if framework == "minigrad":
        import minigrad as mg

        mg.set_num_threads(threads)
        after_import = rss_mib()
        step = MinigradStep("cnn", xs, ys)
    else:
        import torch

        torch.set_num_threads(threads)
        after_import = rss_mib()
        mg_weights = {k: np.asarray(v.detach().numpy()) for k, v in
                      cnn_layers(torch.nn).state_dict().items()}
        step = TorchStep("cnn", xs, ys, mg_weights, fast=framework == "torch-fast")
    for _ in range(steps):
        step()
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec.
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    print(json.dumps({"framework": framework, "after_import": after_import, "peak": peak,
                      "final": rss_mib()}))


def measure_memory(steps: int, threads: int) -> dict:
    out = {}
    for fw in ("minigrad", "torch", "torch-fast"):
        res = subprocess.run(
            [sys.executable, __file__, "--memory-child", fw, "--memory-steps", str(steps),
             "--threads", str(threads)],
            capture_output=True, text=True, check=True,
        )
        out[fw] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


# --------------------------------------------------------------------------- report


def blas_summary(info: list[dict]) -> str:
    parts = []
    for lib in info:
        if lib.get("user_api") == "blas":
            parts.append(f"{lib.get('internal_api')} {lib.get('version')} "
                         f"({Path(lib.get('filepath', '')).name}) kernel "
                         f"{lib.get('architecture')}, {lib.get('num_threads')} thread(s)")
        else:
            parts.append(f"{lib.get('internal_api')} ({Path(lib.get('filepath', '')).name}), "
                         f"{lib.get('num_threads')} thread(s)")
    return "; ".join(parts)


def record(text: str) -> None:
    path = HERE / "RESULTS.md"
    content = path.read_text() if path.exists() else "# Benchmark results\n"
    start = content.find(SECTION + "\n")
    if start < 0:
        content = content.rstrip("\n") + "\n\n" + text
    else:
        nxt = content.find("\n## ", start + len(SECTION))
        content = content[:start] + text + ("" if nxt < 0 else content[nxt:])
    path.write_text(content.rstrip("\n") + "\n")


def time_cases(cases: list[str], steps: int, warmup: int, block: int) -> list[tuple]:
    """Rows ``(model, torch setup, mg median, p10, p90, torch median, p10, p90)`` in ms."""
    rows = []
    for case in cases:
        label = CASES[case][0]
        xs, ys = make_batches(case)
        mgs = MinigradStep(case, xs, ys)
        weights = mgs.state()
        diff = check_same_losses(case, xs, ys, weights)
        runners = [mgs, TorchStep(case, xs, ys, weights)]
        if case == "cnn":
            runners.append(TorchStep(case, xs, ys, weights, fast=True))
        times = interleaved(runners, steps, warmup, block)
        for r, t in zip(runners[1:], times[1:]):
            rows.append((label, r.name, *stats_ms(times[0]), *stats_ms(t)))
        print(f"{label}: minigrad {stats_ms(times[0])}, "
              + ", ".join(f"{r.name} {stats_ms(t)}" for r, t in zip(runners[1:], times[1:]))
              + f"  (max loss diff over 3 steps from equal weights: {diff:.2e})", flush=True)
    return rows


def table(rows: list[tuple]) -> list[str]:
    lines = [
        "| model | torch setup | minigrad ms | torch ms | ratio of medians | ratio of p10 |",
        "|---|---|---|---|---|---|",
    ]
    for label, tname, m, m10, m90, t, t10, t90 in rows:
        lines.append(f"| {label} | {tname} | {m:.2f} ({m10:.2f}-{m90:.2f}) | "
                     f"{t:.2f} ({t10:.2f}-{t90:.2f}) | {m / t:.2f} | {m10 / t10:.2f} |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="cnn,mlp1024,mlp128")
    ap.add_argument("--steps", type=int, default=150, help="timed steps per framework")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--block", type=int, default=5, help="steps per framework per turn")
    ap.add_argument("--memory-steps", type=int, default=100)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--no-passive", action="store_true",
                    help="skip the second timing run with OMP_WAIT_POLICY=passive")
    ap.add_argument("--no-record", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--rows-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.memory_child:
        memory_child(args.memory_child, args.memory_steps, args.threads)
        return 0

    import threadpoolctl
    import torch

    import minigrad as mg

    if args.threads:
        mg.set_num_threads(args.threads)
    threads = mg.get_num_threads()
    torch.set_num_threads(threads)
    mg.set_num_threads(threads)  # re-apply the BLAS limits after torch loaded its libraries
    cases = args.cases.split(",")
    if args.rows_child:
        rows = time_cases(cases, args.steps, args.warmup, args.block)
        print("ROWS " + json.dumps(rows))
        return 0

    info = threadpoolctl.threadpool_info()
    started = datetime.datetime.now(datetime.timezone.utc)
    print(f"{started:%Y-%m-%d %H:%M} UTC; Python {platform.python_version()}, numpy "
          f"{np.__version__}, torch {torch.__version__}, minigrad backend {mg.backend.current()}, "
          f"{threads} thread(s); OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    print(f"load average at start: {os.getloadavg()}")
    print("threadpoolctl.threadpool_info():")
    for lib in info:
        print("  ", {k: lib.get(k) for k in ("user_api", "internal_api", "version", "architecture",
                                              "num_threads", "filepath")})

    rows = time_cases(cases, args.steps, args.warmup, args.block)
    passive = None
    if not args.no_passive:
        # OpenMP reads the policy when it loads: a fresh process, same measurement.
        env = dict(os.environ, OMP_WAIT_POLICY="passive")
        cmd = [sys.executable, __file__, "--rows-child", "--cases", args.cases, "--steps",
               str(args.steps), "--warmup", str(args.warmup), "--block", str(args.block),
               "--threads", str(threads)]
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        print(res.stdout, end="")
        passive = json.loads(res.stdout.split("ROWS ", 1)[1])
    mem = None if args.no_memory else measure_memory(args.memory_steps, threads)
    load_end = os.getloadavg()

    lines = [
        SECTION, "",
        "Command (the default: all cases, 150 timed steps per framework after 20 warm-up steps, "
        "blocks of 5 steps alternating between the frameworks in one process; then the same in "
        "a fresh process with `OMP_WAIT_POLICY=passive`; then peak memory):", "",
        "    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_train_step.py", "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC on the shared 2-core machine (load average "
        f"{load_end[0]:.1f} at the end of the run, {load_end[1]:.1f} over 5 min, this run's "
        f"own threads included; the machine is shared, so only the ratios of one run mean "
        f"much). Python {platform.python_version()}, numpy {np.__version__}, torch "
        f"{torch.__version__}, minigrad backend {mg.backend.current()}, {threads} thread(s) in "
        f"both frameworks (`torch.set_num_threads`). BLAS and OpenMP "
        f"(`threadpoolctl.threadpool_info()`): {blas_summary(info)}. Both frameworks share the "
        "one OpenMP runtime in the process (torch's libgomp, loaded first) and minigrad's "
        "malloc settings (`minigrad/allocator.py`), which spare torch's steps their page "
        "faults too: a torch process of its own runs slower than here.", "",
        "Step = forward, `cross_entropy`, `zero_grad()`, `backward()`, `Adam.step()`; batch 64, "
        "float32; times per step in ms, median (p10-p90); ratios are minigrad / torch.", "",
        "Default OpenMP settings (both frameworks):", "",
        *table(rows),
    ]
    if passive:
        lines += [
            "",
            "Same, with `OMP_WAIT_POLICY=passive` (both frameworks; idle OpenMP threads sleep "
            "instead of spinning, so a loaded machine hurts less, at the price of a wake-up per "
            "parallel region):", "",
            *table(passive),
        ]
    if mem:
        lines += [
            "",
            f"Peak RSS of the CNN training loop ({args.memory_steps} steps, each framework in a "
            "fresh process that imports only itself; `VmHWM` from /proc/self/status), MiB:", "",
            "| framework | RSS after import | peak RSS | peak minus import |",
            "|---|---|---|---|",
        ]
        names = {"minigrad": "minigrad", "torch": "torch (default)",
                 "torch-fast": "torch (channels_last, fused Adam)"}
        for fw, r in mem.items():
            lines.append(f"| {names[fw]} | {r['after_import']:.0f} | {r['peak']:.0f} | "
                         f"{r['peak'] - r['after_import']:.0f} |")
        ratio = mem["minigrad"]["peak"] / mem["torch"]["peak"]
        lines += ["", f"Peak RSS ratio minigrad / torch (default): {ratio:.2f}."]
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    if not args.no_record:
        record(text)
        print(f"recorded in {HERE / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
