"""In-place safety: version counters like torch's, saved-array corruption detected at backward,
in-place on leaves refused, torch's gradients through in-place updates of graph tensors, and
optimizer steps that record no graph."""

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim

torch = pytest.importorskip("torch")

RTOL, ATOL = 1e-7, 1e-9
MODIFIED = "modified by an inplace operation"


def _versions(lib, x):
    out = [x._version if lib is torch else x._version[0]]

    def step(fn):
        fn()
        out.append(x._version if lib is torch else x._version[0])

    return out, step


# --------------------------------------------------------------------------- version counter


def _bump_everything(lib):
    x = lib.ones(4, 3, dtype=lib.float64)
    out, step = _versions(lib, x)
    step(lambda: x.add_(1))
    step(lambda: x.add_(x, alpha=2))
    step(lambda: x.sub_(0.5))
    step(lambda: x.mul_(2))
    step(lambda: x.div_(3))
    step(lambda: x.zero_())
    step(lambda: x.fill_(2.0))
    step(lambda: x.clamp_(0.0, 1.0))
    step(lambda: x.clamp_(max=0.5))
    step(lambda: x.__setitem__(0, 5.0))
    step(lambda: x.__setitem__((slice(1, 3), 1), lib.zeros(2, dtype=lib.float64)))
    step(lambda: x.__iadd__(1))
    step(lambda: x.__isub__(1))
    step(lambda: x.__imul__(2))
    step(lambda: x.__itruediv__(2))
    step(lambda: x.copy_(lib.ones(4, 3, dtype=lib.float64)))
    step(lambda: x[1:].add_(1))  # through a view
    step(lambda: x.detach().mul_(2))  # through a detached alias
    step(lambda: x.reshape(12).sub_(1))
    step(lambda: x.t().mul_(3))
    return out, x


def test_version_counter_matches_torch():
    ours, xm = _bump_everything(mg)
    theirs, xt = _bump_everything(torch)
    assert ours == theirs
    np.testing.assert_allclose(xm.numpy(), xt.numpy(), rtol=0, atol=0)


def test_out_of_place_ops_and_reads_do_not_bump():
    x = mg.ones(3)
    v = x._version[0]
    _ = x + 1, x * x, x.sum(), x[1:], x.reshape(3), x.clone(), x.numpy(), x.tolist()
    assert x._version[0] == v


def test_views_share_the_counter():
    x = mg.ones(4, 3)
    views = [x[1:], x.reshape(12), x.t(), x.transpose(0, 1), x.unsqueeze(0), x.detach(), x[0]]
    x.add_(1)
    assert all(v._version[0] == x._version[0] == 1 for v in views)
    views[2].mul_(2)
    assert x._version[0] == 2
    assert mg.ones(3)._version[0] == 0  # fresh tensors start at 0
    assert x.clone()._version is not x._version


# --------------------------------------------------------------------------- saved-array corruption


def _corrupt_saved(lib, case):
    """Build a graph, modify a saved array under no_grad (or a non-grad tensor), backward."""
    x = lib.tensor([0.5, -1.0, 2.0, 1.5], dtype=lib.float64, requires_grad=True)
    if case == "mul_input_no_grad":
        a = x * 1
        y = a * x
        with lib.no_grad():
            a.add_(1)
    elif case == "mul_constant":
        c = lib.ones(4, dtype=lib.float64)
        y = x * c
        c.mul_(2)
    elif case == "exp_output":
        y = x.exp()
        with lib.no_grad():
            y.mul_(2)
    elif case == "sigmoid_output_setitem":
        y = x.sigmoid()
        with lib.no_grad():
            y[0] = 0.0
    elif case == "div_denominator_view":
        c = lib.ones(2, 4, dtype=lib.float64)
        y = x / c[1]
        c[1:].add_(1)  # a view sharing memory with the saved denominator
    elif case == "matmul_base_of_saved_view":
        m = lib.ones(4, 4, dtype=lib.float64)
        y = x @ m.t()
        m[0, 0] = 3.0  # the base of the saved (transposed) operand
    elif case == "leaf_under_no_grad":
        y = x * x
        with lib.no_grad():
            x.mul_(2)
    elif case == "detached_alias":
        y = x.tanh()
        y.detach().zero_()
    elif case == "pow_base":
        b = lib.tensor([1.0, 2.0, 3.0, 4.0], dtype=lib.float64)
        y = b ** x
        b.fill_(2.0)
    else:
        raise AssertionError(case)
    y.sum().backward()


CORRUPTIONS = [
    "mul_input_no_grad", "mul_constant", "exp_output", "sigmoid_output_setitem",
    "div_denominator_view", "matmul_base_of_saved_view", "leaf_under_no_grad",
    "detached_alias", "pow_base",
]


@pytest.mark.parametrize("case", CORRUPTIONS)
def test_modified_saved_array_raises_like_torch(case):
    with pytest.raises(RuntimeError, match=MODIFIED):
        _corrupt_saved(torch, case)
    with pytest.raises(RuntimeError, match=MODIFIED) as info:
        _corrupt_saved(mg, case)
    msg = str(info.value)
    assert "Backward" in msg and "version" in msg, msg  # names the op and the versions


def test_error_names_the_op_that_saved_it():
    x = mg.randn(3, requires_grad=True)
    c = mg.randn(3)
    y = (x * c).exp().sum()
    c.add_(1)
    with pytest.raises(RuntimeError, match="MulBackward"):
        y.backward()


def test_modifying_an_input_the_op_does_not_save_is_fine_like_torch():
    for lib in (mg, torch):
        x = lib.tensor([0.5, -1.0, 2.0], dtype=lib.float64, requires_grad=True)
        a = x * 1
        y = a.exp()  # exp saves its output, not its input
        z = a + 2  # add saves nothing
        with lib.no_grad():
            a.add_(1)
        (y.sum() + z.sum()).backward()
        np.testing.assert_allclose(np.asarray(x.grad.tolist()), np.exp([0.5, -1.0, 2.0]) + 1, rtol=1e-12)


def test_restoring_the_value_does_not_hide_the_write():
    x = mg.randn(3, requires_grad=True)
    c = mg.ones(3)
    y = (x * c).sum()
    c.mul_(2)
    c.div_(2)  # same values again, but two writes happened
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


# --------------------------------------------------------------------------- leaves


@pytest.mark.parametrize(
    "op",
    [
        lambda x: x.add_(1), lambda x: x.sub_(1), lambda x: x.mul_(2), lambda x: x.div_(2),
        lambda x: x.zero_(), lambda x: x.fill_(1.0), lambda x: x.clamp_(0, 1),
        lambda x: x.__setitem__(0, 1.0), lambda x: x.__iadd__(1), lambda x: x.copy_(mg.ones(3)),
    ],
)
def test_in_place_on_leaf_requiring_grad_raises(op):
    x = mg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        op(x)
    assert x._version[0] == 0 and x.is_leaf and x.tolist() == [1.0, 1.0, 1.0]
    with mg.no_grad():
        op(x)  # allowed under no_grad, as in torch
    assert x._version[0] == 1 and x.is_leaf and x.grad_fn is None and x.requires_grad


def test_parameter_in_place_raises_and_says_no_grad():
    p = nn.Linear(2, 2).weight
    with pytest.raises(RuntimeError, match="no_grad"):
        p.mul_(0.5)


# --------------------------------------------------------------------------- graph tensors vs torch


def _chain(lib):
    # Only writes torch accepts: none of them overwrites a value an earlier op saved.
    dt = lib.float64
    x = lib.tensor([0.5, -1.5, 2.0, 0.25, -0.75], dtype=dt, requires_grad=True)
    w = lib.tensor([1.5, 2.0, -0.5, 3.0, 0.8], dtype=dt, requires_grad=True)
    d = lib.tensor([2.0, 4.0, -1.0, 0.5, 3.0], dtype=dt)
    y = x * 2
    y.add_(1)
    y.sub_(w, alpha=2)
    y *= 3
    y /= d
    y += x
    y -= 1
    y[1] = 0.0
    y[2:4] = x[:2] * 3
    y[4] = w[0]
    y.add_(y)
    y.mul_(w)
    c = lib.tensor([1.0, -2.0, 3.0, 0.5, 1.25], dtype=dt)
    loss = (y * c).sum()
    loss.backward()
    return y, x.grad, w.grad


def _square_chain(lib):
    x = lib.tensor([0.5, -1.5, 2.0], dtype=lib.float64, requires_grad=True)
    y = x * 2
    y.add_(1)
    if lib is torch:  # torch refuses y.mul_(y) at backward (it saved y); the same math out of place
        y = y * y
    else:  # minigrad computes it out of place and rebases y: the saved y stays intact
        y.mul_(y)
    (y * lib.tensor([1.0, -2.0, 3.0], dtype=lib.float64)).sum().backward()
    return y, x.grad


def _clamp_chain(lib):
    x = lib.tensor([0.5, -1.5, 2.0, 0.1], dtype=lib.float64, requires_grad=True)
    y = x * 3
    y.clamp_(-1.0, 2.0)
    z = y * 1
    z.div_(x + 4)
    z.sum().backward()
    return z, x.grad


@pytest.mark.parametrize("chain", [_square_chain, _clamp_chain], ids=["mul_self", "clamp_div"])
def test_short_in_place_chains_match_torch(chain):
    (ym, gm), (yt, gt) = chain(mg), chain(torch)
    np.testing.assert_allclose(ym.detach().numpy(), yt.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(gm.numpy(), gt.numpy(), rtol=RTOL, atol=ATOL)


def test_in_place_chain_on_graph_tensor_matches_torch():
    ym, gxm, gwm = _chain(mg)
    yt, gxt, gwt = _chain(torch)
    np.testing.assert_allclose(ym.detach().numpy(), yt.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(gxm.numpy(), gxt.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(gwm.numpy(), gwt.numpy(), rtol=RTOL, atol=ATOL)


def _fill_chain(lib):
    x = lib.tensor([0.5, -1.5, 2.0], dtype=lib.float64, requires_grad=True)
    y = x * 1
    y.zero_()
    y.add_(x * x)
    z = y * 1
    z.fill_(2.0)
    z.copy_(x.exp())
    y.retain_grad()
    (y * 3 + z).sum().backward()
    return x.grad, y.grad, y.grad_fn is not None


def test_zero_fill_copy_retain_grad_match_torch():
    gm, ygm, nm = _fill_chain(mg)
    gt, ygt, nt = _fill_chain(torch)
    np.testing.assert_allclose(gm.numpy(), gt.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ygm.numpy(), ygt.numpy(), rtol=RTOL, atol=ATOL)
    assert nm and nt


def test_in_place_on_non_requiring_tensor_with_grad_value_joins_the_graph():
    for lib in (mg, torch):
        x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        buf = lib.zeros(2, dtype=lib.float64)
        buf.add_(x * 3)  # buf now depends on x, like torch
        assert buf.requires_grad and buf.grad_fn is not None
        buf.sum().backward()
        assert x.grad.tolist() == [3.0, 3.0]


def test_in_place_result_dtype_is_kept_and_int_refuses_float():
    x = mg.ones(3, dtype=mg.float32)
    x.add_(mg.ones(3, dtype=mg.float64))
    assert x.dtype == mg.float32
    i = mg.ones(3, dtype=mg.int64)
    with pytest.raises(RuntimeError, match="can't be cast"):
        i.mul_(0.5)
    assert i.tolist() == [1, 1, 1]


def test_broadcast_view_is_read_only():
    x = mg.ones(3).expand(2, 3)
    with pytest.raises(RuntimeError, match="read-only|clone"):
        x.add_(1)


# In-place writes through views of tensors in the graph. A graph-recorded in-place op is
# computed out of place and the tensor is rebased onto the result; a tensor sharing the old
# memory would then silently keep old values and a graph that ignores the write (torch
# rewrites the base's graph instead). minigrad refuses those writes with a clear error.
SHARED = "shares memory with another live tensor"


def test_in_place_on_view_of_graph_tensor_is_refused_not_silently_wrong():
    x = mg.tensor([1.0, 2.0, 3.0], dtype=mg.float64, requires_grad=True)
    y = x * 2
    v = y[:2]
    with pytest.raises(RuntimeError, match=SHARED):
        v.mul_(10)
    with pytest.raises(RuntimeError, match=SHARED):
        v[0] = 5.0
    assert y.tolist() == [2.0, 4.0, 6.0] and v.tolist() == [2.0, 4.0]  # nothing changed
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [8.0, 16.0, 24.0])


@pytest.mark.parametrize(
    "make_alias",
    [lambda y: y[1:], lambda y: y.reshape(3, 1), lambda y: y.t() if y.ndim == 2 else y.unsqueeze(0),
     lambda y: y.detach(), lambda y: y.view(-1)],
    ids=["slice", "reshape", "transpose", "detach", "view"],
)
def test_in_place_on_graph_tensor_with_live_views_is_refused(make_alias):
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    alias = make_alias(y)
    for op in (lambda: y.add_(1), lambda: y.__setitem__(0, 1.0), lambda: y.clamp_(0, 1)):
        with pytest.raises(RuntimeError, match=SHARED):
            op()
    assert y.tolist() == [2.0, 4.0, 6.0]
    del alias  # once the view is gone, the in-place update is fine again
    y.add_(1)
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_views_that_died_do_not_block_in_place():
    x = mg.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y = (x * 2).reshape(2, 2)  # a view of a temporary
    y.mul_(3)
    h = nn.Flatten()(x.reshape(1, 4) * 1)
    h.add_(1)  # the layer's input is gone
    (y.sum() + h.sum()).backward()
    assert x.grad.tolist() == [7.0, 7.0, 7.0, 7.0]


def test_in_place_on_view_of_leaf_raises_like_torch():
    for lib in (mg, torch):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        with pytest.raises(RuntimeError, match="view of a leaf Variable that requires grad"):
            x[:2].add_(1)
        assert x.tolist() == [1.0, 2.0, 3.0]
        with lib.no_grad():
            x[:2].add_(1)  # fine under no_grad: the leaf sees the write
        assert x.tolist() == [2.0, 3.0, 3.0]


def test_alias_bookkeeping_is_bounded_and_copies_share_nothing():
    import copy
    import pickle

    w = mg.randn(4, 4, requires_grad=True)
    for _ in range(1000):
        w.t(), w.detach()  # a view made every step must not grow anything
    assert len(w._version) <= 2 and len(w._version[-1].refs) <= 18
    y = w * 2
    v = y.reshape(16)
    for c in (copy.deepcopy(v), pickle.loads(pickle.dumps(v.detach())), copy.deepcopy(y)):
        c.add_(1)  # a copy shares memory with nobody: no refusal, no effect on the original
    assert np.array_equal(v.detach().numpy(), (w.detach().numpy() * 2).reshape(16))


def test_views_see_in_place_writes_without_graph():
    for lib in (mg, torch):
        y = lib.tensor([1.0, 2.0, 3.0])
        v = y[1:]
        y.add_(1)
        v.mul_(10)
        assert y.tolist() == [2.0, 30.0, 40.0] and v.tolist() == [30.0, 40.0]


# --------------------------------------------------------------------------- optimizers


def _model():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: optim.SGD(ps, lr=0.1),
        lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2),
        lambda ps: optim.Adam(ps, lr=1e-2),
        lambda ps: optim.Adam(ps, lr=1e-2, amsgrad=True, weight_decay=1e-2),
        lambda ps: optim.AdamW(ps, lr=1e-2),
        lambda ps: optim.RMSprop(ps, lr=1e-2, momentum=0.5, centered=True),
    ],
    ids=["sgd", "sgd-nesterov", "adam", "adam-amsgrad", "adamw", "rmsprop"],
)
def test_optimizer_step_records_no_graph(make):
    model = _model()
    opt = make(model.parameters())
    x = mg.randn(5, 4)
    before = [p.detach().numpy().copy() for p in model.parameters()]
    for _ in range(3):
        opt.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        opt.step()
    for p, b in zip(model.parameters(), before):
        assert p.is_leaf and p.grad_fn is None and p.requires_grad
        assert not np.array_equal(p.detach().numpy(), b)  # it did update
        assert p.grad is None or (p.grad.grad_fn is None and not p.grad.requires_grad)
        for value in opt.state[p].values():
            if isinstance(value, mg.Tensor):
                assert value.grad_fn is None and not value.requires_grad
    # A graph built before the step that saved a parameter now refuses to run backward.
    out = model(x).sum()
    opt.zero_grad()
    model(x).sum().backward()
    opt.step()
    with pytest.raises(RuntimeError, match=MODIFIED):
        out.backward()


def test_optimizer_step_inside_enable_grad_records_no_graph():
    model = _model()
    opt = optim.Adam(model.parameters(), lr=1e-2)
    model(mg.randn(2, 4)).sum().backward()
    with mg.enable_grad():
        opt.step()
    assert all(p.is_leaf and p.grad_fn is None for p in model.parameters())


@pytest.mark.parametrize("make", [
    lambda t: t.t(), lambda t: t[:, :2], lambda t: t[::2], lambda t: t[:, 1:2], lambda t: t[1:],
    lambda t: t.t()[:, :1], lambda t: t.unsqueeze(1).expand(3, 2, 4),
], ids=["transposed", "column slice", "row step", "one column", "row slice", "t-column",
        "expanded"])
@pytest.mark.parametrize("shape", [(-1,), (2, -1), (-1, 1), (1, -1, 2)])
def test_view_shares_memory_or_raises_like_torch(make, shape):
    """view() never copies: where torch's view works, writes through it reach the base; where
    the layout needs a copy, both raise."""
    base = np.arange(12.0).reshape(3, 4)
    results = []
    for lib in (mg, torch):
        x = make(lib.tensor(base.copy()))
        try:
            v = x.view(*shape)
        except RuntimeError as e:
            results.append(("raises", "Use .reshape(...) instead" in str(e)))
            continue
        v.mul_(-1)  # in place through the view: the viewed tensor sees it
        results.append(("view", tuple(v.shape), x.tolist()))
    assert results[0] == results[1]
