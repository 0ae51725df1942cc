"""Python face of the compiled kernels in ``csrc/``: same names and signatures as
``reference.py``. The wrappers make inputs C-contiguous and allocate outputs; the
extension loops see plain buffers."""

from __future__ import annotations

import ctypes
import sys
import threading

import numpy as np

from . import _blas, _conv, _elementwise, _pool, reference

__all__ = ["relu_forward", "relu_backward", "build_info"]

_FLOATS = (np.float32, np.float64)


def build_info() -> dict:
    return {
        "openmp": _elementwise.openmp_available(),
        "omp_threads": _elementwise.get_num_threads(),
        "pool_simd": _pool.simd(),  # instruction set of the 2x2 max-pooling loops
        "gemm_blas": "numpy" if _blas.ilp64_gemm_in_use() else "scipy",  # whose sgemm/dgemm
    }


def _buffer(a: np.ndarray, dtype: np.dtype | None = None) -> np.ndarray:
    """``a`` as a C-contiguous array the typed memoryviews accept (they need writable buffers,
    and broadcast views or arrays made from scalars are read-only)."""
    b = np.ascontiguousarray(a, dtype=dtype).reshape(a.shape)  # (keeps 0-d arrays 0-d)
    return b if b.flags.writeable else b.copy()


def relu_forward(x: np.ndarray) -> np.ndarray:
    if x.dtype.type not in _FLOATS:
        return reference.relu_forward(x)
    x = np.asarray(x, order="C")  # the kernels take read-only buffers: no copy of a contiguous x
    out = np.empty(x.shape, x.dtype)
    _elementwise.relu_forward_into(x, out)
    return out


def relu_backward(grad_output: np.ndarray, out: np.ndarray) -> np.ndarray:
    if out.dtype.type not in _FLOATS:
        return reference.relu_backward(grad_output, out)
    if grad_output.shape != out.shape:
        grad_output = np.broadcast_to(grad_output, out.shape)
    g = np.asarray(grad_output, dtype=out.dtype, order="C")  # copies only broadcast/strided input
    out = np.asarray(out, order="C")
    gx = np.empty(out.shape, out.dtype)
    _elementwise.relu_backward_into(g, out, gx)
    return gx


def set_num_threads(n: int) -> None:
    _elementwise.set_num_threads(n)


# --------------------------------------------------------------------------- pooling
# Semantics, argmax format and validation: see the pooling section of reference.py.

__all__ += [
    "max_pool2d_forward",
    "max_pool2d_backward",
    "avg_pool2d_forward",
    "avg_pool2d_backward",
]


def _pair(v) -> tuple[int, int]:
    return int(v[0]), int(v[1])


def _check_pool_backward(op, grad_output, input_shape, kernel, stride, padding, dilation):
    """The backward loops trust the output size: it must be what the forward produced."""
    N, C, H, W = input_shape
    sizes = [
        {reference.pool2d_output_size(n, k, s, p, d, cm) for cm in (False, True)}
        for n, k, s, p, d in zip((H, W), kernel, stride, padding, dilation)
    ]
    go = grad_output.shape
    if len(go) != 4 or go[:2] != (N, C) or go[2] not in sizes[0] or go[3] not in sizes[1]:
        raise ValueError(
            f"{op}: grad_output shape {go} does not match input shape {tuple(input_shape)} "
            f"with kernel_size={kernel}, stride={stride}, padding={padding}, dilation={dilation}"
        )


def max_pool2d_forward(
    x: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    ceil_mode: bool,
) -> tuple[np.ndarray, np.ndarray]:
    if x.dtype.type not in _FLOATS:
        return reference.max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode)
    kernel, stride, padding, dilation = map(_pair, (kernel, stride, padding, dilation))
    OH, OW = reference.pool2d_output_shape("max_pool2d", x.shape, kernel, stride, padding, dilation,
                                           ceil_mode)
    N, C, H, W = x.shape
    out = np.empty((N, C, OH, OW), x.dtype)
    adt = reference.max_pool2d_argmax_dtype(kernel)
    argmax = np.empty((N, C, OH, OW), adt)
    if N * C:
        _pool.max_pool2d_forward(
            np.ascontiguousarray(x).reshape(N * C, H, W), out.reshape(N * C, OH, OW),
            argmax.reshape(N * C, OH * OW).view(np.uint8), adt.itemsize > 1,
            kernel, stride, padding, dilation,
        )
    return out, argmax


def max_pool2d_backward(
    grad_output: np.ndarray,
    argmax: np.ndarray,
    input_shape: tuple[int, int, int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
) -> np.ndarray:
    kernel, stride, padding, dilation = map(_pair, (kernel, stride, padding, dilation))
    adt = reference.max_pool2d_argmax_dtype(kernel)
    if grad_output.dtype.type not in _FLOATS or argmax.dtype != adt or argmax.shape != grad_output.shape:
        return reference.max_pool2d_backward(grad_output, argmax, input_shape, kernel, stride, padding,
                                             dilation)
    input_shape = tuple(int(s) for s in input_shape)
    _check_pool_backward("max_pool2d_backward", grad_output, input_shape, kernel, stride, padding,
                         dilation)
    N, C, H, W = input_shape
    OH, OW = grad_output.shape[2:]
    grad_input = np.empty(input_shape, grad_output.dtype)
    if N * C:
        _pool.max_pool2d_backward(
            np.ascontiguousarray(grad_output).reshape(N * C, OH, OW),
            np.ascontiguousarray(argmax).reshape(N * C, OH * OW).view(np.uint8), adt.itemsize > 1,
            grad_input.reshape(N * C, H, W), kernel, stride, padding, dilation,
        )
    return grad_input


def avg_pool2d_forward(
    x: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: int | None,
) -> np.ndarray:
    if x.dtype.type not in _FLOATS:
        return reference.avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad,
                                            divisor_override)
    kernel, stride, padding = map(_pair, (kernel, stride, padding))
    OH, OW = reference.pool2d_output_shape("avg_pool2d", x.shape, kernel, stride, padding, (1, 1),
                                           ceil_mode)
    N, C, H, W = x.shape
    out = np.empty((N, C, OH, OW), x.dtype)
    if N * C:
        _pool.avg_pool2d_forward(
            np.ascontiguousarray(x).reshape(N * C, H, W), out.reshape(N * C, OH, OW),
            kernel, stride, padding, bool(count_include_pad), int(divisor_override or 0),
        )
    return out


def avg_pool2d_backward(
    grad_output: np.ndarray,
    input_shape: tuple[int, int, int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    count_include_pad: bool,
    divisor_override: int | None,
) -> np.ndarray:
    if grad_output.dtype.type not in _FLOATS:
        return reference.avg_pool2d_backward(grad_output, input_shape, kernel, stride, padding,
                                             count_include_pad, divisor_override)
    kernel, stride, padding = map(_pair, (kernel, stride, padding))
    input_shape = tuple(int(s) for s in input_shape)
    _check_pool_backward("avg_pool2d_backward", grad_output, input_shape, kernel, stride, padding,
                         (1, 1))
    N, C, H, W = input_shape
    OH, OW = grad_output.shape[2:]
    grad_input = np.empty(input_shape, grad_output.dtype)
    if N * C:
        _pool.avg_pool2d_backward(
            np.ascontiguousarray(grad_output).reshape(N * C, OH, OW), grad_input.reshape(N * C, H, W),
            kernel, stride, padding, bool(count_include_pad), int(divisor_override or 0),
        )
    return grad_input


# --------------------------------------------------------------------------- matmul, linear, conv2d
# BLAS (scipy.linalg.cython_blas) from nogil code; see csrc/blas_gemm.pxi for the row-major
# trick and the thread split. Operands reach BLAS as (base array, per-batch element offsets,
# transpose flag, leading dimension): transposed and sliced views are not copied.

__all__ += ["matmul", "linear_forward", "linear_backward", "conv2d_forward", "conv2d_backward"]

_INT_MAX = 2**31 - 1


def _blas_operand(x: np.ndarray) -> tuple[np.ndarray, bool, int]:
    """(array, swapped, ld): the last two dims of ``array`` as a row-major matrix with leading
    dimension ``ld`` (swapped: that matrix is x's transpose). Copies only when the layout
    has no unit stride in either of the last two dims (or negative strides)."""
    item = x.itemsize
    if any(s < 0 or s % item for s in x.strides):
        x = np.ascontiguousarray(x)
    r, c = x.shape[-2:]
    sr, sc = x.strides[-2] // item, x.strides[-1] // item
    if (c == 1 or sc == 1) and (r == 1 or sr >= c):
        return x, False, max(sr if r > 1 else c, c, 1)
    if (r == 1 or sr == 1) and (c == 1 or sc >= r):
        return x, True, max(sc if c > 1 else r, r, 1)
    x = np.ascontiguousarray(x)
    return x, False, max(c, 1)


_NO_OFFSET = np.zeros(1, dtype=np.intp)
_NO_OFFSET.flags.writeable = False


def _batch_offsets(x: np.ndarray, batch: tuple[int, ...]) -> np.ndarray:
    """Element offset of each matrix of ``x`` broadcast to the batch shape, flattened."""
    if not batch:
        return _NO_OFFSET
    off = np.zeros(batch, dtype=np.intp)
    lead = len(batch) - (x.ndim - 2)
    for axis, (n, s) in enumerate(zip(x.shape[:-2], x.strides[:-2])):
        if n != 1:
            shape = [1] * len(batch)
            shape[lead + axis] = n
            off += (np.arange(n, dtype=np.intp) * (s // x.itemsize)).reshape(shape)
    return off.reshape(-1)


def _gemm(a, b, transpose_a, transpose_b, out=None, beta=0.0):
    """op(a) @ op(b) (+ beta * out) through BLAS; None when the case is not handled here."""
    if a.ndim == 2 and b.ndim == 2:
        # Fast path (most products): the extension checks dtypes, shapes and layouts itself
        # and declines what it cannot read in place; the general path below handles that.
        if out is None:
            out = np.empty((a.shape[1 if transpose_a else 0], b.shape[0 if transpose_b else 1]),
                           dtype=a.dtype)
        if _blas.gemm2d(a, b, out, transpose_a, transpose_b, beta):
            return out
    if (
        a.ndim < 2
        or b.ndim < 2
        or a.dtype != b.dtype
        or a.dtype.type not in _FLOATS
        or not a.dtype.isnative  # BLAS reads native byte order only
    ):
        return None
    m, k = a.shape[-2:][::-1] if transpose_a else a.shape[-2:]
    k2, n = b.shape[-2:][::-1] if transpose_b else b.shape[-2:]
    if k != k2 or max(m, n, k) > _INT_MAX:
        return None
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    if out is None:
        out = np.empty(batch + (m, n), dtype=a.dtype)
    if out.size == 0:
        return out
    if k == 0:
        if beta == 0:
            out.fill(0)  # BLAS semantics: with beta = 0 the old contents are never read
        else:
            out *= beta
        return out
    a, swap_a, lda = _blas_operand(a)
    b, swap_b, ldb = _blas_operand(b)
    if max(lda, ldb) > _INT_MAX:
        return None
    _blas.gemm_into(
        a, b, out, _batch_offsets(a, batch), _batch_offsets(b, batch),
        transpose_a != swap_a, transpose_b != swap_b, m, n, k, lda, ldb, beta,
    )
    return out


def matmul(
    a: np.ndarray, b: np.ndarray, transpose_a: bool = False, transpose_b: bool = False
) -> np.ndarray:
    out = _gemm(a, b, transpose_a, transpose_b)
    return out if out is not None else reference.matmul(a, b, transpose_a, transpose_b)


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    if b is not None and b.dtype == x.dtype and x.ndim == 2:
        # Bias fused into the product: pre-filled output, beta = 1.
        out = np.empty((x.shape[0], w.shape[0]), dtype=x.dtype)
        out[...] = b
        if _gemm(x, w, False, True, out=out, beta=1.0) is not None:
            return out
    elif b is None:
        out = _gemm(x, w, False, True)
        if out is not None:
            return out
    return reference.linear_forward(x, w, b)


def linear_backward(grad_output, x, w, needs_input_grad, needs_weight_grad, needs_bias_grad):
    gx = matmul(grad_output, w) if needs_input_grad else None
    gw = matmul(grad_output, x, transpose_a=True) if needs_weight_grad else None
    gb = grad_output.sum(axis=0) if needs_bias_grad else None
    return gx, gw, gb


# Scratch buffers reused across calls (a fresh multi-megabyte allocation is paid again in
# page faults every training step). Per thread, keyed by role, shape and dtype.
_scratch_local = threading.local()
_SCRATCH_ENTRIES = 8


def _scratch(role: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    cache = getattr(_scratch_local, "cache", None)
    if cache is None:
        cache = _scratch_local.cache = {}
    key = (role, shape, np.dtype(dtype).str)
    buf = cache.pop(key, None)
    if buf is None:
        buf = np.empty(shape, dtype=dtype)
        if len(cache) >= _SCRATCH_ENTRIES:
            cache.pop(next(iter(cache)))
    cache[key] = buf  # most recently used last
    return buf


# Columns that conv2d_forward returns for the backward are not scratch: the caller keeps
# them until its backward has run. They are still recycled: a pooled buffer is handed out
# again only when nothing but the pool refers to it (its backward has finished and released
# it), which the reference count tells exactly (views of it count as references too).
_column_pool: list[np.ndarray] = []
_COLUMN_POOL_SIZE = 8
_FREE_REFCOUNT = 3  # the pool's list slot, the loop variable, getrefcount's argument


def _pooled_columns(shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
    for buf in _column_pool:
        if buf.shape == shape and buf.dtype == dtype and sys.getrefcount(buf) <= _FREE_REFCOUNT:
            return buf
    buf = np.empty(shape, dtype=dtype)
    _column_pool.append(buf)
    if len(_column_pool) > _COLUMN_POOL_SIZE:
        _column_pool.pop(0)
    return buf


def _conv_geometry(x_shape, w_shape, stride, padding, dilation):
    (kh, kw), (sh, sw), (dh, dw) = w_shape[2:], stride, dilation
    (pt, pb), (pl, pr) = padding
    oh = (x_shape[2] + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (x_shape[3] + pl + pr - dw * (kw - 1) - 1) // sw + 1
    return (int(kh), int(kw), int(sh), int(sw), int(pt), int(pl), int(dh), int(dw), int(oh), int(ow))


def _images_per_task(n: int, plane: int, positions: int = 1024) -> int:
    """Images per task of the blocked conv kernels (about ``positions`` output positions per
    task and at least two tasks per thread), or 0 for one image (the whole-batch kernels
    split it)."""
    if n < 2:
        return 0
    threads = _conv.get_threads()[0]
    return max(1, min(positions // plane, n // (2 * threads)))


def _conv_compiled(x, w, *rest) -> bool:
    return (
        x.dtype.type in _FLOATS
        and x.dtype == w.dtype
        and all(r is None or r.dtype == x.dtype for r in rest)
        and x.size > 0
        and w.size > 0
    )


def _check_conv(op, x, w, b, stride, padding, dilation, groups, grad_output=None, columns=None):
    """The loops index by these shapes unchecked: refuse inconsistent ones (ops/conv.py
    validates user input first; this guards direct calls of the kernels)."""
    (pt, pb), (pl, pr) = padding
    ok = (
        x.ndim == 4 and w.ndim == 4 and groups >= 1 and min(stride) >= 1 and min(dilation) >= 1
        and min(pt, pb, pl, pr) >= 0 and w.shape[0] % groups == 0
        and x.shape[1] == w.shape[1] * groups and (b is None or b.shape == (w.shape[0],))
    )
    if ok:
        oh, ow = _conv_geometry(x.shape, w.shape, stride, padding, dilation)[8:]
        ok = oh >= 1 and ow >= 1
        if ok and grad_output is not None:
            ok = grad_output.shape == (x.shape[0], w.shape[0], oh, ow)
        if ok and columns is not None:
            ok = columns.shape == (x.shape[1] * w.shape[2] * w.shape[3], x.shape[0] * oh * ow)
    if not ok:
        raise ValueError(
            f"{op}: inconsistent arguments: input {x.shape}, weight {w.shape}, "
            f"bias {None if b is None else b.shape}, stride {stride}, padding {padding}, "
            f"dilation {dilation}, groups {groups}"
            + ("" if grad_output is None else f", grad_output {grad_output.shape}")
            + ("" if columns is None else f", columns {columns.shape}")
        )


# Winograd F(2x2, 3x3) (csrc/conv_winograd.h): 3x3 stride-1 convolutions with 2.25x fewer
# multiplications than im2col + GEMM. It pays once the 16 small products per block of tiles
# are big enough; with few channels (a first layer) or few output positions (one small
# image) the im2col kernels stay faster.
_WINOGRAD_MIN_CHANNELS = 16  # both Cin and Cout at least this
_WINOGRAD_MIN_POSITIONS = 1024  # N * OH * OW at least this
_WINOGRAD_SLOTS = 112  # tile slots per task (16 * (Cin + Cout) * slots values stay in L2)


def _use_winograd(x_shape, w_shape, stride, padding, dilation, groups) -> bool:
    """True when conv2d_forward/conv2d_backward take the Winograd path for these arguments:
    a 3x3 kernel, stride 1, dilation 1, one group, padding <= 2 on every side, at least
    ``_WINOGRAD_MIN_CHANNELS`` input and output channels and ``_WINOGRAD_MIN_POSITIONS``
    output positions."""
    (pt, pb), (pl, pr) = padding
    positions = x_shape[0] * (x_shape[2] + pt + pb - 2) * (x_shape[3] + pl + pr - 2)
    return (
        tuple(w_shape[2:]) == (3, 3) and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1)
        and groups == 1 and max(pt, pb, pl, pr) <= 2
        and min(x_shape[1], w_shape[0]) >= _WINOGRAD_MIN_CHANNELS
        and positions >= _WINOGRAD_MIN_POSITIONS
    )


def _winograd_rows(n: int, out_h: int, out_w: int) -> int:
    """Tile rows per task: about ``_WINOGRAD_SLOTS`` slots, fewer to give every thread 4
    tasks when there are enough tile rows, but not below a quarter of that (the products
    get too thin)."""
    tile_rows = n * ((out_h + 1) // 2)
    slots_per_row = (out_w + 1) // 2 + 1
    threads = _conv.get_threads()[0]
    most = max(1, _WINOGRAD_SLOTS // slots_per_row)
    return max(1, min(most, max(-(-tile_rows // (4 * threads)), most // 4)))


def _winograd_scratch(x_shape, w_shape, out_hw, dtype) -> tuple[np.ndarray, int, int]:
    """One per-thread scratch for the forward and both gradients, and the tile rows per task
    of the products over output tiles (forward, weight gradient) and over input tiles
    (input gradient)."""
    (n, cin, h, w), cout = x_shape, w_shape[0]
    rows_out, rows_in = _winograd_rows(n, *out_hw), _winograd_rows(n, h, w)
    size = max(_conv.winograd_workspace(cin, cout, rows_out, out_hw[1]),
               _conv.winograd_workspace(cout, cin, rows_in, w))
    threads = _conv.get_threads()[0]
    return _scratch("winograd", (threads, size), dtype), rows_out, rows_in


# A NaN or infinity in the input spreads to the whole Winograd tiles around it (a direct
# convolution keeps it to the outputs whose windows hold it, as torch does): when a result
# holds a NaN, the Winograd functions return None and the caller takes the im2col path.


def _winograd_forward(x, w, b, padding, oh, ow):
    """(N, Cout, OH, OW) output, or None if it holds a NaN."""
    (pt, _), (pl, _) = padding
    n, cout = x.shape[0], w.shape[0]
    scratch, rows, _ = _winograd_scratch(x.shape, w.shape, (oh, ow), x.dtype)
    u = np.empty((16, cout, x.shape[1]), dtype=x.dtype)
    _conv.winograd_filter(np.ascontiguousarray(w), u, False)
    out = np.empty((n, cout, oh, ow), dtype=x.dtype)
    if _conv.winograd_forward(np.ascontiguousarray(x), u, b, out, scratch, pt, pl, rows):
        return None
    return out


def _winograd_backward(g, x, w, padding, needs_input_grad, needs_weight_grad, needs_bias_grad):
    """(gx, gw, gb) through Winograd, or None if gx or gw holds a NaN; g is the C-contiguous
    (N, Cout, OH, OW) gradient."""
    (pt, _), (pl, _) = padding
    cin, cout, dtype = x.shape[1], w.shape[0], x.dtype
    scratch, rows_out, rows_in = _winograd_scratch(x.shape, w.shape, g.shape[2:], dtype)
    gx = gw = gb = None
    if needs_weight_grad:
        threads = scratch.shape[0]
        partial = _scratch("winograd_dU", (threads, 16 * cout * cin), dtype)
        partial.fill(0)
        sums = np.zeros((threads, cout), dtype=np.float64) if needs_bias_grad else None
        _conv.winograd_weight_grad(np.ascontiguousarray(x), g, partial, sums, scratch, pt, pl,
                                   rows_out)
        gw = np.empty(w.shape, dtype=dtype)
        _conv.winograd_weight(partial.sum(axis=0).reshape(16, cout, cin), gw)
        if np.isnan(gw).any():
            return None
        if needs_bias_grad:
            gb = sums.sum(axis=0).astype(dtype)
    elif needs_bias_grad:
        gb = g.sum(axis=(0, 2, 3))
    if needs_input_grad:
        # The input gradient is the convolution of g with the filters rotated by 180 degrees
        # (in/out channels swapped) and padding 2 - p.
        u = np.empty((16, cin, cout), dtype=dtype)
        _conv.winograd_filter(np.ascontiguousarray(w), u, True)
        gx = np.empty(x.shape, dtype=dtype)
        if _conv.winograd_forward(g, u, None, gx, scratch, 2 - pt, 2 - pl, rows_in):
            return None
    return gx, gw, gb


def conv2d_forward(x, w, b, stride, padding, dilation, groups, keep_columns=False):
    if not _conv_compiled(x, w, b):
        return reference.conv2d_forward(x, w, b, stride, padding, dilation, groups, keep_columns)
    _check_conv("conv2d_forward", x, w, b, stride, padding, dilation, groups)
    geo = _conv_geometry(x.shape, w.shape, stride, padding, dilation)
    kh, kw, oh, ow = geo[0], geo[1], geo[8], geo[9]
    if _use_winograd(x.shape, w.shape, stride, padding, dilation, groups):
        # No columns to keep: the backward works from x itself.
        bc = None if b is None else np.ascontiguousarray(b)
        out = _winograd_forward(x, w, bc, padding, oh, ow)
        if out is not None:
            return (out, None) if keep_columns else out
    n, c = x.shape[:2]
    cout = w.shape[0]
    rows, ncols = c * kh * kw, n * oh * ow
    x = np.ascontiguousarray(x)
    out = np.empty((n, cout, oh * ow), dtype=x.dtype)
    b = None if b is None else np.ascontiguousarray(b)
    w2 = np.ascontiguousarray(w).reshape(cout, -1)
    nb = _images_per_task(n, oh * ow)
    if not keep_columns and w2.shape[1] > _conv.SMALL_K and nb:
        # Nobody needs the columns: build them block by block in cache (no batch-sized copy).
        nb = _images_per_task(n, oh * ow, 640)
        threads = _conv.get_threads()[0]
        col_scratch = _scratch("col_blocks", (threads, rows * nb * oh * ow), x.dtype)
        out_scratch = _scratch("out_blocks", (threads, cout * nb * oh * ow), x.dtype)
        _conv.forward_fused(x, w2, b, out, col_scratch, out_scratch, groups, *geo, nb)
        return out.reshape(n, cout, oh, ow)
    if keep_columns:
        cols = _pooled_columns((rows, ncols), x.dtype)
    else:
        cols = _scratch("cols", (rows, ncols), x.dtype)
    if w2.shape[1] > _conv.SMALL_K and nb:
        # Each task writes its images' columns where the backward will find them and
        # multiplies them while they are still in cache.
        threads = _conv.get_threads()[0]
        out_scratch = _scratch("out_blocks", (threads, cout * nb * oh * ow), x.dtype)
        _conv.forward_fused(x, w2, b, out, out_scratch, out_scratch, groups, *geo, nb, cols)
    else:
        _conv.im2col(x, cols, *geo)
        _conv.forward(cols, w2, b, out, groups)
    out = out.reshape(n, cout, oh, ow)
    return (out, cols) if keep_columns else out


def conv2d_backward(
    grad_output, x, w, stride, padding, dilation, groups,
    needs_input_grad, needs_weight_grad, needs_bias_grad, columns=None,
):
    if not _conv_compiled(x, w, grad_output, columns):
        return reference.conv2d_backward(
            grad_output, x, w, stride, padding, dilation, groups,
            needs_input_grad, needs_weight_grad, needs_bias_grad, columns,
        )
    _check_conv("conv2d_backward", x, w, None, stride, padding, dilation, groups, grad_output, columns)
    if _use_winograd(x.shape, w.shape, stride, padding, dilation, groups):
        grads = _winograd_backward(
            np.ascontiguousarray(grad_output), x, w, padding,
            needs_input_grad, needs_weight_grad, needs_bias_grad,
        )
        if grads is not None:
            return grads
    geo = _conv_geometry(x.shape, w.shape, stride, padding, dilation)
    kh, kw, oh, ow = geo[0], geo[1], geo[8], geo[9]
    n, c = x.shape[:2]
    cout = w.shape[0]
    rows, ncols = c * kh * kw, n * oh * ow
    dtype = x.dtype
    g = np.ascontiguousarray(grad_output).reshape(n, cout, oh * ow)
    gx = gw = gb = None
    fused_weight_grad = False
    if needs_weight_grad:
        # Allocated in its final shape (not a reshaped view) so autograd can adopt it as
        # the weight's .grad without a copy; the kernels write through 2-D views.
        gw = np.empty(w.shape, dtype=dtype)
        fused_weight_grad = columns is None and rows // groups > _conv.SMALL_K and n > 1
        if columns is None and not fused_weight_grad:
            columns = _scratch("cols", (rows, ncols), dtype)
            _conv.im2col(np.ascontiguousarray(x), columns, *geo)
        if rows // groups <= _conv.SMALL_K:
            # Thin product (first layer): a direct pass over the NCHW gradient, bias included.
            sums = np.empty(cout, dtype=np.float64) if needs_bias_grad else None
            _conv.weight_grad_small(g, columns, gw.reshape(cout, -1), sums, groups)
            if needs_bias_grad:
                gb = sums.astype(dtype)
            needs_bias_grad = False
            needs_weight_grad = False
    if not (needs_input_grad or needs_weight_grad):
        if needs_bias_grad:
            gb = g.sum(axis=(0, 2))
        return gx, gw, gb
    if n == 1:
        gt = g.reshape(cout, ncols)
        if needs_bias_grad:
            gb = g.sum(axis=(0, 2))
    else:
        gt = _scratch("gt", (cout, ncols), dtype)
        sums = np.empty((n, cout), dtype=np.float64) if needs_bias_grad else None
        _conv.transpose_grad(g, gt, sums)
        if needs_bias_grad:
            gb = sums.sum(axis=0).astype(dtype)
    if fused_weight_grad:
        # No columns were kept: rebuild them block by block in cache.
        threads = _conv.get_threads()[0]
        nb = _images_per_task(n, oh * ow, 640)
        partial = np.zeros((threads, gw.size), dtype=dtype)
        col_scratch = _scratch("col_blocks", (threads, rows * nb * oh * ow), dtype)
        _conv.weight_grad_fused(gt, np.ascontiguousarray(x), col_scratch, partial, groups, *geo, nb)
        np.sum(partial, axis=0, out=gw.reshape(-1))
    elif needs_weight_grad:
        threads = _conv.get_threads()[0]
        if threads > 1 and ncols >= 4096 * threads:
            # Column chunks handed out dynamically, one partial sum per thread.
            partial = np.zeros((threads, gw.size), dtype=dtype)
            _conv.weight_grad_blocked(gt, columns, partial, groups, 2048)
            np.sum(partial, axis=0, out=gw.reshape(-1))
        else:
            _conv.weight_grad(gt, columns, gw.reshape(cout, -1), groups)
    if needs_input_grad:
        gx = np.empty(x.shape, dtype=dtype)
        w2 = np.ascontiguousarray(w).reshape(cout, -1)
        nb = _images_per_task(n, oh * ow)
        if nb:
            threads = _conv.get_threads()[0]
            scratch = _scratch("dcols_blocks", (threads, rows * nb * oh * ow), dtype)
            _conv.input_grad_blocked(gt, w2, scratch, gx, groups, *geo, nb)
        else:
            dcols = _scratch("dcols", (rows, ncols), dtype)
            _conv.input_grad(gt, w2, dcols, gx, groups, *geo)
    return gx, gw, gb


def _numpy_blas_gemm() -> tuple[ctypes.CDLL, int, int] | None:
    """NumPy's own OpenBLAS, if it bundles one (the ``scipy-openblas64`` builds of NumPy
    wheels), and the addresses of its ILP64 ``sgemm``/``dgemm``; None otherwise."""
    try:
        import threadpoolctl

        libs = threadpoolctl.threadpool_info()
    except Exception:  # a declared dependency; without it SciPy's BLAS does everything
        return None
    for lib in libs:
        path = lib.get("filepath", "")
        if lib.get("internal_api") != "openblas" or "numpy" not in path:
            continue
        try:
            handle = ctypes.CDLL(path)
            return handle, *(ctypes.cast(getattr(handle, f"scipy_{name}_64_"), ctypes.c_void_p)
                             .value for name in ("sgemm", "dgemm"))
        except (OSError, AttributeError):
            return None
    return None


_NUMPY_GEMM = _numpy_blas_gemm()  # (library handle, sgemm, dgemm) or None


def use_numpy_blas(enable: bool = True) -> bool:
    """Route every GEMM of the compiled kernels through NumPy's bundled OpenBLAS (when there
    is one; see ``csrc/blas_gemm.pxi``) or, with ``enable=False``, through SciPy's. Returns
    whether NumPy's is in use afterwards."""
    addresses = _NUMPY_GEMM[1:] if enable and _NUMPY_GEMM else (0, 0)
    for module in (_blas, _conv):
        module.use_ilp64_gemm(*addresses)
    return _blas.ilp64_gemm_in_use()


use_numpy_blas()


def set_kernel_threads(n: int, split_gemm: bool) -> None:
    """Threads of the GEMM and conv2d loops; split products across them only if BLAS is
    sequential (``minigrad.threads`` decides)."""
    _blas.set_threads(n, split_gemm)
    _conv.set_threads(n, split_gemm)


def get_kernel_threads() -> tuple[int, bool]:
    return _conv.get_threads()


# --------------------------------------------------------------------------- fused log-softmax + NLL

__all__ += ["log_softmax_nll_forward", "log_softmax_nll_backward"]

_LSM_NLL_MAX = 1 << 13  # logits elements


def log_softmax_nll_forward(
    logits: np.ndarray, target: np.ndarray, ignore_index: int = -100
) -> tuple[np.ndarray, np.ndarray]:
    # The C loop wins where a training step needs it (64x10: ~3x faster than the NumPy
    # version, which pays per-call overheads); on large inputs NumPy's SIMD exp wins (the C
    # loop calls the scalar libm exp), so those go to the reference.
    if logits.dtype.type not in _FLOATS or logits.size == 0 or logits.size > _LSM_NLL_MAX:
        return reference.log_softmax_nll_forward(logits, target, ignore_index)
    if (logits.ndim != 2 or target.ndim != 1 or target.dtype != np.int64
            or target.shape[0] != logits.shape[0]):
        reference.check_log_softmax_nll(logits, target, ignore_index)  # the error that fits
    n, c = logits.shape
    loss = np.empty(n, logits.dtype)
    grad = np.empty((n, c), logits.dtype)
    # the loop checks the class indices itself (cheaper than a NumPy pass over the targets)
    bad = _elementwise.log_softmax_nll_into(
        np.ascontiguousarray(logits), np.ascontiguousarray(target, dtype=np.int64), int(ignore_index),
        loss, grad,
    )
    if bad >= 0:
        reference.check_log_softmax_nll(logits, target, ignore_index)
        raise IndexError(
            f"log_softmax_nll_forward: Target {int(target[bad])} is out of bounds for {c} classes"
        )
    return loss, grad


def log_softmax_nll_backward(grad_loss, grad: np.ndarray) -> np.ndarray:
    return reference.log_softmax_nll_backward(grad_loss, grad)
