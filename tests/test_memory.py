"""Memory: a graph and its saved arrays are freed by reference counting as soon as the last
reference goes (after backward, or when a loss is dropped without backward); training builds
no reference cycles; a training loop keeps a flat RSS and a flat object count."""

import gc
import os
import weakref

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn, optim


@pytest.fixture
def no_gc():
    """Run with the cyclic collector off: only reference counting may free things."""
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _nodes(root):
    """Every graph node reachable from ``root.grad_fn``."""
    seen, stack = [], [root.grad_fn]
    while stack:
        n = stack.pop()
        if n is None or type(n) is not type(root.grad_fn) or any(n is s for s in seen):
            continue
        seen.append(n)
        stack.extend(n.next)
    return seen


def _saved_arrays(nodes, *alive):
    """Arrays the nodes saved that nothing else owns: not the memory of a leaf tensor (or of
    ``alive``), nor a buffer the compiled backend keeps in a pool on purpose."""
    owned = [a.data for a in alive]
    for n in nodes:
        owned.extend(t.data for t in n.next if t is not None and type(t) is not type(n))
    try:  # buffers the compiled backend recycles across steps on purpose (module-level pools)
        from minigrad.backend import compiled

        for value in vars(compiled).values():
            if isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value):
                owned.extend(value)
    except ImportError:
        pass
    out = []
    for n in nodes:
        for a in n._saved or ():
            if isinstance(a, np.ndarray) and not any(np.may_share_memory(a, o) for o in owned):
                out.append(a)
    return out


def _cnn():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(8 * 3 * 3, 16), nn.ReLU(), nn.Linear(16, 10),
    )


def _graph(model, x, y):
    """A loss touching many op families (conv, pools, linear, elementwise, reductions, views)."""
    logits = model(x)
    extra = (logits.tanh() * logits.sigmoid()).sum(1).mean() + logits.softmax(1)[:, 0].mean()
    extra = extra + logits.reshape(-1)[::3].exp().clamp(max=5).log1p().mean()
    return F.cross_entropy(logits, y) + 0.1 * extra


def _weak_graph(loss, *alive):
    nodes = _nodes(loss)
    arrays = _saved_arrays(nodes, *alive)
    assert len(nodes) > 20 and len(arrays) > 10, (len(nodes), len(arrays))
    return [weakref.ref(n) for n in nodes], [weakref.ref(a) for a in arrays]


def _data(n=4):
    rng = np.random.default_rng(0)
    x = mg.tensor(rng.standard_normal((n, 1, 12, 12)), dtype=mg.float32)
    y = mg.tensor(rng.integers(0, 10, n))
    return x, y


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_graph_and_saved_arrays_freed_after_backward(no_gc, backend):
    if backend not in mg.backend.available():
        pytest.skip("compiled kernels not built")
    with mg.backend.use(backend):
        model, (x, y) = _cnn(), _data()
        loss = _graph(model, x, y)
        nodes, arrays = _weak_graph(loss, x, y)
        loss.backward()
        # Backward releases every saved array at once, even while the loss is alive.
        assert all(a() is None for a in arrays)
        del loss
        assert all(n() is None for n in nodes)
        assert all(p.grad is not None and p.grad.grad_fn is None for p in model.parameters())


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_graph_freed_when_loss_dropped_without_backward(no_gc, backend):
    if backend not in mg.backend.available():
        pytest.skip("compiled kernels not built")
    with mg.backend.use(backend):
        model, (x, y) = _cnn(), _data()
        loss = _graph(model, x, y)
        nodes, arrays = _weak_graph(loss, x, y)
        assert all(n() is not None for n in nodes)
        del loss
        assert all(n() is None for n in nodes)
        assert all(a() is None for a in arrays)


def test_retain_graph_keeps_then_second_backward_frees(no_gc):
    model, (x, y) = _cnn(), _data()
    loss = _graph(model, x, y)
    nodes, arrays = _weak_graph(loss, x, y)
    loss.backward(retain_graph=True)
    assert all(a() is not None for a in arrays)
    loss.backward()
    assert all(a() is None for a in arrays)
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()
    del loss
    assert all(n() is None for n in nodes)


def test_intermediate_tensors_and_hooks_do_not_pin_the_graph(no_gc):
    x = mg.randn(6, 5, requires_grad=True)
    h = (x @ mg.randn(5, 4)).relu()
    h.retain_grad()
    h.register_hook(lambda g: g * 1)
    out = h.sum() * 2
    nodes, arrays = _weak_graph_small(out, x)
    assert nodes and arrays
    out.backward()
    keep = weakref.ref(h)
    del out, h
    assert keep() is None and all(n() is None for n in nodes) and all(a() is None for a in arrays)


def _weak_graph_small(loss, *alive):
    nodes = _nodes(loss)
    return [weakref.ref(n) for n in nodes], [weakref.ref(a) for a in _saved_arrays(nodes, *alive)]


def test_autograd_grad_frees_the_graph(no_gc):
    x = mg.randn(5, requires_grad=True)
    y = (x.exp() * x).sum()
    nodes, arrays = _weak_graph_small(y, x)
    assert nodes and arrays
    (g,) = mg.autograd.grad(y, x)
    assert g.grad_fn is None
    assert all(a() is None for a in arrays)
    del y
    assert all(n() is None for n in nodes)


def test_failed_backward_does_not_leak_the_graph(no_gc):
    x = mg.randn(4, requires_grad=True)
    c = mg.randn(4)
    y = (x * c).sum()
    nodes, _ = _weak_graph_small(y)
    c.add_(1)
    with pytest.raises(RuntimeError):
        y.backward()
    del y
    assert all(n() is None for n in nodes)


def _train_step(model, opt, x, y):
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss.item()


def test_training_step_creates_no_reference_cycles(no_gc):
    model, (x, y) = _cnn(), _data()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(3):  # warm up lazily created state, caches and pools
        _train_step(model, opt, x, y)
    gc.collect()
    for _ in range(5):
        _train_step(model, opt, x, y)
        with mg.no_grad():
            model(x).argmax(1)
        _graph(model, x, y)  # built and dropped without backward
    assert gc.collect() == 0  # nothing was left for the cycle collector


def _rss_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_training_loop_rss_and_object_count_stay_flat():
    rng = np.random.default_rng(1)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * 7 * 7, 32), nn.ReLU(), nn.Linear(32, 10),
    )
    opt = optim.Adam(model.parameters(), lr=1e-3)
    xs = mg.tensor(rng.standard_normal((8, 16, 1, 14, 14)), dtype=mg.float32)
    ys = mg.tensor(rng.integers(0, 10, (8, 16)))

    def run(steps):
        for i in range(steps):
            _train_step(model, opt, xs[i % 8], ys[i % 8])

    run(50)  # warm-up: optimizer state, scratch buffers, allocator pools
    gc.collect()
    rss0, objs0 = _rss_bytes(), len(gc.get_objects())
    run(300)
    gc.collect()
    rss1, objs1 = _rss_bytes(), len(gc.get_objects())
    # A leak of one activation (16x8x14x14 float32 = 100 kB) per step would add 30 MB.
    assert rss1 - rss0 < 4 * 2**20, (rss0, rss1)
    assert objs1 - objs0 < 50, (objs0, objs1)
