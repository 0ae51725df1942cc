"""Sequential runs a ReLU that precedes a MaxPool2d after the pooling: same values, same
gradients, and nothing observable changes (hooks see the usual order)."""

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

torch = pytest.importorskip("torch")

POOLS = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=2, stride=1, dilation=2),
    dict(kernel_size=3, stride=2, ceil_mode=True),
]


def _inputs(seed, nan=False):
    rng = np.random.default_rng(seed)
    # Small integers: many exact zeros, ties and all-negative windows.
    x = rng.integers(-3, 3, (2, 3, 9, 9)).astype(np.float64)
    x[0, 0, :3, :3] = -1.0  # a window of only negatives
    x[0, 1, :2, :2] = 0.0  # a window of only zeros
    if nan:
        x[1, 2, 4, 4] = np.nan
    return x


def _run_minigrad(model, x, c):
    xt = mg.tensor(x, requires_grad=True)
    out = model(xt)
    (out * mg.tensor(c)).sum().backward()
    return out.data, xt.grad.data


def _run_torch(pool, x, c):
    xt = torch.tensor(x, requires_grad=True)
    out = torch.nn.MaxPool2d(**pool)(torch.relu(xt))
    (out * torch.tensor(c)).sum().backward()
    return out.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("pool", POOLS, ids=str)
@pytest.mark.parametrize("nan", [False, True])
def test_relu_then_maxpool_matches_torch(pool, nan):
    x = _inputs(0, nan)
    model = nn.Sequential(nn.ReLU(), nn.MaxPool2d(**pool))
    shape = model(mg.tensor(x)).shape
    c = np.random.default_rng(1).standard_normal(shape)
    out, gx = _run_minigrad(model, x, c)
    t_out, t_gx = _run_torch(pool, x, c)
    np.testing.assert_array_equal(out, t_out)
    # overlapping windows may add their gradients in another order than torch's
    np.testing.assert_allclose(gx, t_gx, rtol=1e-12, atol=1e-13)


def test_cnn_block_gradients_match_unreordered():
    mg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 5, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    model = model.double()
    x = np.random.default_rng(2).standard_normal((2, 3, 8, 8))
    c = np.random.default_rng(3).standard_normal((2, 20))
    out1, gx1 = _run_minigrad(model, x, c)
    grads1 = [p.grad.data.copy() for p in model.parameters()]
    model.zero_grad()
    # A hook on each ReLU turns the reordering off (the hook must see the unpooled output).
    seen = []
    for m in model:
        if isinstance(m, nn.ReLU):
            m.register_forward_hook(lambda mod, args, out: seen.append(tuple(out.shape)))
    out2, gx2 = _run_minigrad(model, x, c)
    grads2 = [p.grad.data for p in model.parameters()]
    assert seen == [(2, 4, 8, 8), (2, 5, 4, 4)]
    np.testing.assert_allclose(out1, out2, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(gx1, gx2, rtol=1e-13, atol=1e-15)
    for a, b in zip(grads1, grads2):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def test_other_orders_and_inplace_are_untouched():
    x = _inputs(4)
    for model in (nn.Sequential(nn.ReLU(inplace=True), nn.MaxPool2d(2)),
                  nn.Sequential(nn.ReLU(), nn.Flatten()),
                  nn.Sequential(nn.MaxPool2d(2), nn.ReLU()),
                  nn.Sequential(nn.ReLU())):
        xt = mg.tensor(x.copy())
        got = model(xt).data
        want = mg.tensor(x.copy())
        for m in model:
            want = m(want)
        np.testing.assert_array_equal(got, want.data)


def test_return_indices_pool_keeps_order():
    x = _inputs(5)
    model = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2, return_indices=True))
    out, idx = model(mg.tensor(x))
    t_out, t_idx = torch.nn.functional.max_pool2d(torch.relu(torch.tensor(x)), 2, return_indices=True)
    np.testing.assert_array_equal(out.data, t_out.numpy())
    np.testing.assert_array_equal(idx.data, t_idx.numpy())


def test_reordering_happens_without_hooks():
    model = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2))
    out = model(mg.tensor(_inputs(6), requires_grad=True))
    assert out.grad_fn.name() == "ReluBackward"  # the ReLU ran last, on the pooled tensor
    model[0].register_forward_hook(lambda mod, args, out: None)
    out = model(mg.tensor(_inputs(6), requires_grad=True))
    assert out.grad_fn.name() == "MaxPool2dBackward"
