"""minigrad.testing: gradcheck and compare_with_torch pass on correct functions and fail,
with a useful report, on a planted backward bug."""

import re
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import Function
from minigrad.testing import GradcheckError, Report, compare_with_torch, gradcheck


class GoodCube(Function):
    """z = x^3 * y.   dx = 3 g x^2 y,   dy = g x^3."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x**3 * y

    @staticmethod
    def backward(ctx, grad_output):
        x, y = ctx.saved_tensors
        return 3 * grad_output * x**2 * y, grad_output * x**3


class BuggyCube(GoodCube):
    """Like GoodCube, but the gradient of y is wrong at one element (index (1, 2))."""

    @staticmethod
    def backward(ctx, grad_output):
        gx, gy = GoodCube.backward(ctx, grad_output)
        gy = gy.copy()
        gy[1, 2] += 0.5
        return gx, gy


def _inputs(dtype=mg.float64):
    rng = np.random.default_rng(0)
    x = mg.tensor(rng.uniform(0.5, 1.5, (2, 3)), dtype=dtype, requires_grad=True)
    y = mg.tensor(rng.uniform(-1, 1, (2, 3)), dtype=dtype, requires_grad=True)
    return x, y


# --------------------------------------------------------------------------- gradcheck


def test_gradcheck_passes_on_correct_function():
    assert gradcheck(GoodCube.apply, _inputs()) is True
    assert gradcheck(lambda a: (a * a).sum(), _inputs()[0]) is True


def test_gradcheck_reports_planted_bug():
    x, y = _inputs()
    with pytest.raises(GradcheckError) as info:
        gradcheck(BuggyCube.apply, (x, y))
    msg = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert "input 1" in msg and "shape (2, 3)" in msg  # which input
    assert "worst at index (1, 2)" in msg  # which element
    m = re.search(r"analytic (\S+) vs numeric (\S+)", msg)
    assert m, msg
    analytic, numeric = float(m.group(1)), float(m.group(2))
    assert abs(analytic - numeric - 0.5) < 1e-4  # the planted error, seen through a cotangent of 1
    assert "atol" in msg and "rtol" in msg and "1 of 6 elements" in msg


def test_gradcheck_only_checks_inputs_that_require_grad():
    x, y = _inputs()
    y.requires_grad_(False)
    assert gradcheck(BuggyCube.apply, (x, y))  # the bug is in y's gradient, which is not checked


def test_gradcheck_warns_on_float32_and_leaves_inputs_alone():
    x, y = _inputs(mg.float32)
    before = x.numpy().copy() if not x.requires_grad else x.detach().numpy().copy()
    with pytest.warns(UserWarning, match="float32"):
        assert gradcheck(GoodCube.apply, (x, y))
    assert x.grad is None and y.grad is None
    np.testing.assert_array_equal(x.detach().numpy(), before)


def test_gradcheck_float64_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gradcheck(GoodCube.apply, _inputs())


def test_gradcheck_needs_a_checked_input():
    with pytest.raises(ValueError, match="requires_grad"):
        gradcheck(mg.exp, mg.tensor([1.0]))


def test_gradcheck_tolerances_are_used():
    class SlightlyOff(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output * 2 * (1 + 1e-4)

    x = mg.tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True)
    assert gradcheck(SlightlyOff.apply, x, rtol=1e-3)
    with pytest.raises(GradcheckError):
        gradcheck(SlightlyOff.apply, x, rtol=1e-6, atol=1e-9)


def test_gradcheck_fortran_ordered_and_non_contiguous_inputs():
    base = np.asfortranarray(np.random.default_rng(0).uniform(0.5, 1.5, (3, 4)))
    x = mg.tensor(np.zeros(1), dtype=mg.float64)
    x.data = base  # a Fortran-ordered array behind the tensor
    x.requires_grad_()
    assert gradcheck(lambda t: t.exp() * t[:, :1], x)
    with pytest.raises(GradcheckError, match="input 1"):  # the planted bug is in input 1
        gradcheck(BuggyCube.apply, (x[:2, :3], mg.tensor(np.ones((2, 3)), requires_grad=True)))


def test_gradcheck_needs_a_floating_output():
    with pytest.raises(ValueError, match="no floating-point tensor"):
        gradcheck(lambda t: t.argmax(), mg.tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True))


def test_gradcheck_non_tensor_arguments():
    assert gradcheck(lambda a, p: a**p, (_inputs()[0], 3))


# --------------------------------------------------------------------------- compare_with_torch

try:
    import torch
except ImportError:  # gradcheck's tests above still run
    torch = None

torch_needed = pytest.mark.skipif(torch is None, reason="torch not installed")


def _torch_cube(x, y):
    """The reference for GoodCube (torch's own autograd)."""
    return x**3 * y


def _arrays():
    rng = np.random.default_rng(0)
    return rng.uniform(0.5, 1.5, (2, 3)), rng.uniform(-1, 1, (2, 3))


@torch_needed
def test_compare_passes_on_correct_function():
    report = compare_with_torch(GoodCube.apply, _torch_cube, *_arrays())
    assert isinstance(report, Report) and report.ok and bool(report)
    names = [item.name for item in report.items]
    assert names == ["output", "grad[0]", "grad[1]"]
    text = str(report)
    assert "max abs diff" in text and "grad[1]" in text and "MISMATCH" not in text


@torch_needed
def test_compare_reports_planted_bug():
    with pytest.raises(AssertionError) as info:
        compare_with_torch(BuggyCube.apply, _torch_cube, *_arrays())
    msg = str(info.value)
    row = next(line for line in msg.splitlines() if line.startswith("grad[1]"))
    assert "MISMATCH" in row and "worst at (1, 2)" in row
    assert "(2, 3)" in row
    for name in ("output", "grad[0]"):
        assert "MISMATCH" not in next(line for line in msg.splitlines() if line.startswith(name))


@torch_needed
def test_compare_without_raising_returns_failed_report():
    report = compare_with_torch(BuggyCube.apply, _torch_cube, *_arrays(), raise_on_mismatch=False)
    assert not report.ok
    bad = [item for item in report.items if not item.ok]
    assert [item.name for item in bad] == ["grad[1]"]
    assert bad[0].max_abs > 0.1  # the 0.5 error times one cotangent entry


@torch_needed
def test_compare_catches_wrong_forward_shape_and_dtype():
    with pytest.raises(AssertionError, match="shape"):
        compare_with_torch(lambda x: x.sum(0), lambda x: x.sum(1), np.ones((2, 3)))
    with pytest.raises(AssertionError, match="dtype"):
        compare_with_torch(lambda x: x.float(), lambda x: x, np.ones(3), requires_grad=False)
    with pytest.raises(AssertionError, match="output"):
        compare_with_torch(lambda x: x * 1.001, lambda x: x, np.ones(3))
    r = compare_with_torch(lambda x: x.argmax(), lambda x: x.argmax(), np.array([1.0, 3.0, 2.0]))
    assert r.ok
    with pytest.raises(AssertionError, match="NaN"):
        compare_with_torch(lambda x: x.log(), lambda x: torch.log(x.abs()), np.array([-1.0, 2.0]))


@torch_needed
def test_compare_tuple_outputs_and_passthrough_args():
    r = compare_with_torch(
        lambda x, k, idx: (x.max(k), x[idx]),
        lambda x, k, idx: (x.max(k), x[idx]),
        np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]]),
        1,
        np.array([1, 0, 1]),
    )
    assert r.ok and [i.name for i in r.items] == ["output[0]", "output[1]", "output[2]", "grad[0]"]
    # the index array became an int tensor: no gradient row for it


@torch_needed
def test_compare_detects_missing_gradient():
    with pytest.raises(AssertionError, match="minigrad grad is None"):
        compare_with_torch(lambda x, y: x * y.detach(), lambda x, y: x * y, np.ones(2), np.ones(2))
