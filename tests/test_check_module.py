"""minigrad.testing.check_module: passes for correct modules of every kind, fails naming
the parameter whose gradient is wrong."""

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.autograd import Function
from minigrad.testing import Report, check_module

torch = pytest.importorskip("torch")
tnn = torch.nn


def _rng():
    return np.random.default_rng(0)


def _names(report: Report) -> list[str]:
    return [item.name for item in report.items]


def _bad(report: Report) -> list[str]:
    return [item.name for item in report.items if not item.ok]


# --------------------------------------------------------------------------- correct modules


def test_linear_passes_and_reports_every_gradient_by_name():
    report = check_module(nn.Linear(5, 3), tnn.Linear(5, 3), _rng().standard_normal((4, 5)))
    assert report.ok and bool(report)
    assert _names(report) == ["output", "input.grad", "weight.grad", "bias.grad"]
    text = str(report)
    assert text.splitlines()[0].startswith("check_module Linear (train), torch_to_minigrad")
    assert "weight.grad  (3, 5)" in text
    assert all(item.max_abs <= 1e-12 for item in report.items)


def test_weights_are_copied_in_the_requested_direction():
    mg_lin, th_lin = nn.Linear(4, 2), tnn.Linear(4, 2)
    x = _rng().standard_normal((3, 4))
    check_module(mg_lin, th_lin, x)
    np.testing.assert_array_equal(mg_lin.weight.detach().numpy(), th_lin.weight.detach().numpy())
    assert mg_lin.weight.dtype == mg.float64 and th_lin.weight.dtype == torch.float64

    mg_lin, th_lin = nn.Linear(4, 2), tnn.Linear(4, 2)
    mine = mg_lin.weight.detach().numpy().astype(np.float64)
    check_module(mg_lin, th_lin, x, direction="minigrad_to_torch")
    np.testing.assert_array_equal(th_lin.weight.detach().numpy(), mine)
    # Both modules keep the compared gradients.
    np.testing.assert_allclose(mg_lin.weight.grad.numpy(), th_lin.weight.grad.numpy(), rtol=1e-12)


def test_conv2d_with_stride_padding_groups():
    mg_conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)
    th_conv = tnn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)
    report = check_module(mg_conv, th_conv, _rng().standard_normal((2, 4, 7, 9)))
    assert _names(report) == ["output", "input.grad", "weight.grad", "bias.grad"]


def _mlp(lib):
    return lib.Sequential(lib.Linear(6, 16), lib.ReLU(), lib.Linear(16, 16), lib.Tanh(), lib.Linear(16, 4))


def test_sequential_mlp_with_cotangent_and_with_loss():
    x = _rng().standard_normal((8, 6))
    report = check_module(_mlp(nn), _mlp(tnn), x)
    assert [n for n in _names(report) if n.endswith(".grad")] == [
        "input.grad", "0.weight.grad", "0.bias.grad", "2.weight.grad", "2.bias.grad",
        "4.weight.grad", "4.bias.grad",
    ]
    target = np.array([0, 1, 2, 3, 3, 2, 1, 0])
    report = check_module(_mlp(nn), _mlp(tnn), x, target=target)  # cross-entropy by default
    assert "loss (cross_entropy)" in _names(report)
    report = check_module(_mlp(nn), _mlp(tnn), x, target=_rng().standard_normal((8, 4)), loss="mse_loss")
    assert "loss (mse_loss)" in _names(report)


def _cnn(lib):
    return lib.Sequential(
        lib.Conv2d(1, 4, 3, padding=1), lib.BatchNorm2d(4), lib.ReLU(), lib.MaxPool2d(2),
        lib.Conv2d(4, 8, 3), lib.ReLU(), lib.AvgPool2d(2), lib.Flatten(), lib.Linear(8, 10),
    )


def test_cnn_with_batchnorm_in_train_and_eval_mode():
    x = _rng().standard_normal((3, 1, 10, 10))
    report = check_module(_cnn(nn), _cnn(tnn), x, target=np.array([1, 5, 9]))
    names = _names(report)
    assert "1.running_mean" in names and "1.running_var" in names  # buffers after forward
    assert "4.weight.grad" in names and "8.bias.grad" in names
    mg_m, th_m = _cnn(nn).eval(), _cnn(tnn).eval()
    report = check_module(mg_m, th_m, x)
    assert "(eval)" in str(report).splitlines()[0]


def test_batchnorm1d_float32():
    report = check_module(
        nn.BatchNorm1d(5), tnn.BatchNorm1d(5), _rng().standard_normal((6, 5)), dtype=np.float32,
        atol=1e-5, rtol=1e-4,
    )
    assert report.ok and "weight.grad" in _names(report)


def test_several_inputs_and_integer_inputs():
    class Bilinear(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, a, b):
            return self.fc(a) * b

    class TBilinear(tnn.Module):
        def __init__(self):
            super().__init__()
            self.fc = tnn.Linear(3, 3)

        def forward(self, a, b):
            return self.fc(a) * b

    rng = _rng()
    report = check_module(Bilinear(), TBilinear(), (rng.standard_normal((2, 3)), rng.standard_normal((2, 3))))
    assert {"input[0].grad", "input[1].grad", "fc.weight.grad"} <= set(_names(report))

    report = check_module(nn.Embedding(7, 3), tnn.Embedding(7, 3), np.array([[1, 2], [6, 1]]))
    assert _names(report) == ["output", "weight.grad"]  # no gradient for the indices


# --------------------------------------------------------------------------- planted bugs


class _BadWeightGrad(Function):
    """out = x @ w^T + b, with a backward whose weight gradient is wrong in row 1."""

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return x @ w.T + b

    @staticmethod
    def backward(ctx, grad_output):
        x, w = ctx.saved_tensors
        gw = grad_output.T @ x
        gw[1] *= 1.01  # the planted bug
        return grad_output @ w, gw, grad_output.sum(0)


class _BuggyLinear(nn.Linear):
    def forward(self, x):
        return _BadWeightGrad.apply(x, self.weight, self.bias)


def _bug_models():
    mg_m = nn.Sequential(nn.Linear(5, 8), nn.ReLU())
    mg_m.add_module("head", _BuggyLinear(8, 3))
    th_m = tnn.Sequential(tnn.Linear(5, 8), tnn.ReLU())
    th_m.add_module("head", tnn.Linear(8, 3))
    return mg_m, th_m


def test_custom_function_bug_inside_a_module_names_the_parameter():
    mg_m, th_m = _bug_models()
    x = _rng().standard_normal((4, 5))
    with pytest.raises(AssertionError) as info:
        check_module(mg_m, th_m, x)
    msg = str(info.value)
    assert "minigrad and torch differ" in msg
    bad_line = next(line for line in msg.splitlines() if "MISMATCH" in line)
    assert bad_line.startswith("head.weight.grad")
    assert "worst at (1, " in bad_line  # the planted row

    report = check_module(*_bug_models(), x, raise_on_mismatch=False)
    assert not report.ok
    assert _bad(report) == ["head.weight.grad"]  # output, input and every other grad agree
    item = next(i for i in report.items if i.name == "head.weight.grad")
    assert 0.009 < item.max_rel < 0.0101


def test_unused_parameter_is_named():
    class ForgetsBias(nn.Linear):
        def forward(self, x):  # the bias is registered and loaded, but never used
            return x @ self.weight.T

    lin = tnn.Linear(4, 3)
    with torch.no_grad():
        lin.bias.zero_()  # same outputs, so only the missing gradient can tell
    report = check_module(ForgetsBias(4, 3), lin, _rng().standard_normal((2, 4)), raise_on_mismatch=False)
    assert _bad(report) == ["bias.grad"]
    assert "minigrad grad is None" in str(report)


def test_wrong_forward_is_caught_at_the_output():
    class Doubled(nn.Linear):
        def forward(self, x):
            return super().forward(x) * 2

    report = check_module(Doubled(3, 2), tnn.Linear(3, 2), _rng().standard_normal((2, 3)),
                          raise_on_mismatch=False)
    assert "output" in _bad(report) and "weight.grad" in _bad(report)


def test_mismatched_structure_is_a_clear_error():
    with pytest.raises(ValueError, match=r"only in minigrad \[\].*only in torch \['bias'\]"):
        check_module(nn.Linear(3, 2, bias=False), tnn.Linear(3, 2), np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"weight has shape \(2, 3\) in minigrad but \(2, 4\)"):
        check_module(nn.Linear(3, 2), tnn.Linear(4, 2), np.ones((1, 3)))
    with pytest.raises(ValueError, match="direction"):
        check_module(nn.Linear(3, 2), tnn.Linear(3, 2), np.ones((1, 3)), direction="sideways")
    with pytest.raises(ValueError, match="loss="):
        check_module(nn.Linear(3, 2), tnn.Linear(3, 2), np.ones((1, 3)), target=np.zeros(1, int), loss="nope")


def test_compare_with_torch_table_is_unchanged():
    # check_module and compare_with_torch share one table; compare_with_torch keeps its title.
    from minigrad.testing import compare_with_torch

    report = compare_with_torch(lambda a: a.relu(), lambda a: a.relu(), np.array([1.0, -2.0, 3.0]))
    assert str(report).splitlines()[0] == "compare_with_torch (atol=1e-09, rtol=1e-07)"
