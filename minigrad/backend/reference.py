"""Pure-NumPy reference kernels: the readable specification of every compiled kernel.

Each function here has a compiled twin with the same name and signature (see ``csrc/``).
NumPy arrays in, NumPy arrays out; no autograd. Tests hold the compiled kernels to these.
"""

from __future__ import annotations

import numpy as np

__all__ = ["matmul", "relu_forward", "relu_backward"]


def matmul(
    a: np.ndarray, b: np.ndarray, transpose_a: bool = False, transpose_b: bool = False
) -> np.ndarray:
    """``op(a) @ op(b)``, where ``op`` swaps the last two dims when its flag is set.

    a: (..., M, K) (or (..., K, M) with transpose_a), b: (..., K, N) (or (..., N, K)).
    1-D operands follow ``np.matmul``. Returns (..., M, N).
    """
    if transpose_a:
        a = np.swapaxes(a, -1, -2)
    if transpose_b:
        b = np.swapaxes(b, -1, -2)
    return np.matmul(a, b)


def relu_forward(x: np.ndarray) -> np.ndarray:
    """0 where x < 0, else x (torch: relu(NaN) = NaN, relu(-0.0) = -0.0)."""
    x = np.asarray(x)
    return np.where(x < 0, np.zeros((), x.dtype), x)


def relu_backward(grad_output: np.ndarray, out: np.ndarray) -> np.ndarray:
    """0 where the forward output is <= 0, else grad_output (a NaN output passes it, as in torch)."""
    return np.where(out <= 0, np.zeros((), grad_output.dtype), grad_output)


# --------------------------------------------------------------------------- pooling
#
# Layout NCHW; ``kernel``, ``stride``, ``padding``, ``dilation`` are (height, width) pairs
# of ints. Output sizes follow torch: a window may hang over the right/bottom edge only in
# ``ceil_mode`` and only if it starts inside the input or the left/top padding.
#
# Max pooling scans each window row-major; a later element replaces the running maximum
# only if it is strictly greater (the first maximum wins ties) or if it is NaN (NaN
# propagates; of several NaNs the last one wins). Padding never wins. The forward returns
# ``argmax``, the position of the winner inside its window (``i * KW + j`` for kernel
# row i, column j) as uint8 (int32 for windows of more than 256 elements); the backward
# routes each output gradient to that position. ``max_pool2d_indices`` turns it into
# torch's ``return_indices`` convention (flat index into the input's H*W plane).

__all__ += [
    "max_pool2d_forward",
    "max_pool2d_backward",
    "max_pool2d_indices",
    "avg_pool2d_forward",
    "avg_pool2d_backward",
]


def pool2d_output_size(
    size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool
) -> int:
    """Output length of one pooled dimension (torch's ``pooling_output_shape``)."""
    span = dilation * (kernel - 1) + 1
    out = (size + 2 * padding - span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # the last window would start in the right padding
    return out


def pool2d_output_shape(
    op: str,
    input_shape: tuple[int, ...],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    ceil_mode: bool,
) -> tuple[int, int]:
    """Validate pooling parameters for an (N, C, H, W) input; return (OH, OW).

    Raises ValueError (naming ``op`` and the shapes) for anything an unchecked loop
    must not see: bad sizes, padding above half the kernel, an output smaller than 1x1, or a
    dilated window that holds no input element at all.
    """
    shape = tuple(int(s) for s in input_shape)
    params = f"kernel_size={kernel}, stride={stride}, padding={padding}, dilation={dilation}"
    if len(shape) != 4:
        raise ValueError(f"{op}: expected a 4-D (N, C, H, W) input, got shape {shape}")
    if min(shape[1:]) < 1:
        raise ValueError(f"{op}: expected non-empty C, H and W, got input shape {shape}")
    for name, pair, low in (("kernel_size", kernel, 1), ("stride", stride, 1),
                            ("padding", padding, 0), ("dilation", dilation, 1)):
        if len(pair) != 2 or any(v < low for v in pair):
            bound = "positive" if low else "non-negative"
            raise ValueError(f"{op}: {name} must be {bound}, got {tuple(pair)} for input shape {shape}")
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(
            f"{op}: padding should be at most half of the kernel size, got {params} for input shape {shape}"
        )
    H, W = shape[2:]
    OH = pool2d_output_size(H, kernel[0], stride[0], padding[0], dilation[0], ceil_mode)
    OW = pool2d_output_size(W, kernel[1], stride[1], padding[1], dilation[1], ceil_mode)
    if OH < 1 or OW < 1:
        raise ValueError(
            f"{op}: the kernel is larger than the padded input: input shape {shape}, {params} "
            f"give output size ({OH}, {OW})"
        )
    for size, out, k, s, p, d in zip((H, W), (OH, OW), kernel, stride, padding, dilation):
        if d > 1 and not _windows_hit_input(size, out, k, s, p, d):
            raise ValueError(
                f"{op}: a dilated window holds no input element (only padding): "
                f"input shape {shape}, {params}"
            )
    return OH, OW


def _first_valid(out: int, stride: int, padding: int, dilation: int):
    """Per output position: window start, and the kernel index of its first in-bounds tap."""
    start = np.arange(out) * stride - padding
    first = (np.maximum(-start, 0) + dilation - 1) // dilation  # ceil(max(0, -start) / dilation)
    return start, first


def _windows_hit_input(size, out, kernel, stride, padding, dilation) -> bool:
    start, first = _first_valid(out, stride, padding, dilation)
    return bool(np.all((first < kernel) & (start + first * dilation < size)))


def max_pool2d_argmax_dtype(kernel: tuple[int, int]) -> np.dtype:
    """dtype of the ``argmax`` that ``max_pool2d_forward`` returns for this kernel."""
    return np.dtype(np.uint8 if kernel[0] * kernel[1] <= 256 else np.int32)


def _padded(x, OH, OW, kernel, stride, padding, dilation, fill):
    """x inside a border of ``fill``, large enough for every window (ceil_mode included)."""
    N, C, H, W = x.shape
    HP = max(padding[0] + H, (OH - 1) * stride[0] + (kernel[0] - 1) * dilation[0] + 1)
    WP = max(padding[1] + W, (OW - 1) * stride[1] + (kernel[1] - 1) * dilation[1] + 1)
    xp = np.full((N, C, HP, WP), fill, dtype=x.dtype)
    xp[:, :, padding[0]:padding[0] + H, padding[1]:padding[1] + W] = x
    return xp


def _tap(a, i, j, OH, OW, stride, dilation):
    """View of padded array ``a`` at kernel tap (i, j) for every window: (N, C, OH, OW)."""
    r, c = i * dilation[0], j * dilation[1]
    return a[:, :, r:r + (OH - 1) * stride[0] + 1:stride[0], c:c + (OW - 1) * stride[1] + 1:stride[1]]


def max_pool2d_forward(
    x: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    ceil_mode: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling. x: (N, C, H, W) -> (out (N, C, OH, OW), argmax (N, C, OH, OW)).

    ``argmax`` holds each winner's position in its window, ``i * KW + j``.
    """
    N, C, H, W = x.shape
    OH, OW = pool2d_output_shape("max_pool2d", x.shape, kernel, stride, padding, dilation, ceil_mode)
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    xp = _padded(x, OH, OW, kernel, stride, padding, dilation, low)
    # Padding holds -inf, so it never replaces the running maximum; the initial winner is
    # the window's first in-bounds element (what torch reports for an all -inf window).
    _, i0 = _first_valid(OH, stride[0], padding[0], dilation[0])
    _, j0 = _first_valid(OW, stride[1], padding[1], dilation[1])
    argmax = np.empty((N, C, OH, OW), max_pool2d_argmax_dtype(kernel))
    argmax[...] = i0[:, None] * kernel[1] + j0[None, :]
    best = np.full((N, C, OH, OW), low, dtype=x.dtype)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            v = _tap(xp, i, j, OH, OW, stride, dilation)
            take = (v > best) | np.isnan(v)
            np.copyto(best, v, where=take)
            np.copyto(argmax, i * kernel[1] + j, where=take, casting="unsafe")
    return best, argmax


def max_pool2d_backward(
    grad_output: np.ndarray,
    argmax: np.ndarray,
    input_shape: tuple[int, int, int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
) -> np.ndarray:
    """Gradient of max pooling. grad_output, argmax: (N, C, OH, OW) -> (N, C, H, W).

    Each output gradient goes to its window's winner; overlapping windows add up.
    """
    N, C, H, W = input_shape
    OH, OW = grad_output.shape[2:]
    gp = _padded(np.zeros((N, C, H, W), grad_output.dtype), OH, OW, kernel, stride, padding, dilation, 0)
    zero = np.zeros((), grad_output.dtype)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            # Within one tap the windows touch distinct elements, so += cannot collide.
            _tap(gp, i, j, OH, OW, stride, dilation)[...] += np.where(
                argmax == i * kernel[1] + j, grad_output, zero
            )
    return np.ascontiguousarray(gp[:, :, padding[0]:padding[0] + H, padding[1]:padding[1] + W])


def max_pool2d_indices(
    argmax: np.ndarray,
    input_shape: tuple[int, int, int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
) -> np.ndarray:
    """torch's ``return_indices``: flat index ``ih * W + iw`` of each winner, int64."""
    W = input_shape[3]
    OH, OW = argmax.shape[2:]
    a = argmax.astype(np.int64)
    ih = (np.arange(OH) * stride[0] - padding[0])[:, None] + (a // kernel[1]) * dilation[0]
    iw = (np.arange(OW) * stride[1] - padding[1])[None, :] + (a % kernel[1]) * dilation[1]
    return ih * W + iw


def avg_pool2d_divisor(
    H: int,
    W: int,
    OH: int,
    OW: int,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    count_include_pad: bool,
    divisor_override: int | None,
) -> np.ndarray:
    """What each window's sum is divided by: (OH, OW) (torch's rule).

    With ``count_include_pad`` the window is counted up to the padded edge (a ceil_mode
    overhang past the padding is not counted); without it only input elements count.
    """
    sizes = []
    for size, out, k, s, p in zip((H, W), (OH, OW), kernel, stride, padding):
        start = np.arange(out) * s - p
        end = np.minimum(start + k, size + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, size)
        sizes.append(end - start)
    if divisor_override is not None:
        return np.full((OH, OW), divisor_override)
    return sizes[0][:, None] * sizes[1][None, :]


def avg_pool2d_forward(
    x: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: int | None,
) -> np.ndarray:
    """Average pooling. x: (N, C, H, W) -> (N, C, OH, OW)."""
    N, C, H, W = x.shape
    one = (1, 1)
    OH, OW = pool2d_output_shape("avg_pool2d", x.shape, kernel, stride, padding, one, ceil_mode)
    xp = _padded(x, OH, OW, kernel, stride, padding, one, 0)
    total = np.zeros((N, C, OH, OW), dtype=x.dtype)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            total += _tap(xp, i, j, OH, OW, stride, one)
    div = avg_pool2d_divisor(H, W, OH, OW, kernel, stride, padding, count_include_pad, divisor_override)
    return (total / div).astype(x.dtype, copy=False)


def avg_pool2d_backward(
    grad_output: np.ndarray,
    input_shape: tuple[int, int, int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    count_include_pad: bool,
    divisor_override: int | None,
) -> np.ndarray:
    """Gradient of average pooling. grad_output: (N, C, OH, OW) -> (N, C, H, W)."""
    N, C, H, W = input_shape
    OH, OW = grad_output.shape[2:]
    one = (1, 1)
    div = avg_pool2d_divisor(H, W, OH, OW, kernel, stride, padding, count_include_pad, divisor_override)
    share = (grad_output / div).astype(grad_output.dtype, copy=False)
    gp = _padded(np.zeros((N, C, H, W), grad_output.dtype), OH, OW, kernel, stride, padding, one, 0)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            _tap(gp, i, j, OH, OW, stride, one)[...] += share
    return np.ascontiguousarray(gp[:, :, padding[0]:padding[0] + H, padding[1]:padding[1] + W])


# --------------------------------------------------------------------------- convolution
#
# conv2d as one matrix product ("im2col"). Layout NCHW, weight (Cout, C/groups, KH, KW).
# ``stride`` and ``dilation`` are (height, width) pairs of ints; ``padding`` is
# ((top, bottom), (left, right)) so that 'same' can pad unevenly like torch. The Python
# layer (``minigrad/ops/conv.py``) normalises and validates all of them first.
#
# The columns are the input laid out "transposed": one row per weight element
# (c, kh, kw), one column per output position (n, oh, ow),
#
#     columns[(c, kh, kw), (n, oh, ow)] = x_padded[n, c, oh*sh + kh*dh, ow*sw + kw*dw],
#
# so the convolution of group g is the product weight_g (Cout/groups, K) @ columns_g
# (K, N*OH*OW) with K = C/groups * KH * KW (the rows of one group are contiguous).
# The backward reuses the forward's columns for the weight gradient (keep_columns=True).

__all__ += ["conv2d_forward", "conv2d_backward", "linear_forward", "linear_backward"]


def conv2d_output_size(
    size: int, kernel: int, stride: int, padding: tuple[int, int], dilation: int
) -> int:
    """Output length of one convolved dimension (may be < 1 for a too-large kernel)."""
    return (size + padding[0] + padding[1] - dilation * (kernel - 1) - 1) // stride + 1


def im2col(
    x: np.ndarray,
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[tuple[int, int], tuple[int, int]],
    dilation: tuple[int, int],
) -> np.ndarray:
    """The columns of ``x``: (N, C, H, W) -> (C*KH*KW, N*OH*OW) (see the section comment)."""
    n, c, h, w = x.shape
    (kh_, kw_), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    oh = conv2d_output_size(h, kh_, sh, padding[0], dh)
    ow = conv2d_output_size(w, kw_, sw, padding[1], dw)
    xp = np.pad(x, ((0, 0), (0, 0), padding[0], padding[1]))
    cols = np.empty((c, kh_, kw_, n, oh, ow), dtype=x.dtype)
    for kh in range(kh_):
        for kw in range(kw_):
            # Every output position's (kh, kw) tap: a strided window of the padded input.
            top, left = kh * dh, kw * dw
            window = xp[:, :, top : top + sh * (oh - 1) + 1 : sh, left : left + sw * (ow - 1) + 1 : sw]
            cols[:, kh, kw] = window.transpose(1, 0, 2, 3)
    return cols.reshape(c * kh_ * kw_, n * oh * ow)


def col2im(
    cols: np.ndarray,
    x_shape: tuple[int, int, int, int],
    kernel_size: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[tuple[int, int], tuple[int, int]],
    dilation: tuple[int, int],
) -> np.ndarray:
    """The adjoint of ``im2col``: add every column entry back onto the input pixel it came from."""
    n, c, h, w = x_shape
    (kh_, kw_), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    oh = conv2d_output_size(h, kh_, sh, padding[0], dh)
    ow = conv2d_output_size(w, kw_, sw, padding[1], dw)
    (pt, pb), (pl, pr) = padding
    xp = np.zeros((n, c, h + pt + pb, w + pl + pr), dtype=cols.dtype)
    cols = cols.reshape(c, kh_, kw_, n, oh, ow)
    for kh in range(kh_):
        for kw in range(kw_):
            top, left = kh * dh, kw * dw
            xp[:, :, top : top + sh * (oh - 1) + 1 : sh, left : left + sw * (ow - 1) + 1 : sw] += (
                cols[:, kh, kw].transpose(1, 0, 2, 3)
            )
    return np.ascontiguousarray(xp[:, :, pt : pt + h, pl : pl + w])


def conv2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    stride: tuple[int, int],
    padding: tuple[tuple[int, int], tuple[int, int]],
    dilation: tuple[int, int],
    groups: int,
    keep_columns: bool = False,
):
    """2-D cross-correlation (torch's conv2d).

    x: (N, C, H, W), w: (Cout, C/groups, KH, KW), b: (Cout,) or None.
    Returns out (N, Cout, OH, OW), or (out, columns) with keep_columns, for
    ``conv2d_backward(..., columns=columns)``.
    """
    n = x.shape[0]
    cout, _, kh, kw = w.shape
    cols = im2col(x, (kh, kw), stride, padding, dilation)
    oh = conv2d_output_size(x.shape[2], kh, stride[0], padding[0], dilation[0])
    ow = conv2d_output_size(x.shape[3], kw, stride[1], padding[1], dilation[1])
    cg, kg = cout // groups, cols.shape[0] // groups
    out = np.empty((cout, n * oh * ow), dtype=x.dtype)
    for g in range(groups):
        out[g * cg : (g + 1) * cg] = w[g * cg : (g + 1) * cg].reshape(cg, kg) @ cols[g * kg : (g + 1) * kg]
    out = out.reshape(cout, n, oh, ow).transpose(1, 0, 2, 3)
    out = out + b.reshape(cout, 1, 1) if b is not None else np.ascontiguousarray(out)
    return (out, cols) if keep_columns else out


def conv2d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    stride: tuple[int, int],
    padding: tuple[tuple[int, int], tuple[int, int]],
    dilation: tuple[int, int],
    groups: int,
    needs_input_grad: bool,
    needs_weight_grad: bool,
    needs_bias_grad: bool,
    columns: np.ndarray | None = None,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Gradients of ``conv2d_forward`` w.r.t. x, w and b (None where not needed).

    grad_output: (N, Cout, OH, OW). ``columns``: the forward's, if it kept them (else the
    weight gradient recomputes them from x).
    """
    n, cout, oh, ow = grad_output.shape
    kh, kw = w.shape[2:]
    cg = cout // groups
    gt = grad_output.transpose(1, 0, 2, 3).reshape(cout, n * oh * ow)
    gx = gw = gb = None
    if needs_bias_grad:
        gb = grad_output.sum(axis=(0, 2, 3))
    if needs_weight_grad:
        cols = columns if columns is not None else im2col(x, (kh, kw), stride, padding, dilation)
        kg = cols.shape[0] // groups
        gw = np.empty((cout, kg), dtype=w.dtype)
        for g in range(groups):
            gw[g * cg : (g + 1) * cg] = gt[g * cg : (g + 1) * cg] @ cols[g * kg : (g + 1) * kg].T
        gw = gw.reshape(w.shape)
    if needs_input_grad:
        w2 = w.reshape(cout, -1)
        kg = w2.shape[1]
        dcols = np.empty((groups * kg, n * oh * ow), dtype=w.dtype)
        for g in range(groups):
            dcols[g * kg : (g + 1) * kg] = w2[g * cg : (g + 1) * cg].T @ gt[g * cg : (g + 1) * cg]
        gx = col2im(dcols, x.shape, (kh, kw), stride, padding, dilation)
    return gx, gw, gb


# --------------------------------------------------------------------------- linear


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """x @ w^T + b (torch's linear). x: (B, in), w: (out, in), b: (out,) or None -> (B, out)."""
    out = x @ w.T
    if b is not None:
        out += b
    return out


def linear_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    needs_input_grad: bool,
    needs_weight_grad: bool,
    needs_bias_grad: bool,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Gradients of ``linear_forward``: (g @ w, g^T @ x, g summed over rows), None where unneeded.

    grad_output: (B, out), x: (B, in), w: (out, in).
    """
    gx = grad_output @ w if needs_input_grad else None
    gw = grad_output.T @ x if needs_weight_grad else None
    gb = grad_output.sum(axis=0) if needs_bias_grad else None
    return gx, gw, gb


# --------------------------------------------------------------------------- fused log-softmax + NLL
#
# The classification loss of every training step in one pass over the logits: per row, the
# loss -log_softmax(x)[t] and its gradient softmax(x) - onehot(t), computed together (the
# gradient falls out of the forward almost for free). A caller scales the gradient by the
# incoming gradient and the reduction (1/N for 'mean') in backward. Rows whose target is
# ``ignore_index`` get loss 0 and gradient softmax(x) * 0 (0, or NaN where the row has a
# NaN, as in torch).

__all__ += ["log_softmax_nll_forward", "log_softmax_nll_backward"]


def check_log_softmax_nll(logits: np.ndarray, target: np.ndarray, ignore_index: int) -> None:
    """Shapes and class indices, checked before any unchecked loop (IndexError like torch)."""
    op = "log_softmax_nll_forward"
    if logits.ndim != 2 or target.ndim != 1 or target.shape[0] != logits.shape[0]:
        raise ValueError(
            f"{op}: expected logits (N, C) and target (N,), got {tuple(logits.shape)} and "
            f"{tuple(target.shape)}"
        )
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, got dtype {target.dtype}")
    if target.size:
        bad = ((target < 0) | (target >= logits.shape[1])) & (target != ignore_index)
        if bad.any():
            raise IndexError(
                f"{op}: Target {int(target[bad][0])} is out of bounds for {logits.shape[1]} classes"
            )


def log_softmax_nll_forward(
    logits: np.ndarray, target: np.ndarray, ignore_index: int = -100
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row NLL of log-softmax and its gradient.

    logits: (N, C) float; target: (N,) int class indices (``ignore_index`` rows are skipped).
    Returns ``loss`` (N,) = logsumexp(x) - x[t] (0 for ignored rows) and ``grad`` (N, C) =
    d loss.sum() / d logits = softmax(x) - onehot(t) (softmax(x) * 0 for ignored rows).
    """
    check_log_softmax_nll(logits, target, ignore_index)
    n = logits.shape[0]
    valid = target != ignore_index
    t = np.where(valid, target, 0)
    rows = np.arange(n)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        s = e.sum(axis=1, keepdims=True)
        # log(s) - (x[t] - max): no cancellation between two large numbers
        loss = np.where(valid, np.log(s)[:, 0] - shifted[rows, t], 0).astype(logits.dtype)
        grad = e / s
    grad[rows, t] -= valid
    grad[~valid] *= 0
    return loss, grad.astype(logits.dtype, copy=False)


def log_softmax_nll_backward(grad_loss, grad: np.ndarray) -> np.ndarray:
    """Gradient w.r.t. the logits: ``grad * grad_loss`` per row.

    grad_loss: the incoming gradient of the per-row losses, (N,) or a scalar (for 'mean'
    reduction pass g / N, for 'sum' pass g); grad: (N, C) from the forward.
    """
    g = np.asarray(grad_loss, dtype=grad.dtype)
    return grad * (g[:, None] if g.ndim == 1 else g)
