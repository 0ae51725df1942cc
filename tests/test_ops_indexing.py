"""Indexing, joining and padding vs torch in float64: values and gradients.

torch has no negative slice steps; those cases compare with the equivalent ``flip``.
"""

import numpy as np
import pytest

import minigrad as mg
from minigrad.ops import pad as mg_pad
from minigrad.testing import compare_with_torch

torch = pytest.importorskip("torch")
pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

F = torch.nn.functional


def rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


MASK = np.array(
    [
        [True, False, True, True, False],
        [False, False, True, False, True],
        [True, True, False, False, False],
        [False, True, True, True, True],
    ]
)
IDX = np.array([2, 0, 2, 3])

# name, mg fn, torch fn; x has shape (4, 5) (viewed as (4, 5) of a (4, 5) or transposed store)
GETITEM = [
    ("int", lambda x: x[1], None),
    ("neg_int", lambda x: x[-1], None),
    ("two_ints", lambda x: x[1, 2], None),
    ("int_col", lambda x: x[:, -2], None),
    ("slice", lambda x: x[1:3], None),
    ("slice_step", lambda x: x[::2, 1::3], None),
    ("slice_neg_bounds", lambda x: x[-3:-1, :-2], None),
    ("slice_empty", lambda x: x[3:1], None),
    ("slice_past_end", lambda x: x[2:10], None),
    ("neg_step", lambda x: x[::-1], lambda x: x.flip(0)),
    ("neg_step_2", lambda x: x[:, ::-2], lambda x: x.flip(1)[:, ::2]),
    ("neg_step_range", lambda x: x[3:0:-1, 4:1:-2], lambda x: x.flip(0)[0:3].flip(1)[:, 0:3:2]),
    ("none", lambda x: x[None], None),
    ("none_mid", lambda x: x[:, None, 1:3], None),
    ("ellipsis", lambda x: x[..., 1], None),
    ("ellipsis_none", lambda x: x[..., None], None),
    ("ellipsis_first", lambda x: x[1, ...], None),
    ("list", lambda x: x[[0, 2, 2]], None),
    ("list_repeated_col", lambda x: x[:, [4, 0, 4, 4]], None),
    ("np_array", lambda x: x[IDX], lambda x: x[torch.from_numpy(IDX)]),
    ("tensor_index", lambda x: x[mg.tensor(IDX)], lambda x: x[torch.from_numpy(IDX)]),
    ("negative_index_array", lambda x: x[[-1, 0, -1]], None),
    ("two_arrays", lambda x: x[[0, 1, 3, 0], [1, 2, 4, 1]], None),
    ("array_and_slice", lambda x: x[[3, 1, 3], 1:4], None),
    ("array_2d", lambda x: x[np.array([[0, 1], [1, 1]])], lambda x: x[torch.tensor([[0, 1], [1, 1]])]),
    ("mask", lambda x: x[MASK], lambda x: x[torch.from_numpy(MASK)]),
    ("mask_tensor", lambda x: x[mg.tensor(MASK)], lambda x: x[torch.from_numpy(MASK)]),
    ("mask_from_compare", lambda x: x[x > 0.2], lambda x: x[x > 0.2]),
    (
        "row_mask",
        lambda x: x[np.array([True, False, True, True])],
        lambda x: x[torch.tensor([True, False, True, True])],
    ),
    (
        "mask_then_slice",
        lambda x: x[np.array([True, False, True, True]), 1:],
        lambda x: x[torch.tensor([True, False, True, True]), 1:],
    ),
    ("int_tensor_0d", lambda x: x[mg.tensor(2)], lambda x: x[torch.tensor(2)]),
    ("chained", lambda x: x[1:][:, ::2][0], None),
    # a nested list is one integer-array index (NumPy's reading; torch's old tuple reading is deprecated)
    ("list_of_lists", lambda x: x[[[0, 1], [2, 2]]], lambda x: x[torch.tensor([[0, 1], [2, 2]])]),
    ("adv_separated", lambda x: x[[0, 2], 1:4:2][:, [1, 0]], None),
]


@pytest.mark.parametrize("kind", ["contig", "T"])
@pytest.mark.parametrize("name,mg_fn,th_fn", GETITEM, ids=[c[0] for c in GETITEM])
def test_getitem(name, mg_fn, th_fn, kind):
    x = rand((4, 5))
    if kind == "T":
        data, v = np.ascontiguousarray(x.T), (lambda t: t.T)
    else:
        data, v = x, (lambda t: t)
    th_fn = th_fn or mg_fn
    compare_with_torch(lambda t: mg_fn(v(t)) * 1.0, lambda t: th_fn(v(t)) * 1.0, data)


def test_getitem_3d_and_0d():
    x = rand((2, 3, 4))
    for fn in [
        lambda t: t[[0, 1], :, [1, 3]],  # advanced indices split by a slice: their dim goes first
        lambda t: t[:, [0, 2], [1, 3]],
        lambda t: t[t[:, :, 0] > 0],
        lambda t: t[1, :, 2],
        lambda t: t[..., 1:3, None],
        lambda t: t[:, [0, 2]][..., [1, 1]],
        lambda t: t[0][1][2],
        lambda t: t[:, 1][[1, 0, 1]],
    ]:
        compare_with_torch(fn, fn, x)
    compare_with_torch(lambda t: t[None] * 1, lambda t: t[None] * 1, np.array(2.5))
    compare_with_torch(lambda t: t[...] * 1, lambda t: t[...] * 1, np.array(2.5))


def test_getitem_errors_name_the_shape():
    x = mg.zeros(2, 3)
    with pytest.raises(IndexError, match=r"\(2, 3\)"):
        x[5]
    with pytest.raises(IndexError, match="long, int, byte or bool"):
        x[mg.tensor([0.0])]


# --------------------------------------------------------------------------- setitem


SETITEM = [
    ("int_row", lambda y, v: y.__setitem__(1, v[0])),
    ("slice_block", lambda y, v: y.__setitem__((slice(0, 2), slice(1, 3)), v[:2, :2])),
    ("broadcast_row", lambda y, v: y.__setitem__(slice(1, 3), v[0])),
    ("scalar", lambda y, v: y.__setitem__((0, 0), 5.0)),
    ("index_array", lambda y, v: y.__setitem__([0, 2], v[:2])),
    ("mask_scalar", lambda y, v: y.__setitem__(MASK, 0.5)),
    ("ellipsis", lambda y, v: y.__setitem__(Ellipsis, v[1])),
    ("mask_values", lambda y, v: y.__setitem__(MASK, v[MASK])),
    ("column_tensor_index", lambda y, v: y.__setitem__((slice(None), IDX[:2]), v[:, :2])),
]


@pytest.mark.parametrize("name,assign", SETITEM, ids=[c[0] for c in SETITEM])
def test_setitem(name, assign):
    def run(x, v):
        y = x * 2.0  # non-leaf
        assign(y, v)
        return y * y

    def run_th(x, v):
        y = x * 2.0
        mask, idx = torch.from_numpy(MASK), torch.from_numpy(IDX[:2])
        if name == "mask_scalar":
            y[mask] = 0.5
        elif name == "mask_values":
            y[mask] = v[mask]
        elif name == "column_tensor_index":
            y[:, idx] = v[:, :2]
        else:
            assign(y, v)
        return y * y

    compare_with_torch(run, run_th, rand((4, 5)), rand((4, 5), seed=1))


def test_setitem_leaf_under_no_grad_and_data_tensor():
    x = mg.zeros(3, 4)
    x[1] = mg.ones(4)
    x[:, 0] = 2.0
    x[x > 1.5] = 7.0
    ref = torch.zeros(3, 4)
    ref[1] = torch.ones(4)
    ref[:, 0] = 2.0
    ref[ref > 1.5] = 7.0
    np.testing.assert_array_equal(x.numpy(), ref.numpy())
    w = mg.zeros(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        w[0] = 1.0
    with mg.no_grad():
        w[0] = 1.0
    assert w.tolist() == [1.0, 0.0]


# --------------------------------------------------------------------------- cat / stack / split / chunk


@pytest.mark.parametrize(
    "shapes,dim",
    [
        (((2, 3), (4, 3)), 0),
        (((2, 3), (2, 1), (2, 5)), 1),
        (((2, 3), (2, 4)), -1),
        (((3,), (1,), (5,)), 0),
        (((2, 3, 4), (2, 1, 4)), -2),
    ],
    ids=str,
)
def test_cat(shapes, dim):
    arrays = [rand(s, seed=i) for i, s in enumerate(shapes)]
    mod = {"mg": mg, "th": torch}
    compare_with_torch(lambda *xs: mg.cat(list(xs), dim), lambda *xs: torch.cat(list(xs), dim), *arrays)
    compare_with_torch(lambda *xs: mg.cat(xs, dim=dim) * 2, lambda *xs: torch.cat(xs, dim=dim) * 2, *arrays)
    assert mod


def test_cat_of_views_and_reused_input():
    fn = lambda a, b: (mg if isinstance(a, mg.Tensor) else torch).cat([a.T, b, a.T[:1]], 0)  # noqa: E731
    compare_with_torch(fn, fn, rand((3, 2)), rand((4, 3)))


def test_cat_skips_empty_1d_and_promotes():
    a = mg.tensor([1.0, 2.0])
    out = mg.cat([mg.zeros(0), a, mg.tensor([3.0])])
    assert out.tolist() == [1.0, 2.0, 3.0]
    mixed = mg.cat([mg.tensor([1, 2]), mg.tensor([0.5])])
    ref = torch.cat([torch.tensor([1, 2]), torch.tensor([0.5])])
    assert mixed.dtype == mg.float32 and str(ref.dtype) == "torch.float32"
    np.testing.assert_array_equal(mixed.numpy(), ref.numpy())


def test_cat_shape_error():
    with pytest.raises(RuntimeError, match="Sizes of tensors must match except in dimension 0"):
        mg.cat([mg.zeros(2, 3), mg.zeros(2, 4)])


@pytest.mark.parametrize(
    "shape,dim", [((3,), 0), ((3,), -1), ((2, 3), 1), ((2, 3), 2), ((2, 3), -1), ((), 0)], ids=str
)
def test_stack(shape, dim):
    arrays = [rand(shape, seed=i) for i in range(3)]
    compare_with_torch(lambda *xs: mg.stack(xs, dim), lambda *xs: torch.stack(xs, dim), *arrays)
    compare_with_torch(lambda a: mg.stack([a, a * 2], dim), lambda a: torch.stack([a, a * 2], dim), arrays[0])


def test_stack_shape_error():
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        mg.stack([mg.zeros(2), mg.zeros(3)])


SPLITS = [
    ("split2", (7, 3), lambda x: x.split(2)),
    ("split3_dim1", (4, 7), lambda x: x.split(3, dim=1)),
    ("split_sizes", (7, 3), lambda x: x.split([1, 4, 2])),
    ("split_sizes_dim", (3, 6), lambda x: x.split([2, 0, 4], -1)),
    ("split_big", (3, 2), lambda x: x.split(5)),
    ("split_fn", (6, 2), lambda x: (mg if isinstance(x, mg.Tensor) else torch).split(x, 4)),
    ("chunk3", (7, 3), lambda x: x.chunk(3)),
    ("chunk4_dim1", (2, 6), lambda x: x.chunk(4, 1)),
    ("chunk_more_than_size", (3, 2), lambda x: x.chunk(5)),
    ("chunk_even", (6,), lambda x: x.chunk(2)),
    ("chunk_fn", (5, 2), lambda x: (mg if isinstance(x, mg.Tensor) else torch).chunk(x, 2, 0)),
]


@pytest.mark.parametrize("name,shape,fn", SPLITS, ids=[c[0] for c in SPLITS])
def test_split_chunk(name, shape, fn):
    compare_with_torch(fn, fn, rand(shape))
    # only some pieces used: the rest get zero gradient
    compare_with_torch(lambda x: fn(x)[0] * 3, lambda x: fn(x)[0] * 3, rand(shape))


def test_split_error():
    with pytest.raises(RuntimeError, match="sum exactly to 5"):
        mg.zeros(5).split([2, 2])


# --------------------------------------------------------------------------- pad


PADS = [
    ((3, 4), (1, 2), 0.0),
    ((3, 4), (1, 2, 0, 3), 1.5),
    ((2, 3, 4), (2, 0, 1, 1, 1, 0), -1.0),
    ((2, 3, 4), (0, 0, 2, 2), 0.0),
    ((3, 5), (-1, 2), 0.0),  # negative pads crop
    ((3, 5), (-2, -1, 1, -1), 0.25),
    ((1, 2, 3, 3), (1, 1, 1, 1), 0.0),
]


@pytest.mark.parametrize("shape,pad,value", PADS, ids=str)
def test_pad(shape, pad, value):
    compare_with_torch(
        lambda x: mg_pad(x, pad, value=value), lambda x: F.pad(x, pad, value=value), rand(shape)
    )
    # a non-contiguous input: stored with the dims reversed, padded through a permuted view
    rev = tuple(range(len(shape) - 1, -1, -1))
    stored = np.ascontiguousarray(rand(shape).transpose(rev))
    compare_with_torch(lambda x: mg_pad(x.permute(rev), pad), lambda x: F.pad(x.permute(rev), pad), stored)


@pytest.mark.parametrize("shape,pad,value", PADS[:3], ids=str)
def test_nn_functional_pad(shape, pad, value):
    nnf = pytest.importorskip("minigrad.nn.functional")
    if not hasattr(nnf, "pad"):
        pytest.skip("minigrad.nn.functional.pad not available")
    compare_with_torch(
        lambda x: nnf.pad(x, pad, value=value), lambda x: F.pad(x, pad, value=value), rand(shape)
    )


def test_pad_errors():
    with pytest.raises(RuntimeError, match="even"):
        mg_pad(mg.zeros(3), (1,))
    with pytest.raises(NotImplementedError, match="reflect"):
        mg_pad(mg.zeros(3), (1, 1), mode="reflect")


# --------------------------------------------------------------------------- basic-index fuzz


@st.composite
def _basic_index(draw):
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    items = []
    for n in shape:
        kind = draw(st.sampled_from(["slice", "int", "none", "all"]))
        if kind == "int":
            items.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            bound = st.one_of(st.none(), st.integers(-n - 2, n + 2))
            step = draw(st.sampled_from([None, 1, 2, 3, -1, -2]))
            items.append(slice(draw(bound), draw(bound), step))
        elif kind == "none":
            items.extend([None, slice(None)])
        else:
            items.append(slice(None))
    if draw(st.booleans()):
        items = items[:-1] + [Ellipsis]
    return shape, tuple(items)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(case=_basic_index())
def test_basic_index_fuzz(case):
    """Values are NumPy's; the gradient scatters the cotangent back to exactly those places."""
    shape, index = case
    data = rand(shape)
    x = mg.tensor(data, requires_grad=True)
    out = x[index]
    np.testing.assert_array_equal(out.detach().numpy(), data[index])
    c = np.random.default_rng(0).standard_normal(out.shape)
    (out * mg.tensor(c)).sum().backward()
    want = np.zeros(shape)
    want[index] = c
    np.testing.assert_array_equal(x.grad.numpy(), want)
