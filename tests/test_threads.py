"""The thread-pool policy: set_num_threads controls minigrad's threads and BLAS's."""

import os
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg
from minigrad import threads
from minigrad.ops.conv import conv2d

compiled_only = pytest.mark.skipif("cython" not in mg.backend.available(), reason="not built")


@pytest.fixture
def restore_threads():
    before = mg.get_num_threads()
    yield
    mg.set_num_threads(before)


def test_set_and_get_num_threads(restore_threads):
    mg.set_num_threads(1)
    assert mg.get_num_threads() == 1
    info = threads.thread_info()
    assert info["num_threads"] == 1
    if "kernel_threads" in info:
        assert info["kernel_threads"] == 1
    mg.set_num_threads(3)
    assert mg.get_num_threads() == 3
    assert threads.thread_info().get("kernel_threads", 3) == 3


@pytest.mark.parametrize("bad", [0, -2])
def test_set_num_threads_rejects_non_positive(bad):
    with pytest.raises(ValueError, match="set_num_threads: n must be >= 1"):
        mg.set_num_threads(bad)


@compiled_only
def test_blas_is_sequential_and_products_are_split(restore_threads):
    mg.set_num_threads(2)
    info = threads.thread_info()
    assert info["split_gemm"] is True
    assert info["blas"], "no BLAS library found"
    assert all(lib["num_threads"] == 1 for lib in info["blas"])


@compiled_only
def test_results_do_not_depend_on_thread_count(restore_threads):
    rng = np.random.default_rng(0)
    x = mg.tensor(rng.standard_normal((8, 4, 32, 32)), requires_grad=True)
    w = mg.tensor(rng.standard_normal((8, 4, 3, 3)), requires_grad=True)
    a = mg.tensor(rng.standard_normal((3, 150, 200)))
    b = mg.tensor(rng.standard_normal((200, 170)))
    results = []
    for n in (1, 2, 3):
        mg.set_num_threads(n)
        x.grad = w.grad = None
        out = conv2d(x, w, padding=1)
        (out * out).sum().backward()
        results.append((out.detach().numpy(), x.grad.numpy(), w.grad.numpy(), (a @ b).numpy()))
    for other in results[1:]:
        for got, want in zip(other, results[0]):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def _run(code: str, **env_overrides) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS")}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )


_PROBE = """
import numpy as np, minigrad as mg
from minigrad.ops.conv import conv2d
x = mg.tensor(np.random.rand(16, 8, 20, 20).astype(np.float32), requires_grad=True)
w = mg.tensor(np.random.rand(16, 8, 3, 3).astype(np.float32), requires_grad=True)
conv2d(x, w, padding=1).sum().backward()
a = mg.tensor(np.random.rand(300, 300).astype(np.float32))
(a @ a).sum()
info = mg.threads.thread_info()
print(info.get("split_gemm"), sorted({lib["num_threads"] for lib in info["blas"]}))
"""


@compiled_only
def test_policy_at_import_and_no_blas_warnings():
    """Imported with no BLAS setting: BLAS sequential, products split, nothing on stderr
    (a multi-threaded OpenBLAS called inside a parallel region prints warnings)."""
    result = _run(_PROBE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "[1]"]
    assert result.stderr == ""


@compiled_only
def test_user_openblas_setting_is_kept_at_import():
    result = _run(_PROBE, OPENBLAS_NUM_THREADS="2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "[2]"]  # BLAS parallelises, minigrad does not split
    assert "OpenBLAS Warning" not in result.stderr
    explicit = _run(_PROBE.replace("info =", "mg.set_num_threads(2); info ="), OPENBLAS_NUM_THREADS="2")
    assert explicit.stdout.split() == ["True", "[1]"]
