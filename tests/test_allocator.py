"""minigrad.allocator: freed array memory is reused instead of faulted in again each step."""

import os
import platform
import subprocess
import sys
import textwrap

import pytest

import minigrad as mg

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")

# Allocate, touch and free arrays of 1.6-12 MB, 38 MB in all, 50 times (what a training step
# does with its activations and gradients); print the loop's minor page faults.
_FAULTS = textwrap.dedent("""
    import resource
    import numpy as np
    import minigrad as mg
    def churn():
        arrays = [np.empty(n, np.float32) for n in (1_600_000, 1_600_000, 400_000, 3_000_000,
                                                    3_000_000)]
        for a in arrays:
            a.fill(1.0)
        return arrays[2]  # one survives into the next round, as a step's outputs do
    keep = churn()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        keep = churn()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, mg.allocator.settings())
""")


def _run(**env):
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("MALLOC_") and k != "MINIGRAD_MALLOC_TUNING"}
    out = subprocess.run([sys.executable, "-c", _FAULTS], env={**clean, **env},
                         capture_output=True, text=True, check=True).stdout.split(maxsplit=1)
    return int(out[0]), out[1].strip()


def test_settings_are_applied_at_import():
    if "MINIGRAD_MALLOC_TUNING" in os.environ or any(k.startswith("MALLOC_") for k in os.environ):
        pytest.skip("the environment chose malloc settings")
    assert mg.allocator.settings() == {"mmap_threshold": 32 << 20, "trim_threshold": 128 << 20}


def test_freed_arrays_are_reused_without_page_faults():
    tuned, settings = _run()
    untouched, none = _run(MINIGRAD_MALLOC_TUNING="0")
    assert "mmap_threshold" in settings and none == "{}"
    # glibc's defaults hand the memory back and fault ~9,000 pages in again every round;
    # tuned, it stays in the heap and is reused.
    assert untouched > 20_000, untouched
    assert tuned < 2_000, tuned


def test_user_malloc_variables_are_respected():
    _, settings = _run(MALLOC_TRIM_THRESHOLD_="131072")
    assert settings == "{}"
