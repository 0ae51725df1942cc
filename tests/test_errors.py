"""Errors that help: every shape or dtype mistake names the op (or layer) and the shapes, and
says what to do where the mistake is a common one. NumPy's errors never leak out."""

import re

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn
from minigrad.ops.conv import conv2d as op_conv2d
from minigrad.ops.pool import avg_pool2d as op_avg_pool2d
from minigrad.ops.pool import max_pool2d as op_max_pool2d


def _raises(exc, *fragments):
    """pytest.raises that also checks every fragment appears (literally, in any order) in the
    message."""
    return pytest.raises(exc, match="(?s)^" + "".join(f"(?=.*{re.escape(f)})" for f in fragments))


# --------------------------------------------------------------------------- layers


def test_linear_given_images_suggests_flatten():
    layer = nn.Linear(784, 128)
    with _raises(RuntimeError, "784", "(64, 28, 28)", "flatten"):
        layer(mg.randn(64, 28, 28))


def test_linear_wrong_feature_count_names_both_sizes():
    with _raises(RuntimeError, "784", "(64, 100)"):
        nn.Linear(784, 128)(mg.randn(64, 100))
    with _raises(RuntimeError, "linear", "(8, 5)", "(3, 4)"):
        F.linear(mg.randn(8, 5), mg.randn(3, 4))


def test_conv2d_layer_given_nhwc_says_nchw():
    layer = nn.Conv2d(1, 32, 3)
    with _raises(RuntimeError, "Conv2d(1, 32", "(64, 28, 28, 1)", "NCHW", "permute(0, 3, 1, 2)"):
        layer(mg.randn(64, 28, 28, 1))
    with _raises(RuntimeError, "(28, 28, 1)", "NCHW", "permute(2, 0, 1)"):
        layer(mg.randn(28, 28, 1))


def test_conv2d_functional_given_nhwc_says_nchw():
    w = mg.randn(32, 3, 3, 3)
    with _raises(RuntimeError, "conv2d", "(32, 3, 3, 3)", "(8, 28, 28, 3)", "NCHW"):
        F.conv2d(mg.randn(8, 28, 28, 3), w)


# --------------------------------------------------------------------------- matmul


@pytest.mark.parametrize(
    "a,b",
    [((3, 4), (5, 6)), ((4,), (5,)), ((2, 3, 4), (5, 2)), ((7,), (3, 2)), ((3, 4), (3,))],
)
def test_matmul_inner_dim_mismatch_names_both_shapes(a, b):
    x, y = mg.randn(*a), mg.randn(*b)
    with _raises(RuntimeError, "matmul", str(a), str(b)):
        x @ y
    with _raises(RuntimeError, "matmul", str(a), str(b)):
        mg.matmul(x, y)


def test_matmul_batch_mismatch_and_scalars():
    with _raises(RuntimeError, "matmul", "(2, 3, 4)", "(5, 4, 2)", "broadcast"):
        mg.randn(2, 3, 4) @ mg.randn(5, 4, 2)
    with _raises(RuntimeError, "matmul", "()"):
        mg.matmul(mg.tensor(2.0), mg.randn(3))


# --------------------------------------------------------------------------- broadcasting


_BINARY = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": lambda a, b: a ** b,
    "maximum": mg.maximum,
    "minimum": mg.minimum,
    "where": lambda a, b: mg.where(mg.ones(a.shape, dtype=mg.bool), a, b),
}


@pytest.mark.parametrize("op", list(_BINARY))
@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize("a,b,dim", [((3, 4), (3,), 1), ((3, 4), (2, 4), 0), ((2, 1, 5), (4, 6), 2)])
def test_broadcast_failure_is_a_runtime_error_naming_op_and_shapes(op, requires_grad, a, b, dim):
    x = mg.rand(*a, requires_grad=requires_grad) + 0.5
    y = mg.rand(*b) + 0.5
    with pytest.raises(RuntimeError) as info:
        _BINARY[op](x, y)
    msg = str(info.value)
    assert str(a) in msg and str(b) in msg, msg
    assert "broadcast" in msg and f"dimension {dim}" in msg, msg
    assert "operands could not be broadcast" not in msg  # NumPy's wording, wrapped
    assert not isinstance(info.value, ValueError)


def test_broadcast_failure_names_the_op():
    with _raises(RuntimeError, "Add", "(3, 4)", "(5,)"):
        mg.randn(3, 4) + mg.randn(5)
    with _raises(RuntimeError, "Mul", "(3, 4)", "(5,)"):
        mg.randn(3, 4) * np.ones(5)  # an ndarray operand too
    with _raises(RuntimeError, "Mul", "(5,)", "(3, 4)"):
        np.ones(5) * mg.randn(3, 4)  # reflected operator: operands in the user's order


def test_broadcast_failure_of_comparisons_and_in_place_ops():
    x = mg.randn(3, 4)
    for fn in (lambda: x == mg.randn(5), lambda: x < mg.randn(5)):
        with _raises(RuntimeError, "(3, 4)", "(5,)"):
            fn()
    with _raises(RuntimeError, "(3, 4)", "(5,)"):
        x += mg.randn(5)
    with _raises(RuntimeError, "(3, 4)", "(2, 4)"):
        x.mul_(mg.randn(2, 4))
    with _raises(RuntimeError, "add_", "(3, 4)", "(1, 4)"):
        mg.randn(1, 4).add_(mg.randn(3, 4))  # broadcasts, but not into the destination's shape


def test_non_broadcast_value_errors_are_untouched():
    # The wrapper converts only broadcasting failures; other errors keep their type.
    with pytest.raises(ValueError, match="conv2d"):
        F.conv2d(mg.randn(1, 1, 5, 5), mg.randn(1, 1, 3, 3), stride=0)


# --------------------------------------------------------------------------- losses


def test_cross_entropy_float_labels_say_long():
    with _raises(TypeError, "cross_entropy", "float", "(4,)", "(4, 10)", "long()"):
        F.cross_entropy(mg.randn(4, 10), mg.tensor([1.0, 2.0, 3.0, 4.0]))


@pytest.mark.parametrize("bad", [10, 11, -1])
def test_cross_entropy_out_of_range_class_names_index_and_range(bad):
    with _raises(IndexError, "cross_entropy", str(bad), "10 classes", "0..9"):
        F.cross_entropy(mg.randn(4, 10, requires_grad=True), mg.tensor([1, 2, 3, bad]))
    with _raises(IndexError, str(bad)):
        nn.CrossEntropyLoss()(mg.randn(4, 10), mg.tensor([bad, 2, 3, 1]))


def test_cross_entropy_target_length_mismatch():
    with _raises(ValueError, "cross_entropy", "(4, 10)", "(3,)"):
        F.cross_entropy(mg.randn(4, 10), mg.tensor([1, 2, 3]))


def test_elementwise_losses_refuse_to_broadcast():
    with _raises(ValueError, "mse_loss", "(4, 2)", "(4, 3)"):
        F.mse_loss(mg.randn(4, 3), mg.randn(4, 2))
    with _raises(ValueError, "binary_cross_entropy_with_logits", "(5,)", "(4,)"):
        F.binary_cross_entropy_with_logits(mg.randn(4), mg.rand(5))


# --------------------------------------------------------------------------- shapes and autograd


def test_reshape_and_view_to_incompatible_size():
    x = mg.randn(3, 4)
    with _raises(RuntimeError, "reshape", "[5, 3]", "12", "(3, 4)"):
        x.reshape(5, 3)
    with _raises(RuntimeError, "view", "[5, -1]", "12"):
        x.view(5, -1)
    with pytest.raises(RuntimeError, match="reshape"):
        x.reshape(-1, -1)


def test_backward_on_tensor_without_grad():
    with _raises(RuntimeError, "does not require grad"):
        mg.randn(3, 4).sum().backward()
    x = mg.randn(3, requires_grad=True)
    with mg.no_grad():
        y = (x * 2).sum()
    with _raises(RuntimeError, "does not require grad", "no_grad"):
        y.backward()


def test_backward_on_non_scalar_says_pass_gradient():
    x = mg.randn(3, requires_grad=True)
    with _raises(RuntimeError, "(3,)", "gradient"):
        (x * 2).backward()
    with _raises(RuntimeError, "(2,)", "(3,)"):
        (x * 2).backward(mg.ones(2))


@pytest.mark.parametrize("dtype", [mg.int64, mg.int32, mg.bool])
def test_requires_grad_on_int_tensor(dtype):
    with _raises(RuntimeError, "floating point", dtype.name, ".float()"):
        mg.tensor([1, 0, 1], dtype=dtype, requires_grad=True)
    t = mg.tensor([1, 0, 1], dtype=dtype)
    with _raises(RuntimeError, "floating point"):
        t.requires_grad_()
    with _raises(RuntimeError, "floating point"):
        t.requires_grad = True
    assert not t.requires_grad


# --------------------------------------------------------------------------- conv2d parameters


def _x(*shape):
    return mg.randn(*shape, dtype=mg.float64)


@pytest.mark.parametrize("conv", [F.conv2d, op_conv2d], ids=["F", "ops"])
@pytest.mark.parametrize(
    "x_shape,w_shape,kwargs,fragments",
    [
        ((1, 1, 3, 3), (1, 1, 5, 5), {}, ["conv2d", "(1, 1, 5, 5)", "(1, 1, 3, 3)", "padded input"]),
        ((1, 1, 3, 3), (1, 1, 3, 3), {"dilation": 2}, ["conv2d", "(1, 1, 3, 3)", "padded input"]),
        ((1, 1, 5, 5), (1, 1, 3, 3), {"stride": 0}, ["conv2d", "stride", "0"]),
        ((1, 1, 5, 5), (1, 1, 3, 3), {"stride": (1, -2)}, ["conv2d", "stride", "-2"]),
        ((1, 1, 5, 5), (1, 1, 3, 3), {"padding": -1}, ["conv2d", "padding", "-1"]),
        ((1, 1, 5, 5), (1, 1, 3, 3), {"padding": "full"}, ["conv2d", "padding", "full"]),
        ((1, 1, 5, 5), (1, 1, 3, 3), {"padding": (1, 2, 3)}, ["conv2d", "padding"]),
        ((1, 1, 5, 5), (1, 1, 3, 3), {"padding": 1.5}, ["conv2d", "padding", "1.5"]),
        ((1, 1, 5, 5), (1, 1, 3, 3), {"stride": 2, "padding": "same"}, ["conv2d", "same", "stride"]),
        ((1, 1, 5, 5), (1, 1, 3, 3), {"dilation": 0}, ["conv2d", "dilation", "0"]),
        ((1, 4, 5, 5), (4, 2, 3, 3), {"groups": 0}, ["conv2d", "groups", "0"]),
        ((1, 4, 5, 5), (3, 2, 3, 3), {"groups": 2}, ["conv2d", "(3, 2, 3, 3)", "divisible"]),
        ((1, 1, 5, 5), (2, 1, 3), {}, ["conv2d", "(2, 1, 3)"]),
        ((5, 5), (2, 1, 3, 3), {}, ["conv2d", "(5, 5)"]),
    ],
)
def test_conv2d_invalid_parameters_raise_value_error(conv, x_shape, w_shape, kwargs, fragments):
    with _raises(ValueError, *fragments):
        conv(_x(*x_shape), _x(*w_shape), **kwargs)


def test_conv2d_wrong_channel_count():
    # The op layer raises ValueError; nn.functional and the layer raise torch's RuntimeError.
    with _raises(ValueError, "conv2d", "(1, 2, 5, 5)", "(4, 3, 3, 3)", "3 channel", "NCHW"):
        op_conv2d(_x(1, 2, 5, 5), _x(4, 3, 3, 3))
    with _raises(RuntimeError, "conv2d", "(4, 3, 3, 3)", "(1, 2, 5, 5)", "2 channels"):
        F.conv2d(_x(1, 2, 5, 5), _x(4, 3, 3, 3))
    with _raises(RuntimeError, "expects input with 3 channels", "(1, 2, 5, 5)"):
        nn.Conv2d(3, 4, 3)(mg.randn(1, 2, 5, 5))


def test_conv2d_dtype_mismatch_names_dtypes():
    with _raises(TypeError, "conv2d", "float32", "float64"):
        F.conv2d(mg.randn(1, 1, 5, 5), _x(1, 1, 3, 3))
    with _raises(TypeError, "conv2d", "int64"):
        F.conv2d(mg.ones(1, 1, 5, 5, dtype=mg.int64), mg.ones(1, 1, 3, 3, dtype=mg.int64))


# --------------------------------------------------------------------------- pooling parameters


_POOLS = {
    "F.max_pool2d": F.max_pool2d,
    "F.avg_pool2d": F.avg_pool2d,
    "ops.max_pool2d": op_max_pool2d,
    "ops.avg_pool2d": op_avg_pool2d,
}


@pytest.mark.parametrize("pool", list(_POOLS))
@pytest.mark.parametrize(
    "x_shape,args,kwargs,fragments",
    [
        ((1, 1, 3, 3), (5,), {}, ["kernel is larger than the padded input", "(1, 1, 3, 3)"]),
        ((1, 1, 5, 5), (2,), {"stride": 0}, ["stride must be positive", "(1, 1, 5, 5)"]),
        ((1, 1, 5, 5), (2,), {"stride": (1, -1)}, ["stride must be positive"]),
        ((1, 1, 5, 5), (0,), {}, ["kernel_size must be positive", "(1, 1, 5, 5)"]),
        ((1, 1, 5, 5), (2,), {"padding": 2}, ["padding should be at most half", "(1, 1, 5, 5)"]),
        ((1, 1, 5, 5), (2,), {"padding": -1}, ["padding must be non-negative"]),
        ((1, 1, 5, 5), ((2, 2, 2),), {}, ["kernel_size must be an int or a pair"]),
        ((1, 1, 5, 5), (2.0,), {}, ["kernel_size must be an int or a pair"]),
        ((5, 5), (2,), {}, ["3-D (C, H, W) or 4-D (N, C, H, W)", "(5, 5)"]),
        ((1, 1, 0, 5), (1,), {}, ["(1, 1, 0, 5)"]),
    ],
)
def test_pool_invalid_parameters_raise_value_error(pool, x_shape, args, kwargs, fragments):
    name = pool.split(".")[1]
    with _raises(ValueError, name, *fragments):
        _POOLS[pool](_x(*x_shape), *args, **kwargs)


def test_max_pool_dilated_window_only_padding():
    with _raises(ValueError, "max_pool2d", "dilated window holds no input element"):
        F.max_pool2d(_x(1, 1, 3, 3), 2, stride=1, padding=1, dilation=4)


def test_pool_layers_name_shapes():
    with _raises(ValueError, "max_pool2d", "(5, 5)"):
        nn.MaxPool2d(2)(mg.randn(5, 5))
    with _raises(ValueError, "avg_pool2d", "divisor_override"):
        F.avg_pool2d(mg.randn(1, 1, 4, 4), 2, divisor_override=0)
