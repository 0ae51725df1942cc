"""Keep large freed arrays' memory in the process between training steps.

Every training step allocates and frees the same large arrays (activations, gradients, conv
workspaces). With glibc's default malloc settings, freed memory at the top of the heap is
given back to the OS and arrays above the (adaptive) mmap threshold get fresh pages, so the
next step takes a page fault per 4 KiB it touches: about 1,800 faults and 20-25% of the
reference CNN's step time on the benchmark machine. At import minigrad therefore sets, with
``mallopt``:

- ``M_MMAP_THRESHOLD`` to 32 MiB: arrays below it come from the heap, where freed memory is
  reused, instead of private mappings unmapped on free;
- ``M_TRIM_THRESHOLD`` to 128 MiB: up to that much free memory stays at the top of the heap
  instead of being returned to the OS.

Peak memory is unchanged (the memory is reused, not added); the process may keep up to
128 MiB of free heap after a large computation. Only on glibc, and only if the user set
none of glibc's ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` / ``MALLOC_TOP_PAD_``
variables; ``MINIGRAD_MALLOC_TUNING=0`` leaves malloc alone.
"""

from __future__ import annotations

import ctypes
import os
import platform

MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 128 << 20

_M_TRIM_THRESHOLD = -1  # glibc's <malloc.h> parameter numbers
_M_MMAP_THRESHOLD = -3
_USER_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")

_applied: dict[str, int] = {}


def tune() -> dict[str, int]:
    """Apply the settings above where allowed; returns what was set (empty if nothing)."""
    if _applied or os.environ.get("MINIGRAD_MALLOC_TUNING", "1") == "0":
        return dict(_applied)
    if any(v in os.environ for v in _USER_VARIABLES) or platform.libc_ver()[0] != "glibc":
        return {}
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return {}
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    for name, param, value in (("mmap_threshold", _M_MMAP_THRESHOLD, MMAP_THRESHOLD),
                               ("trim_threshold", _M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
        if mallopt(param, value) == 1:  # 1 on success
            _applied[name] = value
    return dict(_applied)


def settings() -> dict[str, int]:
    """The malloc settings minigrad applied at import (empty: glibc's defaults are in use)."""
    return dict(_applied)
