"""One thread-pool policy for the whole library.

minigrad's compiled kernels run on OpenMP threads; matrix products go to BLAS (the OpenBLAS
that ships inside scipy, and NumPy's own copy for ``np.matmul``). Both keep a pool of
threads that busy-wait for a while after each call, so two multi-threaded pools used in
alternation steal each other's cores (a training step several times slower). The policy:

- with the compiled kernels: every BLAS library is limited to one thread and minigrad
  splits each large product into blocks of rows or columns, one block per OpenMP thread,
  each block a sequential BLAS call. One pool, ``n`` threads.
- without them (pure NumPy): BLAS runs on ``n`` threads, there is no other pool.

``set_num_threads(n)`` applies the policy with ``n`` threads; it also runs once when
minigrad is imported, with ``OMP_NUM_THREADS`` if that is set, else the number of usable
cores. NumPy's BLAS stays limited to one thread for code outside minigrad too (``np.dot``
called directly); call ``set_num_threads`` after any other library changes BLAS limits.

A user who sets ``OPENBLAS_NUM_THREADS`` (or ``GOTO_NUM_THREADS``) keeps that setting at
import: BLAS is not limited then and, if BLAS has several threads, minigrad does not split
products across its own threads (BLAS parallelises them). An explicit
``set_num_threads(n)`` call applies the policy regardless.
"""

from __future__ import annotations

import os

_num_threads: int | None = None
_controller = None  # the last threadpoolctl.ThreadpoolController
_blas_env_vars = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS")


def _default_num_threads() -> int:
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def get_num_threads() -> int:
    """Threads minigrad's kernels use (default: ``OMP_NUM_THREADS``, else the number of cores)."""
    if _num_threads is not None:
        return _num_threads
    return _default_num_threads()


def _blas_controllers():
    """threadpoolctl's controllers of the BLAS libraries loaded in this process."""
    global _controller
    try:
        import threadpoolctl
    except ImportError:  # a declared dependency; without it BLAS keeps its own setting
        return []
    # A fresh scan each time: BLAS libraries may have been loaded since the last call.
    _controller = threadpoolctl.ThreadpoolController()
    return [lib for lib in _controller.lib_controllers if lib.user_api == "blas"]


def _apply(n: int, explicit: bool) -> None:
    from . import backend

    compiled = backend.compiled
    blas = _blas_controllers()
    if compiled is None:
        for lib in blas:
            lib.set_num_threads(n)
        return
    if explicit or not any(os.environ.get(v) for v in _blas_env_vars):
        for lib in blas:
            lib.set_num_threads(1)
        split = True
    else:
        split = all(lib.num_threads <= 1 for lib in blas)
    compiled.set_num_threads(n)
    compiled.set_kernel_threads(n, split)


def set_num_threads(n: int) -> None:
    """Use ``n`` threads in minigrad's kernels (and in BLAS calls made by minigrad).

    With the compiled kernels, BLAS itself is limited to one thread and large products are
    split across minigrad's ``n`` threads (see the module docstring).
    """
    global _num_threads
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    _num_threads = n
    _apply(n, explicit=True)


def thread_info() -> dict:
    """What the policy set: minigrad's threads, GEMM splitting, and each BLAS library's threads."""
    from . import backend

    info: dict = {"num_threads": get_num_threads()}
    if backend.compiled is not None:
        info["kernel_threads"], info["split_gemm"] = backend.compiled.get_kernel_threads()
    info["blas"] = [
        {"library": lib.filepath, "version": lib.version, "num_threads": lib.num_threads}
        for lib in _blas_controllers()
    ]
    return info


_apply(get_num_threads(), explicit=False)
