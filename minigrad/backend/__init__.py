"""Kernel dispatch: the compiled kernels when they are built, else the NumPy reference.

Every kernel is called as ``backend.<name>(...)`` and has the same signature in both
implementations (``reference.py`` is the spec, ``compiled.py`` wraps ``csrc/``). A
compiled module may leave a kernel out; the reference one is used then.

Choose with ``MINIGRAD_BACKEND=numpy|cython`` (read at import) or, in code::

    with minigrad.backend.use("numpy"):
        ...
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from types import ModuleType

from . import reference

try:
    from . import compiled
except ImportError as exc:  # not built (e.g. a source checkout without `pip install -e .`)
    compiled = None
    _compiled_error: str | None = str(exc)
else:
    _compiled_error = None

KERNELS = tuple(reference.__all__)
_active: ModuleType = reference


def available() -> list[str]:
    """Names of the implementations that can be selected."""
    return ["numpy"] + (["cython"] if compiled is not None else [])


def _select(name: str) -> None:
    global _active
    if name in ("numpy", "reference"):
        impl = reference
    elif name in ("cython", "compiled"):
        if compiled is None:
            raise RuntimeError(
                "minigrad.backend: the compiled kernels are not built "
                f"({_compiled_error}); run `pip install -e .` to build them"
            )
        impl = compiled
    else:
        raise ValueError(f"minigrad.backend: unknown backend {name!r}; use 'numpy' or 'cython'")
    _active = impl
    for kernel in KERNELS:
        globals()[kernel] = getattr(impl, kernel, getattr(reference, kernel))


def current() -> str:
    """'cython' or 'numpy': the implementation in use."""
    return "cython" if _active is compiled and compiled is not None else "numpy"


@contextlib.contextmanager
def use(name: str) -> Iterator[None]:
    """Switch implementation inside a ``with`` block."""
    previous = current()
    _select(name)
    try:
        yield
    finally:
        _select(previous)


def info() -> dict:
    """What is loaded: backend, compiled modules, OpenMP, threads and BLAS libraries."""
    out = {
        "backend": current(),
        "available": available(),
        "compiled_error": _compiled_error,
        "kernels": {k: ("cython" if compiled is not None and _active is compiled
                        and hasattr(compiled, k) else "numpy") for k in KERNELS},
    }
    if compiled is not None:
        out.update(compiled.build_info())
    return out


_select(os.environ.get("MINIGRAD_BACKEND", "cython" if compiled is not None else "numpy"))
