"""ReLU kernels: compiled and reference held to torch (NaN, signed zeros, infinities)."""

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend
from minigrad.backend import reference
from minigrad.testing import compare_with_torch

torch = pytest.importorskip("torch")

BACKENDS = backend.available()
SPECIAL = [np.nan, -np.nan, -0.0, 0.0, np.inf, -np.inf, 1e-45, -1e-45, 3.0, -3.0]


def _torch_relu_and_grad(x, g):
    xt = torch.tensor(x, requires_grad=True)
    out = torch.relu(xt)
    out.backward(torch.tensor(g))
    return out.detach().numpy(), xt.grad.numpy()


def _same_bits(a, b):
    """Equal including NaN placement and the sign of zeros."""
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.signbit(a), np.signbit(b))


@pytest.mark.parametrize("impl", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 7, 1000, 300_001])  # the last one runs in parallel
def test_relu_matches_torch_bit_for_bit(impl, dtype, n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n).astype(dtype)
    x[: min(n, len(SPECIAL))] = np.array(SPECIAL, dtype)[: min(n, len(SPECIAL))]
    if n > 100:
        x[rng.integers(0, n, 50)] = np.nan
        x[rng.integers(0, n, 50)] = -0.0
    g = rng.standard_normal(n).astype(dtype)
    want_out, want_grad = _torch_relu_and_grad(x, g)
    with backend.use(impl):
        t = mg.Tensor(x, requires_grad=True)
        out = mg.relu(t)
        out.backward(mg.Tensor(g))
    _same_bits(out.data, want_out)
    _same_bits(t.grad.data, want_grad)
    assert out.dtype == t.grad.dtype == dtype


@pytest.mark.parametrize("impl", BACKENDS)
def test_relu_shapes_and_strides(impl):
    x = np.random.default_rng(0).standard_normal((5, 8, 6)).transpose(2, 0, 1)[:, ::2]
    with backend.use(impl):
        compare_with_torch(mg.relu, torch.relu, x, rtol=0, atol=0)
        compare_with_torch(mg.relu, torch.relu, np.array(-2.5), rtol=0, atol=0)
        compare_with_torch(mg.relu, torch.relu, np.ones((1, 1, 3)), dtype=np.float32, rtol=0, atol=0)


@pytest.mark.skipif("cython" not in BACKENDS, reason="compiled kernels not built")
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_compiled_relu_matches_reference(dtype):
    from minigrad.backend import compiled

    rng = np.random.default_rng(1)
    x = (rng.standard_normal((64, 33, 17)) * 5).astype(dtype)
    out = compiled.relu_forward(x)
    _same_bits(out, reference.relu_forward(x))
    g = rng.standard_normal(x.shape).astype(dtype)
    _same_bits(compiled.relu_backward(g, out), reference.relu_backward(g, out))
    # a broadcast (read-only, zero-stride) incoming gradient
    g1 = np.ones((1, 1, 17), dtype)
    _same_bits(compiled.relu_backward(np.broadcast_to(g1, out.shape), out),
               reference.relu_backward(np.broadcast_to(g1, out.shape), out))


def test_integer_relu_matches_torch():
    x = np.arange(-5, 6)
    np.testing.assert_array_equal(mg.relu(mg.Tensor(x)).data, torch.relu(torch.tensor(x)).numpy())


# --------------------------------------------------------------------------- log-softmax + NLL


def _impls():
    impls = [reference]
    if "cython" in BACKENDS:
        from minigrad.backend import compiled

        impls.append(compiled)
    return impls


@pytest.mark.parametrize("impl", _impls(), ids=lambda m: m.__name__.rsplit(".", 1)[-1])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n, c", [(1, 1), (1, 5), (64, 10), (100, 81), (3000, 37)])
def test_log_softmax_nll_matches_torch(impl, dtype, n, c):
    rng = np.random.default_rng(c)
    x = (rng.standard_normal((n, c)) * 4).astype(dtype)
    t = rng.integers(0, c, n)
    if n > 1:
        t[::7] = -100  # ignored rows
    loss, grad = impl.log_softmax_nll_forward(x, t, -100)
    xt = torch.tensor(x, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(t), reduction="none")
    w = rng.standard_normal(n).astype(dtype)
    (lt * torch.tensor(w)).sum().backward()
    tol = dict(rtol=1e-12, atol=1e-14) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    assert loss.dtype == grad.dtype == dtype
    np.testing.assert_allclose(loss, lt.detach().numpy(), **tol)
    np.testing.assert_allclose(impl.log_softmax_nll_backward(w, grad), xt.grad.numpy(), **tol)
    # 'mean' reduction: a scalar incoming gradient g / N
    np.testing.assert_allclose(impl.log_softmax_nll_backward(np.float64(0.5) / n, grad),
                               grad * dtype(0.5 / n), **tol)


@pytest.mark.parametrize("impl", _impls(), ids=lambda m: m.__name__.rsplit(".", 1)[-1])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_softmax_nll_special_values(impl, dtype):
    x = np.array([[1, np.nan, 2], [0, 1, 2], [-np.inf] * 3, [0, -np.inf, 1], [np.inf, 0, 0],
                  [1, np.nan, 0], [1e30, -1e30, 0]], dtype)
    t = np.array([0, -100, 1, 1, 1, -100, 0])
    loss, grad = impl.log_softmax_nll_forward(x, t, -100)
    xt = torch.tensor(x, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(t), reduction="none")
    lt.sum().backward()
    np.testing.assert_allclose(loss, lt.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(np.isnan(grad), np.isnan(xt.grad.numpy()))


@pytest.mark.parametrize("impl", _impls(), ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_log_softmax_nll_rejects_bad_targets(impl):
    x = np.zeros((2, 3))
    with pytest.raises(IndexError, match="log_softmax_nll_forward: Target 3 is out of bounds"):
        impl.log_softmax_nll_forward(x, np.array([0, 3]), -100)
    with pytest.raises(IndexError, match="Target -1 is out of bounds"):
        impl.log_softmax_nll_forward(x, np.array([-1, 0]), -100)
    with pytest.raises(ValueError, match=r"expected logits \(N, C\) and target \(N,\)"):
        impl.log_softmax_nll_forward(x, np.array([0, 1, 2]), -100)
    with pytest.raises(TypeError, match="integer class indices"):
        impl.log_softmax_nll_forward(x, np.array([0.0, 1.0]), -100)
    loss, _ = impl.log_softmax_nll_forward(x, np.array([-5, 1]), -5)  # a custom ignore_index
    np.testing.assert_allclose(loss, [0, np.log(3)])
