"""Looking inside backward: ``backward(trace=True)`` / ``trace_backward`` and ``detect_anomaly``."""

import io
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad import autograd

# --------------------------------------------------------------------------- trace


def three_op_graph():
    x = mg.tensor([[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]], requires_grad=True)  # (2, 3)
    w = mg.tensor([0.5, -1.0, 2.0], requires_grad=True)  # (3,): broadcast in the product
    loss = (x * w).relu().sum()
    return x, w, loss


THREE_OP_TRACE = [
    "[1] SumBackward: grad_output () -> (2, 3), None, None",
    "[2] ReluBackward: grad_output (2, 3) -> (2, 3)",
    "[3] MulBackward: grad_output (2, 3) -> (2, 3), (2, 3) summed to (3,)",
    "[4] AccumulateGrad: grad (2, 3) -> .grad of a leaf (2, 3) float32",
    "[5] AccumulateGrad: grad (3,) -> .grad of a leaf (3,) float32",
]


def test_backward_trace_prints_each_node_in_order(capsys):
    x, w, loss = three_op_graph()
    loss.backward(trace=True)
    assert capsys.readouterr().out.splitlines() == THREE_OP_TRACE
    # the traced backward is a real backward
    mask = (x.detach().numpy() * w.detach().numpy()) > 0
    np.testing.assert_array_equal(x.grad.numpy(), np.where(mask, w.detach().numpy(), 0))
    np.testing.assert_array_equal(w.grad.numpy(), np.where(mask, x.detach().numpy(), 0).sum(0))


def test_trace_backward_writes_to_a_file_and_nothing_to_stdout(capsys):
    _, _, loss = three_op_graph()
    buf = io.StringIO()
    autograd.trace_backward(loss, file=buf)
    assert buf.getvalue().splitlines() == THREE_OP_TRACE
    assert capsys.readouterr().out == ""


def test_trace_backward_defaults_to_stdout(capsys):
    _, _, loss = three_op_graph()
    autograd.trace_backward(loss)
    assert capsys.readouterr().out.splitlines() == THREE_OP_TRACE


def test_plain_backward_prints_nothing(capsys):
    _, _, loss = three_op_graph()
    loss.backward()
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_trace_shows_none_for_inputs_without_gradient():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    c = mg.tensor([4.0, 5.0, 6.0])  # needs no grad: Mul skips it
    buf = io.StringIO()
    (x * c).backward(mg.ones(3), trace=buf)
    assert buf.getvalue().splitlines() == [
        "[1] MulBackward: grad_output (3,) -> (3,), None",
        "[2] AccumulateGrad: grad (3,) -> .grad of a leaf (3,) float32",
    ]


def test_trace_of_a_diamond_runs_each_node_once_after_its_consumers():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    loss = (h.sin() * h.cos()).sum()
    buf = io.StringIO()
    autograd.trace_backward(loss, file=buf)
    names = [line.split(" ")[1].rstrip(":") for line in buf.getvalue().splitlines()]
    assert names[0] == "SumBackward" and names[1] == "MulBackward"
    assert sorted(names[2:4]) == ["CosBackward", "SinBackward"]
    assert names[4:] == ["ExpBackward", "AccumulateGrad"]


# --------------------------------------------------------------------------- anomaly mode


def test_anomaly_forward_nan_names_op_and_line():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError) as info:
        with autograd.detect_anomaly():
            mg.log(x - x)  # log(0) = -inf
    msg = str(info.value)
    assert "Function 'Log' returned inf values in its forward output" in msg
    assert f"{__file__}:" in msg and "mg.log(x - x)" in msg
    assert not autograd.is_anomaly_enabled()


def test_anomaly_backward_inf_names_node_and_creation_line():
    x = mg.tensor([0.0, 4.0], requires_grad=True)
    with autograd.detect_anomaly():
        root = mg.sqrt(x)  # d sqrt / dx at 0 is inf
        loss = root.sum()
        with pytest.raises(RuntimeError) as info:
            loss.backward()
    msg = str(info.value)
    assert "Function 'SqrtBackward' returned inf values in its 0th output" in msg
    assert f"{__file__}:" in msg and "root = mg.sqrt(x)" in msg
    assert x.grad is None


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_anomaly_backward_nan():
    x = mg.tensor([0.0, 1.0], requires_grad=True)
    with autograd.detect_anomaly():
        y = mg.sqrt(x)
        loss = (y * 0).sum()  # SqrtBackward computes 0 / (2 * 0) = nan
        with pytest.raises(RuntimeError, match="Function 'SqrtBackward' returned nan values"):
            loss.backward()


def test_without_anomaly_mode_nothing_is_checked():
    x = mg.tensor([0.0, 4.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no NumPy warnings leak out either
        y = mg.log(x)
        mg.sqrt(x).sum().backward()
    assert np.isinf(y.detach().numpy()[0]) and np.isinf(x.grad.numpy()[0])


def test_anomaly_in_backward_for_a_graph_built_outside_says_so():
    x = mg.tensor([0.0, 4.0], requires_grad=True)
    loss = mg.sqrt(x).sum()
    with autograd.detect_anomaly():
        with pytest.raises(RuntimeError, match="created outside detect_anomaly"):
            loss.backward()


def test_anomaly_attaches_creation_site_to_other_backward_errors():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with autograd.detect_anomaly():
        h = x * 1
        loss = (h * h).sum()
        with mg.no_grad():
            h.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation") as info:
            loss.backward()
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "MulBackward" in notes and "loss = (h * h).sum()" in notes and f"{__file__}" in notes


def test_anomaly_check_nan_false_only_records_sites():
    x = mg.tensor([0.0, 4.0], requires_grad=True)
    with autograd.detect_anomaly(check_nan=False):
        mg.log(x)
        mg.sqrt(x).sum().backward()
    assert np.isinf(x.grad.numpy()[0])


def test_set_detect_anomaly_as_call_and_context_manager():
    assert not autograd.is_anomaly_enabled()
    with autograd.set_detect_anomaly(True):
        assert autograd.is_anomaly_enabled()
    assert not autograd.is_anomaly_enabled()
    autograd.set_detect_anomaly(True)
    try:
        with pytest.raises(RuntimeError, match="Function 'Log'"):
            mg.log(mg.zeros(2))
    finally:
        autograd.set_detect_anomaly(False)
    assert not autograd.is_anomaly_enabled()
    mg.log(mg.zeros(2))
