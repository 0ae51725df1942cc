"""One thread-pool policy for the whole library.

minigrad's OpenMP kernels and the BLAS libraries each keep a thread pool; two
multi-threaded pools alternating steal each other's cores. ``set_num_threads(n)`` sets the
thread count used by minigrad's compiled kernels and limits BLAS accordingly.
"""

from __future__ import annotations

import os

_num_threads: int | None = None


def get_num_threads() -> int:
    """Threads minigrad's kernels use (default: the number of cores)."""
    if _num_threads is not None:
        return _num_threads
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def set_num_threads(n: int) -> None:
    """Use ``n`` threads in minigrad's kernels (and in BLAS calls made by minigrad)."""
    global _num_threads
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    _num_threads = n
    from . import backend

    if backend.compiled is not None:
        backend.compiled.set_num_threads(n)
