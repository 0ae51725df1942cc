"""The short cuts on a training step's hot path behave exactly like the long way round:
linear's one-test argument check, the array-taking ReLU and fused cross-entropy kernels,
the fused kernel's own class-index check, the scalar-operand promotion, sigmoid near
overflow, the scalar-exponent pow gradient and the dense sum/mean gradients."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import backend
from minigrad.backend import reference
from minigrad.testing import compare_with_torch

torch = pytest.importorskip("torch")
TF = torch.nn.functional

compiled = backend.compiled
needs_compiled = pytest.mark.skipif(compiled is None, reason="compiled kernels not built")
BACKENDS = ["numpy"] + (["cython"] if compiled is not None else [])


@pytest.fixture(params=BACKENDS)
def each_backend(request):
    with backend.use(request.param):
        yield request.param


# --------------------------------------------------------------------------- linear


@pytest.mark.parametrize("x_shape", [(5, 4), (4,), (2, 3, 4), (0, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch_on_every_input_rank(each_backend, x_shape, bias):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((3, 4))
    if bias:
        b = rng.standard_normal(3)
        compare_with_torch(F.linear, TF.linear, x, w, b)
    else:
        compare_with_torch(F.linear, TF.linear, x, w)


def test_linear_keeps_its_argument_errors():
    x, w = mg.randn(5, 4), mg.randn(3, 4)
    with pytest.raises(TypeError, match="must have the same dtype"):
        F.linear(x, w, mg.randn(3, dtype=mg.float64))
    with pytest.raises(TypeError, match="must have the same dtype"):
        F.linear(x, w.double())
    with pytest.raises(ValueError, match=r"expected bias of shape \(3,\)"):
        F.linear(x, w, mg.randn(4))
    with pytest.raises(ValueError, match="expected weight of shape"):
        F.linear(x, mg.randn(3, 4, 1))
    with pytest.raises(RuntimeError, match="mat1 and mat2"):
        F.linear(mg.randn(5, 3), w)


def test_linear_takes_arrays_like_tensors():
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((5, 4)), rng.standard_normal((3, 4)), rng.standard_normal(3)
    expected = x @ w.T + b
    np.testing.assert_allclose(mg.ops.linalg.linear(x, w, b).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(mg.ops.linalg.linear(mg.tensor(x), w, b).numpy(), expected,
                               rtol=1e-12)


def test_linear_input_modified_in_place_after_forward_is_caught():
    x = mg.randn(5, 4)  # needs no grad: an in-place write is allowed, but backward must notice
    w = mg.randn(3, 4, requires_grad=True)
    y = F.linear(x, w)
    x.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


# --------------------------------------------------------------------------- ReLU kernels


@needs_compiled
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 37, (1 << 16) + 3])  # the last one runs the parallel loop
def test_relu_kernels_match_reference(dtype, n):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(n).astype(dtype)
    if n > 4:
        x[:4] = [np.nan, -0.0, 0.0, -np.inf]
    g = rng.standard_normal(n).astype(dtype)
    out = compiled.relu_forward(x)
    ref = reference.relu_forward(x)
    np.testing.assert_array_equal(out, ref)
    assert np.array_equal(np.signbit(out), np.signbit(ref))  # relu(-0.0) is -0.0
    np.testing.assert_array_equal(compiled.relu_backward(g, out), reference.relu_backward(g, ref))


@needs_compiled
def test_relu_wrappers_take_strided_and_broadcast_inputs():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 8))[:, ::2]
    np.testing.assert_array_equal(compiled.relu_forward(x), reference.relu_forward(x))
    out = reference.relu_forward(x)
    g = np.float64(2.0) * np.ones((1, 4))  # broadcast along the rows
    np.testing.assert_array_equal(compiled.relu_backward(g, out), reference.relu_backward(g, out))
    g32 = np.ones((6, 4), np.float32)  # another dtype: computed in the output's dtype
    assert compiled.relu_backward(g32, out).dtype == np.float64


@needs_compiled
def test_relu_kernel_entry_points_refuse_bad_arrays():
    from minigrad.backend import _elementwise as E

    a = np.ones(8, np.float32)
    with pytest.raises(ValueError, match="C-contiguous"):
        E.relu_forward_into(np.ones(16, np.float32)[::2], a)
    with pytest.raises(ValueError, match="same dtype and size"):
        E.relu_forward_into(a, np.ones(8, np.float64))
    with pytest.raises(ValueError, match="same dtype and size"):
        E.relu_forward_into(a, np.ones(7, np.float32))
    with pytest.raises(ValueError, match="float32 and float64"):
        E.relu_forward_into(np.ones(8, np.int32), np.ones(8, np.int32))
    readonly = np.ones(8, np.float32)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        E.relu_forward_into(a, readonly)
    with pytest.raises(ValueError, match="writeable"):
        E.relu_backward_into(a, a, readonly)
    with pytest.raises(TypeError):
        E.relu_forward_into([1.0], a)


# --------------------------------------------------------------------------- cross-entropy


@needs_compiled
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_log_softmax_nll_matches_reference(dtype):
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((33, 7)) * 5).astype(dtype)
    t = rng.integers(0, 7, 33)
    t[[0, 9]] = -100
    loss, grad = compiled.log_softmax_nll_forward(x, t, -100)
    ref_loss, ref_grad = reference.log_softmax_nll_forward(x, t, -100)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(loss, ref_loss, rtol=tol, atol=tol)
    np.testing.assert_allclose(grad, ref_grad, rtol=tol, atol=tol)
    assert loss[0] == 0 and not grad[9].any()


@needs_compiled
@pytest.mark.parametrize("target_dtype", [np.int64, np.int32, np.uint8, np.uint64])
def test_fused_kernel_reports_the_first_bad_class_index(target_dtype):
    x = np.zeros((6, 4), np.float32)
    t = np.array([0, 1, 3, 9, 2, 7]).astype(target_dtype)  # 9 and 7 are out of range
    with pytest.raises(IndexError, match="Target 9 is out of bounds for 4 classes"):
        compiled.log_softmax_nll_forward(x, t, -100)


@needs_compiled
def test_fused_kernel_skips_ignored_rows_before_checking_them():
    x = np.zeros((3, 4), np.float64)
    loss, grad = compiled.log_softmax_nll_forward(x, np.array([7, 1, 7]), 7)
    np.testing.assert_allclose(loss, [0, np.log(4), 0])
    with pytest.raises(IndexError, match="Target -1 is out"):
        compiled.log_softmax_nll_forward(x, np.array([7, -1, 2]), 7)


@needs_compiled
def test_fused_kernel_entry_point_refuses_bad_arrays():
    from minigrad.backend import _elementwise as E

    x = np.zeros((3, 4), np.float32)
    loss, grad = np.empty(3, np.float32), np.empty((3, 4), np.float32)
    t = np.zeros(3, np.int64)
    with pytest.raises(ValueError, match="target must be"):
        E.log_softmax_nll_into(x, t.astype(np.int32), -100, loss, grad)
    with pytest.raises(ValueError, match="target must be"):
        E.log_softmax_nll_into(x, np.zeros(2, np.int64), -100, loss, grad)
    with pytest.raises(ValueError, match="loss must be"):
        E.log_softmax_nll_into(x, t, -100, np.empty(3, np.float64), grad)
    with pytest.raises(ValueError, match="expected x"):
        E.log_softmax_nll_into(x.reshape(-1), t, -100, loss, grad)
    with pytest.raises(ValueError, match="same dtype and size"):
        E.log_softmax_nll_into(x, t, -100, loss, np.empty((3, 4), np.float64))
    assert E.log_softmax_nll_into(x, t, -100, loss, grad) == -1


@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_cross_entropy_names_the_bad_class_on_every_backend(each_backend, ignore_index):
    logits = mg.randn(5, 4, requires_grad=True)
    target = mg.tensor([0, ignore_index if ignore_index >= 0 else 1, 3, 4, -1])
    with pytest.raises(IndexError, match=r"cross_entropy: target contains class index 4, but the "
                                         r"input has 4 classes, so valid targets are 0\.\.3"):
        F.cross_entropy(logits, target, ignore_index=ignore_index)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_ignored_rows_match_torch(each_backend, reduction):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((8, 5))
    t = np.array([0, 4, 2, 2, 1, 3, 2, 0])
    compare_with_torch(lambda a, b: F.cross_entropy(a, b, ignore_index=2, reduction=reduction),
                       lambda a, b: TF.cross_entropy(a, b, ignore_index=2, reduction=reduction),
                       x, t)


# --------------------------------------------------------------------------- scalar promotion


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int64", "int32", "uint8",
                                   "int8", "bool"])
@pytest.mark.parametrize("scalar", [2, -3, 2.5, True, False, 0])
@pytest.mark.parametrize("op", ["add", "sub", "mul", "rsub", "rmul", "radd"])
def test_python_scalar_operands_promote_like_torch(dtype, scalar, op):
    values = np.array([1, 0, 3, 2]).astype(dtype)
    a, ta = mg.tensor(values), torch.tensor(values)
    fns = {
        "add": lambda t: t + scalar, "sub": lambda t: t - scalar, "mul": lambda t: t * scalar,
        "radd": lambda t: scalar + t, "rsub": lambda t: scalar - t, "rmul": lambda t: scalar * t,
    }
    if op in ("sub", "rsub") and (dtype == "bool" or isinstance(scalar, bool)):
        # torch refuses subtraction with bools, and so does minigrad, with torch's message
        with pytest.raises(RuntimeError, match="Subtraction, the `-` operator") as want:
            fns[op](ta)
        with pytest.raises(RuntimeError) as got:
            fns[op](a)
        assert str(got.value) == str(want.value)
        return
    got, want = fns[op](a), fns[op](ta)
    assert got.dtype.name == str(want.dtype).replace("torch.", ""), (dtype, scalar, op)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


# --------------------------------------------------------------------------- sigmoid and pow


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_at_the_edges_matches_torch_without_warnings(dtype):
    x = np.array([-1000, -745, -100, -89, -88, -20, -1e-8, -0.0, 0.0, 3, 20, 89, 1000,
                  np.inf, -np.inf])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compare_with_torch(mg.sigmoid, torch.sigmoid, x, dtype=dtype,
                           rtol=1e-6 if dtype == np.float32 else 1e-12, atol=1e-12)
    nan = mg.sigmoid(mg.tensor([np.nan], dtype=dtype))
    assert np.isnan(nan.numpy()).all()
    assert mg.sigmoid(mg.tensor(-100.0)).ndim == 0


@pytest.mark.parametrize("exponent", [0, 1, 2, 3, 0.5, -1, 2.0])
def test_pow_with_a_scalar_exponent_matches_torch(exponent):
    x = np.array([0.0, 1.5, 2.0, 0.25, 3.0])
    if exponent in (0.5, -1):
        x = x[1:]  # no infinite gradient at 0
    compare_with_torch(lambda t: t ** exponent, lambda t: t ** exponent, x)


def test_pow_gradient_is_zero_where_the_exponent_is_zero():
    x = np.array([0.0, 0.0, 2.0, 3.0])
    y = np.array([0.0, 2.0, 0.0, 1.5])
    compare_with_torch(lambda a, b: a ** b, lambda a, b: a ** b, x, y)
    xt = mg.tensor([0.0, 2.0], requires_grad=True)
    (xt ** 0).sum().backward()
    np.testing.assert_array_equal(xt.grad.numpy(), [0.0, 0.0])  # not 0 * 0**-1 = nan


# --------------------------------------------------------------------------- sum and mean


@pytest.mark.parametrize("op", ["sum", "mean"])
@pytest.mark.parametrize("dim,keepdim", [(None, False), (1, False), (1, True), ((0, 2), False),
                                         ((0, 2), True)])
def test_reduction_gradients_match_torch(op, dim, keepdim):
    x = np.random.default_rng(7).standard_normal((3, 4, 5))
    compare_with_torch(lambda t: getattr(t, op)(dim, keepdim), lambda t: getattr(t, op)(dim, keepdim)
                       if dim is not None else getattr(t, op)(), x)


@pytest.mark.parametrize("op", ["sum", "mean"])
def test_reduction_gradient_given_to_a_leaf_is_its_own_array(op):
    x = mg.randn(3, 4, requires_grad=True)
    getattr(x, op)().backward()
    g = x.grad.numpy()
    assert g.flags.writeable and g.flags.c_contiguous and g.base is None
    first = g.copy()
    getattr(x, op)().backward()  # accumulates in place: the two backward passes share nothing
    np.testing.assert_array_equal(x.grad.numpy(), 2 * first)


def test_mean_over_an_empty_dim_gives_nan_gradients_like_torch():
    x = np.zeros((3, 0))
    compare_with_torch(lambda t: t.mean(1), lambda t: t.mean(1), x)


@pytest.mark.parametrize("other", ["bool tensor", "float tensor", "int array"])
def test_subtraction_with_bool_tensors_is_refused_like_torch(other):
    mask = np.array([True, False, True])
    values = {"bool tensor": np.array([False, False, True]),
              "float tensor": np.array([1.0, 2.0, 3.0]), "int array": np.array([1, 2, 3])}[other]
    for x, y in ((mask, values), (values, mask)):
        with pytest.raises(RuntimeError) as want:
            torch.sub(torch.tensor(x), torch.tensor(y))
        with pytest.raises(RuntimeError) as got:
            mg.sub(mg.tensor(x), mg.tensor(y) if other != "int array" else y)
        assert str(got.value) == str(want.value)
