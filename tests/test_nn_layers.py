"""nn layers vs torch.nn: constructor defaults, repr, forward and gradients, modes, init."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402
from minigrad.nn import init  # noqa: E402

rng = np.random.default_rng(0)


def randn(*shape):
    return rng.standard_normal(shape)


def _copy_weights(m_mod, t_mod):
    m_mod.load_state_dict(t_mod.state_dict())


def check_layer(m_mod, t_mod, x, atol=1e-9, rtol=1e-7, int_input=False, load=True):
    """Same weights, same input: outputs and every gradient (input and parameters) match."""
    t_mod = t_mod.double()
    m_mod = m_mod.double()
    if load:
        _copy_weights(m_mod, t_mod)
    if int_input:
        mx, tx = mg.tensor(x), torch.tensor(x)
    else:
        mx = mg.tensor(x, requires_grad=True)
        tx = torch.tensor(x, requires_grad=True)
    mo, to = m_mod(mx), t_mod(tx)
    np.testing.assert_allclose(mo.data, to.detach().numpy(), atol=atol, rtol=rtol)
    c = randn(*to.shape)
    (to * torch.tensor(c)).sum().backward()
    (mo * mg.tensor(c)).sum().backward()
    if not int_input:
        np.testing.assert_allclose(mx.grad.data, tx.grad.numpy(), atol=atol, rtol=rtol)
    for (n1, p1), (n2, p2) in zip(m_mod.named_parameters(), t_mod.named_parameters()):
        assert n1 == n2
        if p2.grad is None:
            assert p1.grad is None
            continue
        np.testing.assert_allclose(p1.grad.data, p2.grad.numpy(), atol=atol, rtol=rtol, err_msg=n1)
    assert repr(m_mod) == repr(t_mod)


LAYERS = [
    ("Linear(5, 3)", (4, 5)),
    ("Linear(5, 3, bias=False)", (2, 3, 5)),
    ("Conv2d(3, 4, 3)", (2, 3, 6, 5)),
    ("Conv2d(3, 6, (3, 2), stride=2, padding=1, bias=False)", (2, 3, 7, 6)),
    ("Conv2d(4, 4, 3, padding='same', dilation=2, groups=2)", (1, 4, 6, 6)),
    ("Conv2d(2, 3, 3, padding='valid')", (2, 5, 5)),
    ("MaxPool2d(2)", (2, 3, 6, 6)),
    ("MaxPool2d(3, stride=2, padding=1, ceil_mode=True)", (2, 2, 7, 7)),
    ("AvgPool2d(2)", (2, 3, 6, 6)),
    ("AvgPool2d(3, stride=1, padding=1, count_include_pad=False)", (1, 2, 5, 5)),
    ("Flatten()", (2, 3, 4, 5)),
    ("Flatten(0, 2)", (2, 3, 4, 5)),
    ("Unflatten(1, (2, 6))", (3, 12)),
    ("ReLU()", (4, 5)),
    ("LeakyReLU(0.2)", (4, 5)),
    ("Sigmoid()", (4, 5)),
    ("Tanh()", (4, 5)),
    ("GELU()", (4, 5)),
    ("GELU(approximate='tanh')", (4, 5)),
    ("ELU()", (4, 5)),
    ("Softplus()", (4, 5)),
    ("Softmax(dim=1)", (4, 5)),
    ("LogSoftmax(dim=-1)", (3, 4, 5)),
    ("Identity()", (4, 5)),
    ("Dropout(0.3)", (4, 5)),  # eval mode below, so deterministic
]


@pytest.mark.parametrize("spec,shape", LAYERS)
def test_layer_parity(spec, shape):
    m_mod = eval("nn." + spec, {"nn": nn})
    t_mod = eval("nn." + spec, {"nn": torch.nn})
    if spec.startswith("Dropout"):
        m_mod.eval()
        t_mod.eval()
    x = randn(*shape)
    check_layer(m_mod, t_mod, x)


@pytest.mark.parametrize("spec", ["BatchNorm1d(4)", "BatchNorm1d(4, momentum=None)",
                                  "BatchNorm1d(4, affine=False)",
                                  "BatchNorm1d(4, track_running_stats=False)",
                                  "BatchNorm2d(4, eps=1e-3, momentum=0.3)"])
def test_batchnorm_train_steps_then_eval(spec):
    m_mod = eval("nn." + spec, {"nn": nn}).double()
    t_mod = eval("nn." + spec, {"nn": torch.nn}).double()
    shape = (6, 4, 5, 3) if "2d" in spec else (6, 4)
    if "affine=False" not in spec:
        with torch.no_grad():
            t_mod.weight.copy_(torch.tensor(randn(4)))
            t_mod.bias.copy_(torch.tensor(randn(4)))
    _copy_weights(m_mod, t_mod)
    for _ in range(4):  # the running statistics evolve independently in both frameworks
        x = randn(*shape) * 3 + 1
        m_mod.zero_grad()
        t_mod.zero_grad()
        check_layer(m_mod, t_mod, x, load=False)
        for name, buf in t_mod.named_buffers():
            np.testing.assert_allclose(m_mod.get_buffer(name).data, buf.numpy(), rtol=1e-12,
                                       err_msg=name)
    m_mod.eval()
    t_mod.eval()
    x = randn(*shape)
    m_mod.zero_grad()
    t_mod.zero_grad()
    check_layer(m_mod, t_mod, x, load=False)
    if "track_running_stats=False" not in spec:
        assert int(m_mod.num_batches_tracked.item()) == 4  # eval steps are not counted
        assert not np.allclose(m_mod.running_mean.data, 0)


def test_batchnorm_3d_input_and_errors():
    check_layer(nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3), randn(4, 3, 5))
    with pytest.raises(ValueError, match=r"2D or 3D input \(got 4D"):
        nn.BatchNorm1d(3)(mg.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"4D input \(got 2D"):
        nn.BatchNorm2d(3)(mg.randn(2, 3))
    with pytest.raises(ValueError, match="3 channels"):
        nn.BatchNorm2d(3)(mg.randn(2, 4, 2, 2))


def test_batchnorm_mixed_dtype_error():
    with pytest.raises(TypeError, match=r"batch_norm: input \(float64\) and weight \(float32\).*same dtype"):
        nn.BatchNorm1d(3)(mg.tensor(randn(4, 3)))


def test_batchnorm_float32_matches_torch():
    m_mod, t_mod = nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
    x = randn(8, 3, 4, 4).astype(np.float32)
    for _ in range(3):
        mo = m_mod(mg.tensor(x))
        to = t_mod(torch.tensor(x))
        np.testing.assert_allclose(mo.data, to.detach().numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(m_mod.running_var.data, t_mod.running_var.numpy(), rtol=1e-5)
    assert m_mod.running_var.dtype == mg.float32


def test_embedding_layer():
    t_mod = torch.nn.Embedding(10, 4, padding_idx=3).double()
    m_mod = nn.Embedding(10, 4, padding_idx=3).double()
    assert np.all(m_mod.weight.data[3] == 0)
    idx = rng.integers(0, 10, (2, 7))
    idx[0, 0] = 3
    check_layer(m_mod, t_mod, idx, int_input=True)
    assert np.all(m_mod.weight.grad.data[3] == 0)
    assert repr(nn.Embedding(5, 2)) == repr(torch.nn.Embedding(5, 2))
    assert nn.Embedding(5, 2, padding_idx=-1).padding_idx == 4
    pre = nn.Embedding.from_pretrained(mg.tensor(randn(3, 2)))
    assert not pre.weight.requires_grad


def test_dropout_module_train_and_eval():
    d = nn.Dropout(0.25)
    x = mg.ones(400, 250, requires_grad=True)
    y = d(x)
    frac = float((y.data == 0).mean())
    assert abs(frac - 0.25) < 0.01
    np.testing.assert_allclose(np.unique(y.data[y.data != 0]), [1 / 0.75], rtol=1e-6)
    (y * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data, 2 * y.data)  # gradient uses the same mask
    d.eval()
    assert d(x) is x
    y2 = nn.Dropout(0.25)(x)
    assert not np.array_equal(y2.data, y.data)  # a fresh mask each call


def test_dropout_reproducible_with_manual_seed():
    x = mg.ones(10, 10)
    mg.manual_seed(5)
    a = nn.Dropout()(x)
    mg.manual_seed(5)
    b = nn.Dropout()(x)
    np.testing.assert_array_equal(a.data, b.data)


def test_inplace_activation_modules():
    x = mg.tensor(randn(3, 4))
    y = x * 1.0
    out = nn.ReLU(inplace=True)(y)
    assert out is y and np.all(y.data >= 0)
    assert repr(nn.ReLU(inplace=True)) == repr(torch.nn.ReLU(inplace=True))
    assert repr(nn.LeakyReLU(0.1, True)) == repr(torch.nn.LeakyReLU(0.1, True))


# --------------------------------------------------------------------------- errors


def test_linear_wrong_last_dim_error():
    layer = nn.Linear(784, 128)
    msg = r"Linear\(in_features=784.*\(64, 28, 28\).*flatten.*nn\.Flatten\(\)"
    with pytest.raises(RuntimeError, match=msg):
        layer(mg.randn(64, 28, 28))
    with pytest.raises(RuntimeError, match=r"\(\*, 784\).*\(64, 100\)"):
        layer(mg.randn(64, 100))


def test_conv2d_nhwc_error():
    conv = nn.Conv2d(1, 32, 3)
    with pytest.raises(RuntimeError, match=r"Conv2d\(1, 32.*\(64, 28, 28, 1\).*NCHW.*permute\(0, 3, 1, 2\)"):
        conv(mg.randn(64, 28, 28, 1))
    with pytest.raises(RuntimeError, match=r"4-D input"):
        conv(mg.randn(28, 28))


def test_conv2d_constructor_errors():
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(1, 2, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(NotImplementedError, match="zeros"):
        nn.Conv2d(1, 2, 3, padding_mode="reflect")


# --------------------------------------------------------------------------- default init


def _uniform_bound_ok(values, bound):
    # Max of n uniform draws sits within bound*(1 - 10/n) of the bound almost surely.
    v = values.reshape(-1)
    assert np.all(np.abs(v) <= bound * (1 + 1e-6))
    assert np.abs(v).max() > bound * (1 - 10 / v.size)
    assert abs(v.mean()) < 4 * bound / math.sqrt(3 * v.size)
    assert abs(v.std() - bound / math.sqrt(3)) < 0.02 * bound


def test_default_init_linear_conv_distributions():
    lin = nn.Linear(400, 300)
    _uniform_bound_ok(lin.weight.data, 1 / math.sqrt(400))
    assert lin.weight.dtype == mg.float32 and lin.weight.requires_grad
    conv = nn.Conv2d(16, 512, 3, groups=2)
    fan_in = 8 * 9
    _uniform_bound_ok(conv.weight.data, 1 / math.sqrt(fan_in))
    _uniform_bound_ok(nn.Linear(50, 20000).bias.data, 1 / math.sqrt(50))
    _uniform_bound_ok(nn.Conv2d(4, 20000, 2).bias.data, 1 / math.sqrt(16))
    # torch draws from the same distribution
    tw = torch.nn.Linear(400, 300).weight.detach().numpy()
    _uniform_bound_ok(tw, 1 / math.sqrt(400))


def test_default_init_embedding_batchnorm():
    w = nn.Embedding(1000, 64).weight.data
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1) < 0.01
    bn = nn.BatchNorm2d(7)
    np.testing.assert_array_equal(bn.weight.data, np.ones(7))
    np.testing.assert_array_equal(bn.bias.data, np.zeros(7))
    np.testing.assert_array_equal(bn.running_var.data, np.ones(7))
    assert bn.num_batches_tracked.dtype == mg.int64 and bn.num_batches_tracked.shape == ()


def test_init_reproducible_with_manual_seed():
    mg.manual_seed(123)
    a = nn.Sequential(nn.Linear(10, 5), nn.Conv2d(1, 2, 3), nn.Embedding(4, 3))
    mg.manual_seed(123)
    b = nn.Sequential(nn.Linear(10, 5), nn.Conv2d(1, 2, 3), nn.Embedding(4, 3))
    for (_, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items()):
        np.testing.assert_array_equal(p.data, q.data)
    c = nn.Linear(10, 5)
    assert not np.array_equal(a[0].weight.data, c.weight.data)


def test_init_functions():
    w = mg.empty(300, 200)
    init.xavier_uniform_(w, gain=init.calculate_gain("tanh"))
    _uniform_bound_ok(w.data, 5 / 3 * math.sqrt(6 / 500))
    init.xavier_normal_(w)
    assert abs(w.data.std() - math.sqrt(2 / 500)) < 0.02 * math.sqrt(2 / 500)
    init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert abs(w.data.std() - math.sqrt(2 / 300)) < 0.02 * math.sqrt(2 / 300)
    init.kaiming_uniform_(w, nonlinearity="relu")
    _uniform_bound_ok(w.data, math.sqrt(2) * math.sqrt(3 / 200))
    init.normal_(w, 2.0, 0.5)
    assert abs(w.data.mean() - 2) < 0.01 and abs(w.data.std() - 0.5) < 0.01
    init.uniform_(w, -3, -1)
    assert w.data.min() >= -3 and w.data.max() < -1
    init.trunc_normal_(w, std=1.0, a=-0.5, b=0.5)
    assert np.abs(w.data).max() <= 0.5
    assert init.constant_(w, 0.25) is w and np.all(w.data == 0.25)
    init.zeros_(w)
    assert np.all(w.data == 0)
    init.ones_(w)
    assert np.all(w.data == 1)
    for nl, p in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                  ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None)]:
        assert init.calculate_gain(nl, p) == pytest.approx(torch.nn.init.calculate_gain(nl, p))
    for shape in [(3, 4), (5, 2, 3, 3), (2, 3, 4)]:
        assert init._calculate_fan_in_and_fan_out(mg.empty(*shape)) == \
            torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(mg.empty(5))
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")


def test_init_does_not_record_graph():
    p = nn.Parameter(mg.zeros(3, 3))
    init.normal_(p)
    assert p.grad_fn is None and p.requires_grad and p.is_leaf


def test_factory_dtype_kwarg():
    assert nn.Linear(3, 2, dtype=mg.float64).weight.dtype == mg.float64
    assert nn.Conv2d(1, 2, 3, dtype=mg.float64).bias.dtype == mg.float64
    assert nn.BatchNorm1d(3, dtype=mg.float64).running_mean.dtype == mg.float64
    with pytest.raises(RuntimeError, match="CPU"):
        nn.Linear(3, 2, device="cuda")
