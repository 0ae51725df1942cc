"""The autograd engine: graph shapes, accumulation, retain_graph, hooks, grad modes, errors,
``autograd.grad``, custom Functions, dtypes, aliasing, memory and in-place version checks.

Gradients are compared with torch in float64 wherever torch has the feature.
"""

import gc
import sys
import threading
import weakref

import numpy as np
import pytest

import minigrad as mg
from minigrad import autograd
from minigrad.autograd import Function

torch = pytest.importorskip("torch")

RTOL, ATOL = 1e-7, 1e-9


def pair(*shapes, requires_grad=True, seed=0):
    """The same float64 values as minigrad and torch leaves."""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    mgs = [mg.tensor(a, dtype=mg.float64, requires_grad=requires_grad) for a in arrays]
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=requires_grad) for a in arrays]
    return mgs, ts


def assert_close(got, want):
    """minigrad tensor (or array) vs torch tensor (or array), float64 tolerances."""
    got = got.detach().numpy() if isinstance(got, mg.Tensor) else np.asarray(got)
    want = want.detach().numpy() if isinstance(want, torch.Tensor) else np.asarray(want)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def run_both(fn, *shapes, seed=0):
    """Backprop ``(fn(*xs) * c).sum()`` in both frameworks; compare outputs and input grads."""
    (mgs, ts) = pair(*shapes, seed=seed)
    out_mg, out_t = fn(*mgs), fn(*ts)
    c = np.random.default_rng(seed + 1).standard_normal(out_t.shape)
    (out_mg * mg.tensor(c, dtype=mg.float64)).sum().backward()
    (out_t * torch.tensor(c)).sum().backward()
    assert_close(out_mg, out_t)
    for a, b in zip(mgs, ts):
        assert a.grad is not None and b.grad is not None
        assert_close(a.grad, b.grad)
    return mgs, ts


# --------------------------------------------------------------------------- graph shapes


def test_diamond_graph():
    def f(x):
        a = x * 2.0
        b = x.exp()
        return a * b + a.sin() * b.tanh()

    run_both(f, (3, 4))


def test_reused_tensor_several_times():
    run_both(lambda x, y: x * y + x.sin() + x * x * y - x, (5,), (5,))


@pytest.mark.parametrize("fn", [lambda x: x * x, lambda x: x + x, lambda x: x * x * x, lambda x: x - x])
def test_self_ops(fn):
    run_both(fn, (2, 3))


def test_broadcast_reuse_and_shared_subexpression():
    def f(x, b):
        h = (x + b).relu()
        return h * h + h * b

    run_both(f, (4, 3), (3,))


def test_size_one_dims_and_scalars_broadcast():
    run_both(lambda x, y, z: x * y + z, (4, 1, 3), (5, 1), ())


def test_unused_branch_gets_no_gradient():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = mg.tensor([3.0, 4.0], requires_grad=True)
    _unused = y * 3  # recorded but not part of the loss
    (x * 2).sum().backward()
    assert y.grad is None
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_backward_of_a_leaf_itself():
    x = mg.tensor(2.0, requires_grad=True)
    tx = torch.tensor(2.0, requires_grad=True)
    x.backward()
    tx.backward()
    assert x.grad.item() == tx.grad.item() == 1.0


# --------------------------------------------------------------------------- accumulation, retain_graph


def test_grads_accumulate_over_two_backward_calls():
    (x, w), (tx, tw) = pair((3,), (3,))
    for a, b in ((x, w), (tx, tw)):
        (a * b).sum().backward()
        (a.sin() * b).sum().backward()
    assert_close(x.grad, tx.grad)
    assert_close(w.grad, tw.grad)


def test_retain_graph_allows_second_backward():
    (x,), (tx,) = pair((4,))
    y, ty = (x.exp() * x).sum(), (tx.exp() * tx).sum()
    y.backward(retain_graph=True)
    ty.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    ty.backward()
    assert_close(x.grad, tx.grad)
    np.testing.assert_allclose(x.grad.numpy(), 2 * first, rtol=RTOL)


def test_second_backward_without_retain_graph_raises():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()  # Mul saves its inputs
    y.backward()
    with pytest.raises(RuntimeError) as info:
        y.backward()
    msg = str(info.value)
    assert "Trying to backward through the graph a second time" in msg
    assert "Specify retain_graph=True" in msg
    assert "MulBackward" in msg


def test_second_backward_through_ops_that_saved_nothing_works_like_torch():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    for a in (x, tx):
        y = (a + 1).sum()
        y.backward()
        y.backward()
    assert_close(x.grad, tx.grad)


def test_saved_tensors_raise_after_backward():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    y.sum().backward()
    with pytest.raises(RuntimeError, match="after they have already been freed"):
        _ = y.grad_fn.saved_tensors


# --------------------------------------------------------------------------- hooks


def test_leaf_hook_sees_gradient_and_can_replace_it():
    (x,), (tx,) = pair((3,))
    seen = []
    for a in (x, tx):
        a.register_hook(lambda g: seen.append(g.detach().numpy().copy()))
        a.register_hook(lambda g: g * 3)
        (a * a).sum().backward()
    assert_close(seen[0], seen[1])
    assert_close(x.grad, tx.grad)
    np.testing.assert_allclose(x.grad.numpy(), 3 * seen[0], rtol=RTOL)


def test_non_leaf_hook_replacement_flows_to_leaves():
    (x,), (tx,) = pair((3,))
    for a in (x, tx):
        h = a.exp()
        h.register_hook(lambda g: g * 10)
        (h * a).sum().backward()
    assert_close(x.grad, tx.grad)


def test_hook_handle_remove():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    calls = []
    handle = x.register_hook(lambda g: calls.append(1))
    (x * 2).sum().backward()
    handle.remove()
    (x * 2).sum().backward()
    assert calls == [1]
    y = x * 1
    h2 = y.register_hook(lambda g: g * 0)
    h2.remove()
    x.grad = None
    (y * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_hook_may_remove_itself_and_others_still_run():
    x = mg.tensor([1.0], requires_grad=True)
    calls = []
    handles = []

    def first(g):
        calls.append("first")
        handles[0].remove()

    handles.append(x.register_hook(first))
    x.register_hook(lambda g: calls.append("second"))
    (x * 2).sum().backward()
    (x * 2).sum().backward()
    assert calls == ["first", "second", "second"]


def test_hook_that_changes_shape_or_dtype_raises():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: mg.ones(3))
    with pytest.raises(RuntimeError, match="has changed the size of value"):
        (x * 2).sum().backward()
    y = mg.tensor([1.0, 2.0], requires_grad=True)
    y.register_hook(lambda g: g.double())
    with pytest.raises(RuntimeError, match="has changed the type of value"):
        (y * 2).sum().backward()


def test_hooks_do_not_record_a_graph():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    results = []
    x.register_hook(lambda g: results.append(g * x))
    (x * 2).sum().backward()
    assert not results[0].requires_grad and results[0].grad_fn is None


def test_register_hook_requires_grad():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        mg.ones(2).register_hook(lambda g: g)


# --------------------------------------------------------------------------- retain_grad


def test_retain_grad_on_non_leaf():
    (x,), (tx,) = pair((3,))
    outs = []
    for a in (x, tx):
        h = a.sin()
        h.retain_grad()
        other = a * 2  # not retained
        ((h * h).sum() + other.sum()).backward()
        outs.append((h, other))
    (h, other), (th, _) = outs
    assert h.retains_grad and h.grad is not None
    assert other.grad is None
    assert_close(h.grad, th.grad)
    assert_close(x.grad, tx.grad)


def test_retain_grad_accumulates_like_torch():
    (x,), (tx,) = pair((3,))
    hs = []
    for a in (x, tx):
        h = a * 3
        h.retain_grad()
        loss = (h * h).sum()
        loss.backward(retain_graph=True)
        loss.backward()
        hs.append(h)
    assert_close(hs[0].grad, hs[1].grad)


def test_retain_grad_on_the_root():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    y.backward(mg.tensor([1.0, -1.0]))
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, -1.0])


# --------------------------------------------------------------------------- grad mode


def test_no_grad_context_and_decorators():
    x = mg.ones(2, requires_grad=True)
    with mg.no_grad():
        assert not mg.is_grad_enabled()
        assert not (x * 2).requires_grad
    assert mg.is_grad_enabled()

    @mg.no_grad()
    def f(t):
        return t * 2

    @mg.no_grad
    def g(t):
        return t * 2

    assert not f(x).requires_grad and not g(x).requires_grad
    assert f.__name__ == "f" and g.__name__ == "g"
    assert (x * 2).requires_grad


def test_enable_grad_inside_no_grad():
    x = mg.ones(2, requires_grad=True)

    @mg.enable_grad()
    def f(t):
        return t * 2

    with mg.no_grad():
        with mg.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
        assert f(x).requires_grad
        assert not mg.is_grad_enabled()


def test_set_grad_enabled_call_context_and_decorator():
    x = mg.ones(2, requires_grad=True)
    with mg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert mg.is_grad_enabled()

    @mg.set_grad_enabled(False)
    def f(t):
        return t * 2

    assert mg.is_grad_enabled()  # decorating does not switch the mode
    assert not f(x).requires_grad
    assert mg.is_grad_enabled()
    try:
        mg.set_grad_enabled(False)  # a plain call, like torch: stays off
        assert not mg.is_grad_enabled()
        assert not (x * 2).requires_grad
    finally:
        mg.set_grad_enabled(True)
    assert (x * 2).requires_grad
    # torch behaves the same way
    torch.set_grad_enabled(False)
    assert not torch.is_grad_enabled()
    torch.set_grad_enabled(True)


def test_grad_mode_restored_after_exception():
    with pytest.raises(ValueError):
        with mg.no_grad():
            raise ValueError
    assert mg.is_grad_enabled()


def test_grad_mode_is_per_thread():
    x = mg.ones(2, requires_grad=True)
    entered, release = threading.Event(), threading.Event()

    def worker():
        with mg.no_grad():
            entered.set()
            release.wait(5)

    t = threading.Thread(target=worker)
    t.start()
    entered.wait(5)
    try:
        assert mg.is_grad_enabled()
        assert (x * 2).requires_grad
    finally:
        release.set()
        t.join()


def test_integer_outputs_carry_no_gradient():
    x = mg.tensor([1.0, 3.0, 2.0], requires_grad=True)
    assert not x.argmax().requires_grad
    assert not (x > 1).requires_grad


# --------------------------------------------------------------------------- deep graphs


def test_ten_thousand_op_chain_backprops_without_recursion():
    limit = sys.getrecursionlimit()
    x = mg.tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001**10_000] * 2, rtol=1e-9)
    assert sys.getrecursionlimit() == limit
    del y  # freeing the long chain must not recurse either


# --------------------------------------------------------------------------- detach


def test_detach_shares_data_and_has_no_grad():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert np.shares_memory(d.data, y.data)
    d.add_(1)  # in place on the detached tensor is visible through y, as in torch
    np.testing.assert_array_equal(y.data, [3.0, 5.0])
    assert d._version is y._version
    z = (d * x).sum()
    z.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 5.0])


# --------------------------------------------------------------------------- backward() errors


def test_non_scalar_backward_without_gradient_raises():
    x = mg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (torch.ones(3, requires_grad=True) * 2).backward()


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad and does not have a grad_fn"):
        mg.ones(3).sum().backward()
    x = mg.ones(3, requires_grad=True)
    with mg.no_grad():
        y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad"):
        y.backward()


def test_gradient_with_wrong_shape_raises():
    x = mg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Mismatch in shape: grad_output\[0\] has a shape of \(2,\)"):
        (x * 2).backward(mg.ones(2))
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (x * 2).backward(np.ones((1, 3)))


def test_gradient_argument_is_cast_and_scaled():
    (x,), (tx,) = pair((3,))
    g = np.array([1.0, -2.0, 0.5], dtype=np.float32)  # float32 gradient for a float64 output
    (x * x).backward(g)
    (tx * tx).backward(torch.tensor(g, dtype=torch.float64))
    assert x.grad.dtype == mg.float64
    assert_close(x.grad, tx.grad)


def test_create_graph_is_refused():
    x = mg.ones(2, requires_grad=True)
    with pytest.raises(NotImplementedError, match="create_graph"):
        (x * x).sum().backward(create_graph=True)


def test_backward_inputs_restricts_which_tensors_get_grad():
    (x, w), (tx, tw) = pair((3,), (3,))
    hs = []
    for a, b in ((x, w), (tx, tw)):
        h = a * b
        (h.exp()).sum().backward(inputs=[b, h])
        hs.append(h)
    assert x.grad is None and tx.grad is None
    assert_close(w.grad, tw.grad)
    assert_close(hs[0].grad, hs[1].grad)


def test_backward_of_several_roots():
    (x,), (tx,) = pair((3,))
    a, b = x * 2, x.sin()
    ta, tb = tx * 2, tx.sin()
    ga, gb = np.array([1.0, 2.0, 3.0]), np.array([-1.0, 0.5, 2.0])
    autograd.backward([a, b], [mg.tensor(ga, dtype=mg.float64), mg.tensor(gb, dtype=mg.float64)])
    torch.autograd.backward([ta, tb], [torch.tensor(ga), torch.tensor(gb)])
    assert_close(x.grad, tx.grad)


# --------------------------------------------------------------------------- autograd.grad


def test_grad_of_leaves_leaves_dot_grad_untouched():
    (x, w), (tx, tw) = pair((3,), (3,))
    x.grad = mg.tensor([7.0, 7.0, 7.0], dtype=mg.float64)
    gx, gw = autograd.grad((x * w).sin().sum(), [x, w])
    tgx, tgw = torch.autograd.grad((tx * tw).sin().sum(), [tx, tw])
    assert_close(gx, tgx)
    assert_close(gw, tgw)
    np.testing.assert_array_equal(x.grad.numpy(), [7.0, 7.0, 7.0])
    assert w.grad is None


def test_grad_of_non_leaf_input():
    (x,), (tx,) = pair((4,))
    res = []
    for a, grad_fn in ((x, autograd.grad), (tx, torch.autograd.grad)):
        h = a.exp()
        y = (h * h).sum()
        (gh,) = grad_fn(y, h)
        res.append((gh, h))
    assert_close(res[0][0], res[1][0])
    assert x.grad is None and res[0][1].grad is None


def test_grad_runs_only_the_part_of_the_graph_it_needs():
    x = mg.tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True)
    h = x.exp()  # ExpBackward saved its output; grad() w.r.t. h must not free it
    y = (h * h).sum()
    autograd.grad(y, h)
    h.backward(mg.ones(2, dtype=mg.float64))
    np.testing.assert_allclose(x.grad.numpy(), np.exp([1.0, 2.0]), rtol=RTOL)


def test_grad_allow_unused_and_errors():
    x = mg.ones(2, requires_grad=True)
    z = mg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        autograd.grad((x * 2).sum(), [x, z])
    gx, gz = autograd.grad((x * 2).sum(), [x, z], allow_unused=True)
    assert gz is None and gx.tolist() == [2.0, 2.0]
    (gz,) = autograd.grad((x * 2).sum(), z, materialize_grads=True)
    assert gz.tolist() == [0.0, 0.0]
    with pytest.raises(RuntimeError, match="does not require grad"):
        autograd.grad((x * 2).sum(), mg.ones(2))


def test_grad_with_grad_outputs_and_leaf_hooks():
    (x,), (tx,) = pair((3,))
    c = np.array([1.0, -1.0, 2.0])
    x.register_hook(lambda g: g * 10)
    tx.register_hook(lambda g: g * 10)
    (g1,) = autograd.grad(x.sin(), x, grad_outputs=mg.tensor(c, dtype=mg.float64))
    (t1,) = torch.autograd.grad(tx.sin(), tx, grad_outputs=torch.tensor(c))
    assert_close(g1, t1)


def test_grad_same_input_twice_and_retain_graph():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    a, b = autograd.grad(y, [x, x], retain_graph=True)
    assert a.tolist() == b.tolist() == [2.0, 4.0]
    a.data[0] = 100.0  # results do not alias each other
    assert b.tolist() == [2.0, 4.0]
    (c,) = autograd.grad(y, x)
    assert c.tolist() == [2.0, 4.0]


# --------------------------------------------------------------------------- custom Function


class ScaledMul(Function):
    """z = scale * x * w.   dx = scale * g * w,   dw = scale * g * x."""

    calls: list = []

    @staticmethod
    def forward(ctx, x, w, scale):
        ctx.save_for_backward(x, w)
        ctx.scale = scale
        return scale * x * w

    @staticmethod
    def backward(ctx, grad_output):
        x, w = ctx.saved_tensors
        ScaledMul.calls.append(ctx.needs_input_grad)
        gx = grad_output * w * ctx.scale if ctx.needs_input_grad[0] else None
        gw = grad_output * x * ctx.scale if ctx.needs_input_grad[1] else None
        return gx, gw, None


def test_custom_function_gradients():
    ScaledMul.calls.clear()
    (x, w), (tx, tw) = pair((3, 1), (4,))
    out = ScaledMul.apply(x, w, 2.5)  # broadcasting (3, 1) * (4,) -> (3, 4)
    assert out.grad_fn.name() == "ScaledMulBackward"
    c = np.random.default_rng(3).standard_normal((3, 4))
    (out * mg.tensor(c, dtype=mg.float64)).sum().backward()
    ((2.5 * tx * tw) * torch.tensor(c)).sum().backward()
    assert_close(x.grad, tx.grad)
    assert_close(w.grad, tw.grad)
    assert ScaledMul.calls == [(True, True, False)]


def test_custom_function_needs_input_grad_and_no_saving_when_not_needed():
    ScaledMul.calls.clear()
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    w = mg.tensor([3.0, 4.0])  # no grad
    ScaledMul.apply(x, w, 1.0).sum().backward()
    assert ScaledMul.calls == [(True, False, False)]
    assert x.grad.tolist() == [3.0, 4.0] and w.grad is None
    with mg.no_grad():
        out = ScaledMul.apply(x, w, 1.0)
    assert out.grad_fn is None and not out.requires_grad


def test_custom_function_wrong_number_of_gradients():
    class TwoInOneGrad(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output

    x = mg.ones(3, requires_grad=True)
    expected = r"function TwoInOneGradBackward returned an incorrect number of gradients \(expected 2, got 1"
    with pytest.raises(RuntimeError, match=expected):
        TwoInOneGrad.apply(x, x).sum().backward()


def test_custom_function_extra_trailing_none_gradients_are_allowed():
    class Extra(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output * 2, None

    x = mg.ones(3, requires_grad=True)
    Extra.apply(x).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


@pytest.mark.parametrize(
    "bad, ok",
    [((4,), False), ((), False), ((3, 1), False), ((1, 3), True), ((2, 3), True)],
)
def test_custom_function_gradient_shape_checked_like_torch(bad, ok):
    class Shaped(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, grad_output):
            return np.ones(bad)

    x = mg.ones(3, requires_grad=True)
    if ok:  # torch sums a gradient of the broadcast shape back to the input
        Shaped.apply(x).sum().backward()
        assert x.grad.tolist() == [float(np.prod(bad) // 3)] * 3
    else:
        with pytest.raises(RuntimeError, match="Function ShapedBackward returned an invalid gradient at"):
            Shaped.apply(x).sum().backward()


def test_custom_function_returning_a_tuple_is_refused():
    class Pair(Function):
        @staticmethod
        def forward(ctx, a):
            return a, a

    with pytest.raises(TypeError, match="Pair.forward returned a tuple"):
        Pair.apply(mg.ones(2, requires_grad=True))


# --------------------------------------------------------------------------- dtypes and aliasing


def test_gradient_dtype_follows_input_dtype():
    x = mg.tensor([1.0, 2.0, 3.0], dtype=mg.float32, requires_grad=True)
    w = mg.tensor([0.5, -1.0, 2.0], dtype=mg.float64, requires_grad=True)
    tx = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float32, requires_grad=True)
    tw = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    y = (x * w).exp().sum()
    ty = (tx * tw).exp().sum()
    assert y.dtype == mg.float64
    y.backward()
    ty.backward()
    assert x.grad.dtype == mg.float32 and w.grad.dtype == mg.float64
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
    assert_close(w.grad, tw.grad)


def test_leaf_grads_never_alias_each_other():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = mg.tensor([3.0, 4.0], requires_grad=True)
    (x + y).sum().backward()  # Add returns the same array for both inputs
    x.grad.data += 5
    assert y.grad.tolist() == [1.0, 1.0]
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    (a + a).sum().backward()
    assert a.grad.tolist() == [2.0, 2.0]


def test_leaf_grad_does_not_alias_user_gradient():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    g = np.array([1.0, 1.0], dtype=np.float32)
    (x * 1).backward(g)
    (x.reshape(2)).backward(g)
    x.backward(g)
    g[:] = 100
    assert x.grad.tolist() == [3.0, 3.0]
    y = mg.tensor([1.0, 2.0], requires_grad=True)
    gt = mg.tensor([1.0, 1.0])
    y.clone().backward(gt)
    y.grad.data += 1
    assert gt.tolist() == [1.0, 1.0]


def test_grad_accumulates_in_place_like_torch():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    g = x.grad
    (x * 3).sum().backward()
    assert x.grad is g and g.tolist() == [5.0, 5.0]


# --------------------------------------------------------------------------- memory


def test_saved_arrays_are_released_after_backward():
    x = mg.randn(100, requires_grad=True)
    h = x * 2
    y = h.sin()  # SinBackward saves h's array
    saved = weakref.ref(h.data)
    del h
    assert saved() is not None  # only the graph holds it now
    y.sum().backward()
    assert saved() is None


def test_saved_arrays_kept_with_retain_graph():
    x = mg.randn(100, requires_grad=True)
    h = x * 2
    y = h.sin()
    saved = weakref.ref(h.data)
    del h
    y.sum().backward(retain_graph=True)
    assert saved() is not None
    y.sum().backward()
    assert saved() is None


def test_graph_freed_when_output_dropped_without_backward():
    was_enabled = gc.isenabled()
    gc.disable()  # no cycles: reference counting alone must free the graph
    try:
        x = mg.randn(10, requires_grad=True)
        h = (x * 2).exp()
        y = (h * h + 1).sum()
        node, mid = weakref.ref(h.grad_fn), weakref.ref(h)
        saved = weakref.ref(h.data)
        mid_node = weakref.ref(y.grad_fn.next[0])
        del h
        assert node() is not None and saved() is not None
        del y
        assert node() is None and mid() is None and saved() is None and mid_node() is None
    finally:
        if was_enabled:
            gc.enable()


def test_graph_with_retain_grad_and_hooks_freed_without_gc():
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        x = mg.randn(10, requires_grad=True)
        h = x * 2
        h.retain_grad()
        h.register_hook(lambda g: g)
        node = weakref.ref(h.grad_fn)
        tensor = weakref.ref(h)
        y = h.sum()
        y.backward()
        del h, y
        assert node() is None and tensor() is None
    finally:
        if was_enabled:
            gc.enable()


# --------------------------------------------------------------------------- graph structure


def test_next_functions_like_torch():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = mg.tensor([3.0, 4.0], requires_grad=True)
    c = mg.tensor([1.0, 1.0])
    tx, ty, tc = (torch.tensor(t.tolist(), requires_grad=t.requires_grad) for t in (x, y, c))
    z, tz = x * y + c, tx * ty + tc
    assert [type(n).__name__ if n is not None else None for n, _ in tz.grad_fn.next_functions] == [
        "MulBackward0",
        None,
    ]
    (mul, i0), (none, i1) = z.grad_fn.next_functions
    assert mul is z.grad_fn.next[0] and mul.name() == "MulBackward" and none is None
    assert i0 == i1 == 0
    (acc_x, _), (acc_y, _) = mul.next_functions
    (tacc_x, _), (tacc_y, _) = tz.grad_fn.next_functions[0][0].next_functions
    assert type(tacc_x).__name__ == "AccumulateGrad" == acc_x.name()
    assert acc_x.variable is x and acc_y.variable is y
    assert tacc_x.variable is tx
    # one AccumulateGrad per leaf, shared by every op that reads it
    assert (x * 3).grad_fn.next_functions[0][0] is acc_x
    assert (tx * 3).grad_fn.next_functions[0][0] is tacc_x
    assert acc_x.next_functions == ()
    # a Python number: (None, 0) in both
    assert (x + 1).grad_fn.next_functions[1] == (None, 0)
    assert (tx + 1).grad_fn.next_functions[1] == (None, 0)


# --------------------------------------------------------------------------- version counter


MODIFIED = "one of the variables needed for gradient computation has been modified by an inplace operation"


def test_modifying_saved_input_in_place_raises_naming_the_op():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1
    y = (h * h).sum()
    with mg.no_grad():
        h.add_(1)
    with pytest.raises(RuntimeError) as info:
        y.backward()
    assert MODIFIED in str(info.value)
    assert "MulBackward" in str(info.value)
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    th = tx * 1
    ty = (th * th).sum()
    with torch.no_grad():
        th.add_(1)
    with pytest.raises(RuntimeError, match=MODIFIED):
        ty.backward()


def test_modifying_input_that_was_not_saved_is_fine_like_torch():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1
    y = h.exp().sum()  # Exp saves its output, not its input
    with mg.no_grad():
        h.add_(1)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp([1.0, 2.0]), rtol=1e-6)


def test_modifying_saved_output_in_place_raises():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()  # saves its output
    y = h.sum()
    with mg.no_grad():
        h.mul_(2)
    with pytest.raises(RuntimeError, match=MODIFIED) as info:
        y.backward()
    assert "ExpBackward" in str(info.value)


def test_modifying_a_view_base_of_a_saved_input_raises():
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    base = x * 1
    v = base.reshape(4)  # a view: shares memory and version counter with base
    y = (v * v).sum()
    with mg.no_grad():
        base.add_(1)
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


def test_modifying_a_constant_that_was_saved_raises():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    w = mg.tensor([3.0, 4.0])  # needs no grad: written in place even with grad on
    y = (x * w).sum()
    w.mul_(2)
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


def test_retain_grad_follows_an_in_place_update_like_torch():
    hs = []
    for lib in (mg, torch):
        x = lib.ones(2, requires_grad=True)
        h = x * 2
        h.retain_grad()
        h.mul_(3)
        (h * h).sum().backward()
        hs.append((h.grad.tolist(), x.grad.tolist()))
    assert hs[0] == hs[1] == ([12.0, 12.0], [72.0, 72.0])


def test_engine_never_writes_into_an_array_a_backward_saved():
    class OnesGrad(Function):
        """z = x (a gradient of ones, returned straight from the saved array)."""

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(np.ones_like(x))
            return x.copy()

        @staticmethod
        def backward(ctx, grad_output):
            (ones,) = ctx.saved_tensors
            return ones

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    a, b = OnesGrad.apply(x), OnesGrad.apply(x)
    loss = (a + b).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    assert x.grad.tolist() == [4.0, 4.0]


def test_backward_inside_no_grad_works_like_torch():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    with mg.no_grad():
        loss.backward()
    assert x.grad.tolist() == [2.0, 4.0]
    assert mg.is_grad_enabled()


@pytest.mark.parametrize("keep", ["tensor", "array", "view"])
def test_gradient_kept_by_a_hook_never_changes_later(keep):
    seen, tseen = [], []
    x, tx = mg.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    if keep == "tensor":
        x.register_hook(seen.append)
    elif keep == "array":
        x.register_hook(lambda g: seen.append(g.data))
    else:
        x.register_hook(lambda g: seen.append(g.data[:]))
    tx.register_hook(tseen.append)
    for a in (x, tx):
        (a * 2).sum().backward()
        (a * 3).sum().backward()
    assert [np.asarray(s).tolist() for s in seen] == [t.tolist() for t in tseen] == [[2.0, 2.0], [3.0, 3.0]]
    assert x.grad.tolist() == tx.grad.tolist() == [5.0, 5.0]


def test_custom_function_mark_non_differentiable():
    class ArgMaxMask(Function):
        """z = one-hot of argmax(x) (no gradient)."""

        @staticmethod
        def forward(ctx, x):
            out = np.zeros_like(x)
            out[np.argmax(x)] = 1
            ctx.mark_non_differentiable(out)
            ctx.set_materialize_grads(False)
            return out

    x = mg.tensor([1.0, 3.0, 2.0], requires_grad=True)
    out = ArgMaxMask.apply(x)
    assert out.tolist() == [0.0, 1.0, 0.0]
    assert not out.requires_grad and out.grad_fn is None
