"""Module API: registration, traversal order, state_dict round trips, modes, hooks, repr."""

import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.bn = nn.BatchNorm1d(3)
        self.scale = nn.Parameter(mg.ones(1))
        self.register_buffer("step", mg.zeros(1))
        self.register_buffer("cache", mg.zeros(2), persistent=False)
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(3, 2))
        self.plain = mg.zeros(5)  # a plain tensor attribute is not registered

    def forward(self, x):
        return self.head(self.bn(self.fc1(x))) * self.scale


KEYS = ["scale", "step", "fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "bn.running_mean",
        "bn.running_var", "bn.num_batches_tracked", "head.1.weight", "head.1.bias"]


def test_registration_and_order():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "scale", "fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "head.1.weight", "head.1.bias"]
    assert [n for n, _ in net.named_buffers()] == [
        "step", "cache", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]
    assert [n for n, _ in net.named_children()] == ["fc1", "bn", "head"]
    assert [n for n, _ in net.named_modules()] == ["", "fc1", "bn", "head", "head.0", "head.1"]
    assert len(list(net.parameters())) == 7
    assert len(list(net.parameters(recurse=False))) == 1
    assert list(net.state_dict().keys()) == KEYS
    assert isinstance(net.fc1.weight, nn.Parameter)
    assert "plain" not in dict(net.named_buffers())


def test_unknown_attribute_raises_attribute_error():
    net = Net()
    with pytest.raises(AttributeError, match="'Net' object has no attribute 'fc3'"):
        _ = net.fc3
    assert not hasattr(net, "nothing")
    with pytest.raises(AttributeError, match="no attribute"):
        _ = nn.Linear(2, 2).weights


def test_reassignment_rules():
    net = Net()
    with pytest.raises(TypeError, match="cannot assign.*parameter 'scale'"):
        net.scale = mg.ones(1)  # a plain tensor may not replace a Parameter
    net.scale = None
    assert net.scale is None and "scale" not in dict(net.named_parameters())
    with pytest.raises(TypeError, match="child module 'fc1'"):
        net.fc1 = 3
    net.fc1 = nn.Linear(4, 3, bias=False)
    assert "fc1.bias" not in net.state_dict()
    net.step = mg.ones(1)  # buffers accept tensors
    assert np.all(net.state_dict()["step"].data == 1)
    with pytest.raises(TypeError, match="buffer 'step'"):
        net.step = 5
    del net.fc1
    assert not hasattr(net, "fc1")
    with pytest.raises(KeyError, match="already exists"):
        net.register_buffer("bn", mg.zeros(1))
    with pytest.raises(KeyError, match="contain"):
        net.register_parameter("a.b", nn.Parameter(mg.zeros(1)))


def test_assign_before_init_errors():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(mg.zeros(1))
            super().__init__()

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()


def test_shared_parameters_listed_once():
    lin = nn.Linear(3, 3)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert list(seq.state_dict().keys()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(list(seq.named_parameters(remove_duplicate=False))) == 4


def test_state_dict_round_trip_and_sharing():
    a, b = Net(), Net()
    sd = a.state_dict()
    assert sd["fc1.weight"].data is a.fc1.weight.data  # shares memory, detached
    assert not sd["fc1.weight"].requires_grad
    assert b.load_state_dict(sd).missing_keys == []
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v.data, sd[k].data)
    # numpy arrays are accepted and copied into the existing tensors
    w = b.fc1.weight
    b.load_state_dict({k: v.data.copy() * 0 for k, v in sd.items()})
    assert b.fc1.weight is w and np.all(w.data == 0)
    assert b.bn.num_batches_tracked.dtype == mg.int64


def test_load_state_dict_strict_errors_and_non_strict():
    net = Net()
    sd = net.state_dict()
    del sd["fc1.bias"]
    sd["extra.weight"] = mg.zeros(1)
    with pytest.raises(RuntimeError) as e:
        Net().load_state_dict(sd)
    msg = str(e.value)
    assert "Error(s) in loading state_dict for Net" in msg
    assert 'Missing key(s) in state_dict: "fc1.bias"' in msg
    assert 'Unexpected key(s) in state_dict: "extra.weight"' in msg
    result = Net().load_state_dict(sd, strict=False)
    assert result.missing_keys == ["fc1.bias"]
    assert result.unexpected_keys == ["extra.weight"]
    missing, unexpected = result
    assert missing == ["fc1.bias"]
    assert repr(Net().load_state_dict(Net().state_dict())) == "<All keys matched successfully>"


def test_load_state_dict_shape_mismatch_names_key_and_shapes():
    sd = nn.Linear(5, 3).state_dict()
    with pytest.raises(RuntimeError, match=r"size mismatch for weight.*\(3, 5\).*\(3, 4\)"):
        nn.Linear(4, 3).load_state_dict(sd)
    with pytest.raises(RuntimeError, match=r"size mismatch for weight"):
        nn.Linear(4, 3).load_state_dict(sd, strict=False)  # always an error, as in torch


def test_load_state_dict_casts_to_parameter_dtype():
    lin = nn.Linear(3, 2)
    lin.load_state_dict({"weight": np.ones((2, 3), np.float64), "bias": np.zeros(2, np.float64)})
    assert lin.weight.dtype == mg.float32 and np.all(lin.weight.data == 1)


def test_load_torch_state_dict_duck_typed():
    torch = pytest.importorskip("torch")
    t = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    t.train()
    t(torch.randn(5, 3))
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    m.load_state_dict(t.state_dict())
    assert list(m.state_dict()) == list(t.state_dict())
    for k, v in t.state_dict().items():
        np.testing.assert_array_equal(m.state_dict()[k].data, v.numpy())


def test_train_eval_and_training_flag():
    net = Net()
    assert net.training and net.bn.training
    assert net.eval() is net
    assert not net.training and not net.head[1].training
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError, match="boolean"):
        net.train("no")


def test_zero_grad_requires_grad_and_apply():
    net = Net()
    net(mg.randn(5, 4)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.data == 0) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Linear", "BatchNorm1d", "ReLU", "Linear", "Sequential", "Net"]

    def reinit(m):
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.weight)
    net.apply(reinit)
    assert np.all(net.fc1.weight.data == 0)


def test_to_double_float():
    net = Net().double()
    assert all(p.dtype == mg.float64 for p in net.parameters())
    assert net.bn.running_mean.dtype == mg.float64
    assert net.bn.num_batches_tracked.dtype == mg.int64  # integer buffers are left alone
    assert net.to(mg.float32) is net
    assert net.fc1.weight.dtype == mg.float32
    assert net.to("cpu") is net
    net.to(dtype=mg.float64)
    assert net.head[1].bias.dtype == mg.float64
    with pytest.raises(RuntimeError, match="CPU"):
        net.to("cuda")
    out = net(mg.randn(3, 4, dtype=mg.float64))
    assert out.dtype == mg.float64


def test_forward_hooks_and_handles():
    lin = nn.Linear(2, 2)
    calls = []

    def pre(mod, args):
        calls.append("pre")
        return (args[0] * 0,)

    def post(mod, args, out):
        calls.append("post")
        return out + 1

    h1 = lin.register_forward_pre_hook(pre)
    h2 = lin.register_forward_hook(post)
    out = lin(mg.ones(1, 2))
    np.testing.assert_allclose(out.data, lin.bias.data[None] + 1, rtol=1e-6)
    assert calls == ["pre", "post"]
    h1.remove()
    h2.remove()
    out = lin(mg.ones(1, 2))
    np.testing.assert_allclose(out.data, (lin.weight.data.sum(1) + lin.bias.data)[None], rtol=1e-6)
    with lin.register_forward_hook(lambda m, a, o: o * 0):
        assert np.all(lin(mg.ones(1, 2)).data == 0)
    assert np.any(lin(mg.ones(1, 2)).data != 0)
    order = []
    lin.register_forward_hook(lambda m, a, o: order.append(1))
    lin.register_forward_hook(lambda m, a, o: order.append(0), prepend=True)
    lin(mg.ones(1, 2))
    assert order == [0, 1]


def test_forward_hook_with_kwargs():
    class Scale(nn.Module):
        def forward(self, x, factor=1.0):
            return x * factor

    m = Scale()
    m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"factor": 3.0}), with_kwargs=True)
    seen = {}
    m.register_forward_hook(lambda mod, args, kwargs, out: seen.update(kwargs), with_kwargs=True)
    assert m(mg.ones(2)).data.tolist() == [3.0, 3.0]
    assert seen == {"factor": 3.0}


def test_missing_forward():
    with pytest.raises(NotImplementedError, match=r'Module \[ModuleList\] is missing the required "forward"'):
        nn.ModuleList([nn.ReLU()])(mg.ones(1))


def test_parameter_basics():
    p = nn.Parameter(mg.tensor([1.0, 2.0]))
    assert p.requires_grad and p.is_leaf and isinstance(p, mg.Tensor)
    assert repr(p) == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"
    q = nn.Parameter(mg.zeros(2), requires_grad=False)
    assert not q.requires_grad
    t = mg.zeros(3)
    assert nn.Parameter(t).data is t.data  # shares memory
    y = p * 2  # ops on parameters give plain tensors
    assert type(y) is mg.Tensor
    with pytest.raises(RuntimeError, match="floating"):
        nn.Parameter(mg.tensor([1, 2]))


def test_parameter_repr_matches_torch():
    torch = pytest.importorskip("torch")
    assert repr(nn.Parameter(mg.tensor([[1.5, 2.0], [3.0, 4.0]]))) == \
        repr(torch.nn.Parameter(torch.tensor([[1.5, 2.0], [3.0, 4.0]])))


def test_deepcopy_and_pickle():
    net = Net()
    net(mg.randn(4, 4)).sum().backward()
    clone = copy.deepcopy(net)
    assert isinstance(clone.fc1.weight, nn.Parameter)
    assert clone.fc1.weight.data is not net.fc1.weight.data
    np.testing.assert_array_equal(clone.fc1.weight.data, net.fc1.weight.data)
    loaded = pickle.loads(pickle.dumps(net))
    assert list(loaded.state_dict()) == KEYS
    assert isinstance(loaded.fc1.weight, nn.Parameter) and loaded.fc1.weight.requires_grad
    np.testing.assert_array_equal(loaded(mg.ones(2, 4)).data, net(mg.ones(2, 4)).data)


# --------------------------------------------------------------------------- containers


def test_sequential():
    seq = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    assert len(seq) == 3
    assert isinstance(seq[0], nn.Linear) and isinstance(seq[-1], nn.Linear)
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and len(sub) == 2
    assert list(sub.state_dict()) == ["2.weight", "2.bias"]  # slicing keeps the names, as torch
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]
    seq.append(nn.Softmax(dim=1))
    assert list(seq._modules) == ["0", "1", "2", "3"]
    out = seq(mg.randn(5, 4))
    np.testing.assert_allclose(out.data.sum(1), 1, rtol=1e-5)
    del seq[1]
    assert list(seq._modules) == ["0", "1", "2"]
    with pytest.raises(IndexError, match="out of range"):
        seq[5]
    named = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 2, 3)), ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["conv.weight", "conv.bias"]
    assert named.conv is named[0]


def test_module_list_and_dict():
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    ml.append(nn.ReLU())
    assert len(ml) == 4 and isinstance(ml[1:], nn.ModuleList)
    assert list(ml.state_dict())[:2] == ["0.weight", "0.bias"]
    ml.insert(0, nn.Tanh())
    assert isinstance(ml[0], nn.Tanh) and isinstance(ml[4], nn.ReLU)
    ml.extend([nn.Sigmoid()])
    assert len(ml) == 6

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
            self.heads = nn.ModuleDict({"a": nn.Linear(2, 1), "b": nn.Identity()})

    h = Holder()
    assert list(h.state_dict()) == ["layers.0.weight", "layers.0.bias", "layers.1.weight",
                                    "layers.1.bias", "heads.a.weight", "heads.a.bias"]
    assert list(h.heads.keys()) == ["a", "b"] and "a" in h.heads and len(h.heads) == 2
    h.heads["c"] = nn.ReLU()
    assert list(h.heads) == ["a", "b", "c"]
    assert isinstance(h.heads.pop("c"), nn.ReLU)


def test_repr_matches_torch():
    torch = pytest.importorskip("torch")

    def build(nn):
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.features = nn.Sequential(
                    nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Conv2d(32, 64, kernel_size=(3, 5), stride=2, padding="same" if False else 1,
                              bias=False, groups=2, dilation=2),
                    nn.BatchNorm2d(64), nn.AvgPool2d(2), nn.Dropout(0.25))
                self.blocks = nn.ModuleList([nn.Linear(8, 8) for _ in range(3)] + [nn.GELU()])
                self.heads = nn.ModuleDict({"cls": nn.Linear(784, 10), "emb": nn.Embedding(5, 2)})
                self.misc = nn.Sequential(nn.Flatten(), nn.Unflatten(1, (2, 4)), nn.LeakyReLU(),
                                          nn.Softmax(dim=1), nn.LogSoftmax(dim=-1), nn.Tanh(),
                                          nn.Sigmoid(), nn.Identity(), nn.BatchNorm1d(3),
                                          nn.Conv2d(3, 3, 3, padding="same"),
                                          nn.CrossEntropyLoss(), nn.MSELoss(), nn.NLLLoss(),
                                          nn.L1Loss(), nn.BCELoss(), nn.BCEWithLogitsLoss())
        return Net()

    assert repr(build(nn)) == repr(build(torch.nn))
    assert repr(nn.Linear(784, 128)) == "Linear(in_features=784, out_features=128, bias=True)"
    assert repr(nn.Sequential()) == repr(torch.nn.Sequential())
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList())


def test_loss_modules_weight_buffers_in_state_dict():
    torch = pytest.importorskip("torch")
    w = np.array([1.0, 2.0, 0.5])
    m = nn.CrossEntropyLoss(weight=mg.tensor(w))
    t = torch.nn.CrossEntropyLoss(weight=torch.tensor(w))
    assert list(m.state_dict()) == list(t.state_dict()) == ["weight"]
    m2 = nn.BCEWithLogitsLoss(pos_weight=mg.ones(3))
    t2 = torch.nn.BCEWithLogitsLoss(pos_weight=torch.ones(3))
    assert list(m2.state_dict()) == list(t2.state_dict())
    assert nn.MSELoss(size_average=False).reduction == "sum"
    assert nn.L1Loss(reduce=False).reduction == "none"
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        nn.MSELoss(reduction="avg")


def test_loss_modules_match_functional():
    x = mg.randn(6, 4)
    t = mg.tensor(np.array([0, 1, 2, 3, 0, 1]))
    w = mg.tensor([1.0, 2.0, 3.0, 4.0])
    assert nn.CrossEntropyLoss(weight=w, label_smoothing=0.1)(x, t).item() == \
        F.cross_entropy(x, t, weight=w, label_smoothing=0.1).item()
    lp = F.log_softmax(x, 1)
    assert nn.NLLLoss(ignore_index=0)(lp, t).item() == F.nll_loss(lp, t, ignore_index=0).item()
    y = mg.rand(6, 4)
    assert nn.MSELoss(reduction="sum")(x, y).item() == F.mse_loss(x, y, reduction="sum").item()
    assert nn.L1Loss()(x, y).item() == F.l1_loss(x, y).item()
    p = mg.rand(6, 4) * 0.9 + 0.05
    assert nn.BCELoss()(p, y).item() == F.binary_cross_entropy(p, y).item()
    assert nn.BCEWithLogitsLoss(pos_weight=w)(x, y).item() == \
        F.binary_cross_entropy_with_logits(x, y, pos_weight=w).item()


# --------------------------------------------------------------------------- nn.utils


def test_clip_grad_norm_matches_torch():
    torch = pytest.importorskip("torch")
    grads = [np.random.randn(3, 4), np.random.randn(5), np.random.randn(2, 2, 2)]
    for norm_type, max_norm in [(2.0, 0.5), (1.0, 2.0), (float("inf"), 0.3), (2.0, 1e6)]:
        mp = [nn.Parameter(mg.zeros(*g.shape, dtype=mg.float64)) for g in grads]
        tp = [torch.nn.Parameter(torch.zeros(*g.shape, dtype=torch.float64)) for g in grads]
        for p, q, g in zip(mp, tp, grads):
            p.grad = mg.tensor(g)
            q.grad = torch.tensor(g)
        total = nn.utils.clip_grad_norm_(mp, max_norm, norm_type)
        ttotal = torch.nn.utils.clip_grad_norm_(tp, max_norm, norm_type)
        assert total.item() == pytest.approx(ttotal.item(), rel=1e-12)
        for p, q in zip(mp, tp):
            np.testing.assert_allclose(p.grad.data, q.grad.numpy(), rtol=1e-12)
    p = nn.Parameter(mg.zeros(2))
    p.grad = mg.tensor([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    assert nn.utils.clip_grad_norm_([nn.Parameter(mg.zeros(2))], 1.0).item() == 0.0


def test_clip_grad_value_and_vector_helpers():
    p = nn.Parameter(mg.zeros(4))
    p.grad = mg.tensor([-3.0, -0.5, 0.5, 3.0])
    nn.utils.clip_grad_value_(p, 1.0)
    assert p.grad.data.tolist() == [-1.0, -0.5, 0.5, 1.0]
    lin = nn.Linear(3, 2)
    vec = nn.utils.parameters_to_vector(lin.parameters())
    assert vec.shape == (8,)
    np.testing.assert_array_equal(vec.data[:6], lin.weight.data.reshape(-1))
    vec.sum().backward()
    assert np.all(lin.weight.grad.data == 1)  # differentiable, like torch
    nn.utils.vector_to_parameters(mg.arange(8, dtype=mg.float32), lin.parameters())
    assert lin.bias.data.tolist() == [6.0, 7.0]


# --------------------------------------------------------------------------- finite differences
# The nn ops' gradients checked without torch (torch parity lives in test_nn_functional.py).


def _x(*shape, low=None, high=None):
    r = np.random.default_rng(3)
    a = r.standard_normal(shape) if low is None else r.uniform(low, high, shape)
    return mg.tensor(a, dtype=mg.float64, requires_grad=True)


@pytest.mark.parametrize("kw", [dict(), dict(label_smoothing=0.2, reduction="sum"),
                                dict(weight=[1.0, 2.0, 0.5], ignore_index=1, reduction="none")])
def test_gradcheck_cross_entropy(kw):
    from minigrad.testing import gradcheck

    kw = dict(kw)
    if "weight" in kw:
        kw["weight"] = mg.tensor(kw["weight"], dtype=mg.float64)
    t = mg.tensor(np.array([0, 2, 1, 1, 0]))
    assert gradcheck(lambda a: F.cross_entropy(a, t, **kw), _x(5, 3))
    if "ignore_index" not in kw:  # class-probability targets: gradients to logits and target
        assert gradcheck(lambda a, p: F.cross_entropy(a, p.softmax(1), **kw), (_x(5, 3), _x(5, 3)))


def test_gradcheck_binary_losses_batch_norm_embedding():
    from minigrad.testing import gradcheck

    assert gradcheck(lambda p, t: F.binary_cross_entropy(p, t), (_x(4, 3, low=0.1, high=0.9),
                                                                _x(4, 3, low=0, high=1)))
    pw = mg.tensor([0.5, 2.0, 3.0], dtype=mg.float64)
    assert gradcheck(lambda a, t: F.binary_cross_entropy_with_logits(a, t, pos_weight=pw),
                     (_x(4, 3), _x(4, 3, low=0, high=1)))
    assert gradcheck(lambda a, w, b: F.batch_norm(a, None, None, w, b, training=True),
                     (_x(5, 3, 2), _x(3), _x(3)))
    rm, rv = mg.zeros(3, dtype=mg.float64), mg.ones(3, dtype=mg.float64)
    assert gradcheck(lambda a, w: F.batch_norm(a, rm, rv, w, None, training=False), (_x(4, 3), _x(3)))
    idx = mg.tensor(np.array([[0, 2, 2], [4, 0, 1]]))
    assert gradcheck(lambda w: F.embedding(idx, w), _x(5, 2))  # padding_idx rows get no grad by design
