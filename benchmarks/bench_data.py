"""Data loading: MNIST from the classic pickle and from the official IDX files, and one
shuffled DataLoader epoch.

    MINIGRAD_DATA=/path/to/data python benchmarks/bench_data.py

Each load runs in a fresh process; medians over the runs. The pickle is timed twice: the
first load decodes it and writes the decoded bytes to the cache, later loads read the cache.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RUNS = 5
LOAD = """
import time, sys
import minigrad
from minigrad.data import MNIST
t, c = time.perf_counter(), time.process_time()
ds = MNIST(sys.argv[1], train=True)
print(time.perf_counter() - t, time.process_time() - c, len(ds))
"""


def fresh_load(root: str, cache: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one ``MNIST(root, train=True)`` in a new process."""
    env = dict(os.environ, MINIGRAD_CACHE=cache)
    out = subprocess.run([sys.executable, "-c", LOAD, root], check=True, capture_output=True, text=True,
                         env=env)
    wall, cpu, n = out.stdout.split()
    assert int(n) == 60000
    return float(wall), float(cpu)


def report(what: str, runs: list[tuple[float, float]]) -> None:
    wall = [r[0] for r in runs]
    cpu = [r[1] for r in runs]
    print(f"MNIST(train=True), 60,000 images, {what}: wall median {np.median(wall):.3f} s "
          f"(min {min(wall):.3f}, max {max(wall):.3f}); CPU median {np.median(cpu):.3f} s "
          f"({len(runs)} fresh processes)")


def write_idx(directory: Path, images: np.ndarray, labels: np.ndarray) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, arr in (("train-images-idx3-ubyte.gz", images), ("train-labels-idx1-ubyte.gz", labels)):
        header = bytes([0, 0, 8, arr.ndim]) + np.array(arr.shape, ">u4").tobytes()
        with gzip.open(directory / name, "wb") as f:
            f.write(header + arr.astype(np.uint8).tobytes())


def main() -> None:
    print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    import minigrad as mg
    from minigrad.data import MNIST, DataLoader

    root = os.environ.get("MINIGRAD_DATA")
    if not root:
        sys.exit("set MINIGRAD_DATA to the folder holding mnist.pkl.gz")
    cold, warm = [], []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as cache:
            cold.append(fresh_load(root, cache))  # decodes the pickle, writes the cache
            warm.append(fresh_load(root, cache))  # reads the decoded bytes back
    report("mnist.pkl.gz, first load (decode + write cache)", cold)
    report("mnist.pkl.gz, later loads (from the cache)", warm)

    ds = MNIST(root, train=True)
    with tempfile.TemporaryDirectory() as tmp:
        write_idx(Path(tmp) / "MNIST" / "raw", np.rint(ds.data.numpy()[:, 0] * 255), ds.targets.numpy())
        report("official gzipped IDX files", [fresh_load(tmp, tmp) for _ in range(RUNS)])

    mg.manual_seed(0)
    loader = DataLoader(ds, batch_size=64, shuffle=True)
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        n = sum(len(y) for _, y in loader)
        times.append(time.perf_counter() - t)
    assert n == 60000
    print(f"one shuffled epoch, batch 64 ({len(loader)} batches): median {np.median(times) * 1e3:.1f} ms "
          f"({np.median(times) / len(loader) * 1e6:.1f} us per batch)")


if __name__ == "__main__":
    main()
