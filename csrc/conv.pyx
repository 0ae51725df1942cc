# cython: language_level=3
"""Compiled conv2d: batched transposed im2col + matrix products, and its backward.

Layout (the same as ``conv2d_forward`` in ``minigrad/backend/reference.py``)::

    x      (N, C, H, W)                 input, C-contiguous
    cols   (C*KH*KW, N*OH*OW)           cols[(c, kh, kw), (n, oh, ow)] = x_padded[n, c, ih, iw]
    w      (Cout, C/groups * KH*KW)     the weight, rows of one group contiguous
    out    (N, Cout, OH, OW)            w_g @ cols_g, written to NCHW with the bias added
    gt     (Cout, N*OH*OW)              the output gradient regrouped like w @ cols

Forward (``forward_fused``): tasks of a few images; each builds its images' columns (row
copies with zero borders: into the batch-sized ``cols`` kept for the backward, or into a
per-thread buffer when nobody needs them), multiplies them by the weight (one GEMM per
group) into a per-thread buffer and adds the bias while writing NCHW, all while the block is
in cache.
Backward: ``gw_g = gt_g @ cols_g^T`` reuses the forward's columns (``weight_grad``, or
``weight_grad_blocked`` with one partial sum per thread); ``input_grad_blocked`` computes
``w_g^T @ gt_g`` for a few images at a time and scatters it (col2im) into their input
gradient right away, so that no two threads write the same element.
A reduction size K = C/groups*KH*KW <= SMALL_K (a first layer: one channel, 3x3) skips BLAS,
which is slow on such thin products: direct kernels in ``conv_small.h``.
3x3 stride-1 convolutions with enough channels run through Winograd F(2x2, 3x3) instead (the
``winograd_*`` functions at the end; the transforms are in ``conv_winograd.h``).

Work is split in tasks handed out dynamically, so that a thread that loses its core on a
busy machine does not hold up the others. Everything here trusts its arguments: shapes are
checked in Python (``minigrad/ops/conv.py``).
"""

from cython.parallel cimport threadid
from libc.string cimport memcpy, memset

cimport numpy as cnp
import numpy as np

cnp.import_array()

include "blas_gemm.pxi"

cdef extern from "conv_small.h":
    int MG_SMALL_K
    void mg_small_forward_f32(const float* cols, const float* w, const float* b, float* out,
                              Py_ssize_t n, Py_ssize_t co, Py_ssize_t Cout, Py_ssize_t groups,
                              Py_ssize_t K, Py_ssize_t L, Py_ssize_t NL) noexcept nogil
    void mg_small_forward_f64(const double* cols, const double* w, const double* b, double* out,
                              Py_ssize_t n, Py_ssize_t co, Py_ssize_t Cout, Py_ssize_t groups,
                              Py_ssize_t K, Py_ssize_t L, Py_ssize_t NL) noexcept nogil
    int MG_LANES_F32
    int MG_LANES_F64
    void mg_small_weight_grad9_f32(const float* go, const float* cols, float* acc, float* bacc,
                                   Py_ssize_t co, Py_ssize_t n0, Py_ssize_t n1, Py_ssize_t N,
                                   Py_ssize_t Cout, Py_ssize_t groups, Py_ssize_t L) noexcept nogil
    void mg_small_weight_grad9_f64(const double* go, const double* cols, double* acc, double* bacc,
                                   Py_ssize_t co, Py_ssize_t n0, Py_ssize_t n1, Py_ssize_t N,
                                   Py_ssize_t Cout, Py_ssize_t groups, Py_ssize_t L) noexcept nogil
    void mg_small_weight_grad_f32(const float* go, const float* cols, float* acc, float* bacc,
                                  Py_ssize_t co, Py_ssize_t n0, Py_ssize_t n1, Py_ssize_t N,
                                  Py_ssize_t Cout, Py_ssize_t groups, Py_ssize_t K,
                                  Py_ssize_t L) noexcept nogil
    void mg_small_weight_grad_f64(const double* go, const double* cols, double* acc, double* bacc,
                                  Py_ssize_t co, Py_ssize_t n0, Py_ssize_t n1, Py_ssize_t N,
                                  Py_ssize_t Cout, Py_ssize_t groups, Py_ssize_t K,
                                  Py_ssize_t L) noexcept nogil

# Reduction sizes K = C/groups*KH*KW up to this use the direct kernels of conv_small.h
# (BLAS is slow on such thin products); larger ones go through GEMM.
SMALL_K = MG_SMALL_K

# Below this many elements a parallel region costs more than it saves.
cdef Py_ssize_t PARALLEL_MIN = 1 << 15


cdef inline Py_ssize_t floor_div(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    """Floor division for b > 0 (C division truncates toward zero)."""
    if a >= 0:
        return a // b
    return -((-a + b - 1) // b)


cdef inline void valid_range(Py_ssize_t start, Py_ssize_t step, Py_ssize_t size, Py_ssize_t n_out,
                             Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    """Output positions o in [lo, hi) whose input index start + o*step lies in [0, size)."""
    cdef Py_ssize_t a = -floor_div(start, step)                  # ceil(-start / step)
    cdef Py_ssize_t b = floor_div(size - 1 - start, step) + 1
    if a < 0:
        a = 0
    if b > n_out:
        b = n_out
    if b < a:
        b = a
    lo[0] = a
    hi[0] = b


def im2col(const floating[:, :, :, ::1] x, floating[:, ::1] cols, int KH, int KW, int sh, int sw,
           int pt, int pl, int dh, int dw, int OH, int OW):
    """Fill cols (C*KH*KW, N*OH*OW) from x (N, C, H, W); zero where the window is padding."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t L = <Py_ssize_t>OH * OW, KK = <Py_ssize_t>KH * KW
    cdef Py_ssize_t task, ntasks = C * KK * N
    cdef int nthreads = _omp_threads
    if ntasks * L < PARALLEL_MIN:
        nthreads = 1
    for task in prange(ntasks, nogil=True, num_threads=nthreads, schedule="guided"):
        _im2col_row(x, cols, task // N, task % N, KH, KW, sh, sw, pt, pl, dh, dw, OH, OW)


cdef inline void _im2col_row(const floating[:, :, :, ::1] x, floating[:, ::1] cols,
                             Py_ssize_t r, Py_ssize_t n, int KH, int KW, int sh, int sw,
                             int pt, int pl, int dh, int dw, int OH, int OW) noexcept nogil:
    _im2col_row_ptr(x, &cols[r, n * OH * OW], r, n, KH, KW, sh, sw, pt, pl, dh, dw, OH, OW)


cdef inline void _im2col_row_ptr(const floating[:, :, :, ::1] x, floating* out,
                                 Py_ssize_t r, Py_ssize_t n, int KH, int KW, int sh, int sw,
                                 int pt, int pl, int dh, int dw, int OH, int OW) noexcept nogil:
    """Row r of image n's columns (OH*OW values) into out."""
    cdef Py_ssize_t H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t c = r // (KH * KW), kh = (r // KW) % KH, kw = r % KW
    cdef Py_ssize_t oh, ow, ih, iw0, lo, hi
    cdef floating* dst
    cdef const floating* src
    # Rows are short (OW elements): plain loops beat memcpy/memset calls here.
    valid_range(kw * dw - pl, sw, W, OW, &lo, &hi)
    iw0 = kw * dw - pl
    for oh in range(OH):
        dst = out + oh * OW
        ih = oh * sh - pt + kh * dh
        if ih < 0 or ih >= H or lo >= hi:
            for ow in range(OW):
                dst[ow] = 0
            continue
        for ow in range(lo):
            dst[ow] = 0
        src = &x[n, c, ih, 0]
        if sw == 1:
            for ow in range(lo, hi):
                dst[ow] = src[iw0 + ow]
        else:
            for ow in range(lo, hi):
                dst[ow] = src[iw0 + ow * sw]
        for ow in range(hi, OW):
            dst[ow] = 0


def forward(const floating[:, ::1] cols, const floating[:, ::1] w, object bias,
            floating[:, :, ::1] out, int groups):
    """out (N, Cout, L) = w_g @ cols_g per group, plus bias: the direct kernel for
    K <= SMALL_K, else (one image) GEMMs split across the threads writing straight into out.
    Batches with K > SMALL_K go to ``forward_fused``."""
    cdef Py_ssize_t N = out.shape[0], Cout = out.shape[1], L = out.shape[2]
    cdef Py_ssize_t NL = N * L, Kg = w.shape[1], Cg = Cout // groups
    cdef const floating[::1] b
    cdef bint has_bias = bias is not None
    cdef Py_ssize_t g, task, co, j
    cdef floating beta = 0
    cdef floating bv
    cdef int nthreads = _omp_threads
    cdef const floating* bptr = NULL
    if has_bias:
        b = bias
        bptr = &b[0]
    if Kg <= MG_SMALL_K:
        if N * Cout * L < PARALLEL_MIN:
            nthreads = 1
        for task in prange(N * Cout, nogil=True, num_threads=nthreads, schedule="guided"):
            if floating is float:
                mg_small_forward_f32(&cols[0, 0], &w[0, 0], bptr, &out[0, 0, 0], task // Cout,
                                     task % Cout, Cout, groups, Kg, L, NL)
            else:
                mg_small_forward_f64(&cols[0, 0], &w[0, 0], bptr, &out[0, 0, 0], task // Cout,
                                     task % Cout, Cout, groups, Kg, L, NL)
        return
    # (Cout, N*L) is the layout of out itself when N == 1: bias pre-filled, beta = 1.
    if has_bias:
        for co in range(Cout):
            bv = b[co]
            for j in range(NL):
                out[j // L, co, j % L] = bv
        beta = 1
    if N == 1:
        with nogil:
            for g in range(groups):
                pgemm(False, False, <int>Cg, <int>L, <int>Kg, <floating>1,
                      &w[g * Cg, 0], <int>Kg, &cols[g * Kg, 0], <int>L, beta,
                      &out[0, g * Cg, 0], <int>L)
        return
    raise ValueError("forward: batches with K > SMALL_K go to forward_fused")


cdef inline void _im2col_block(const floating[:, :, :, ::1] x, floating* buf, Py_ssize_t ld,
                               Py_ssize_t n0, Py_ssize_t n1, int KH, int KW, int sh, int sw,
                               int pt, int pl, int dh, int dw, int OH, int OW) noexcept nogil:
    """The columns of images [n0, n1) into buf (C*KH*KW, (n1-n0)*OH*OW), rows ld apart."""
    cdef Py_ssize_t L = <Py_ssize_t>OH * OW
    cdef Py_ssize_t rows = x.shape[1] * KH * KW, r, n
    for r in range(rows):
        for n in range(n0, n1):
            _im2col_row_ptr(x, buf + r * ld + (n - n0) * L, r, n, KH, KW, sh, sw, pt, pl,
                            dh, dw, OH, OW)


def forward_fused(const floating[:, :, :, ::1] x, const floating[:, ::1] w, object bias,
                  floating[:, :, ::1] out, floating[:, ::1] col_scratch,
                  floating[:, ::1] out_scratch, int groups, int KH, int KW, int sh, int sw,
                  int pt, int pl, int dh, int dw, int OH, int OW, int nb, object cols=None):
    """The whole forward in tasks of ``nb`` images: each task builds its images' columns,
    multiplies them into ``out_scratch`` (nthreads, >= Cout*nb*L) and writes NCHW with the
    bias, all while the block is in cache. The columns go to the thread's slot of
    ``col_scratch`` (nthreads, >= C*KH*KW*nb*L), or, when ``cols`` (C*KH*KW, N*L) is given,
    to their place there (kept for the backward)."""
    cdef Py_ssize_t N = out.shape[0], Cout = out.shape[1], L = out.shape[2]
    cdef Py_ssize_t Kg = w.shape[1], Cg = Cout // groups
    cdef Py_ssize_t ntasks = (N + nb - 1) // nb, task, n0, n1, ncol, g, n, co
    cdef const floating[::1] b
    cdef bint has_bias = bias is not None
    cdef floating* cbuf
    cdef floating* obuf
    cdef floating[:, ::1] kept
    cdef bint keep = cols is not None
    cdef Py_ssize_t ld
    cdef int tid
    cdef int nthreads = _omp_threads
    if has_bias:
        b = bias
    if keep:
        kept = cols
    if nthreads > out_scratch.shape[0]:
        nthreads = <int>out_scratch.shape[0]
    for task in prange(ntasks, nogil=True, num_threads=nthreads, schedule="dynamic"):
        tid = threadid()
        obuf = &out_scratch[tid, 0]
        n0 = task * nb
        n1 = min(n0 + nb, N)
        ncol = (n1 - n0) * L
        if keep:
            cbuf = &kept[0, n0 * L]
            ld = N * L
        else:
            cbuf = &col_scratch[tid, 0]
            ld = ncol
        _im2col_block(x, cbuf, ld, n0, n1, KH, KW, sh, sw, pt, pl, dh, dw, OH, OW)
        for g in range(groups):
            gemm(False, False, <int>Cg, <int>ncol, <int>Kg, <floating>1, &w[g * Cg, 0], <int>Kg,
                 cbuf + g * Kg * ld, <int>ld, <floating>0, obuf + g * Cg * ncol, <int>ncol)
        for n in range(n0, n1):
            for co in range(Cout):
                if has_bias:
                    _add_scalar(&out[n, co, 0], obuf + co * ncol + (n - n0) * L, b[co], L)
                else:
                    memcpy(&out[n, co, 0], obuf + co * ncol + (n - n0) * L, L * sizeof(floating))


def weight_grad_fused(const floating[:, ::1] gt, const floating[:, :, :, ::1] x,
                      floating[:, ::1] col_scratch, floating[:, ::1] partial, int groups,
                      int KH, int KW, int sh, int sw, int pt, int pl, int dh, int dw,
                      int OH, int OW, int nb):
    """partial[t] += gt_g[:, block] @ cols_g(block)^T over the image blocks thread t takes,
    rebuilding each block's columns in cache (none were kept). The weight gradient is
    partial.sum(0); ``partial`` (nthreads, Cout*Kg) must be zeroed by the caller."""
    cdef Py_ssize_t Cout = gt.shape[0], NL = gt.shape[1], N = x.shape[0]
    cdef Py_ssize_t L = <Py_ssize_t>OH * OW, Kg = x.shape[1] * KH * KW // groups
    cdef Py_ssize_t Cg = Cout // groups, ntasks = (N + nb - 1) // nb
    cdef Py_ssize_t task, n0, n1, ncol, g
    cdef floating* cbuf
    cdef floating* acc
    cdef int tid
    cdef int nthreads = _omp_threads
    if nthreads > partial.shape[0]:
        nthreads = <int>partial.shape[0]
    # A fixed share of the tasks per thread (not handed out dynamically): every run adds the
    # same numbers in the same order, so the gradient is the same to the last bit.
    for task in prange(ntasks, nogil=True, num_threads=nthreads, schedule="static"):
        tid = threadid()
        cbuf = &col_scratch[tid, 0]
        acc = &partial[tid, 0]
        n0 = task * nb
        n1 = min(n0 + nb, N)
        ncol = (n1 - n0) * L
        _im2col_block(x, cbuf, ncol, n0, n1, KH, KW, sh, sw, pt, pl, dh, dw, OH, OW)
        for g in range(groups):
            gemm(False, True, <int>Cg, <int>Kg, <int>ncol, <floating>1, &gt[g * Cg, n0 * L],
                 <int>NL, cbuf + g * Kg * ncol, <int>ncol, <floating>1, acc + g * Cg * Kg,
                 <int>Kg)


cdef inline void _add_scalar(floating* dst, const floating* src, floating v,
                             Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n):
        dst[j] = src[j] + v


def transpose_grad(const floating[:, :, ::1] grad_output, floating[:, ::1] gt, object bias_sums):
    """gt (Cout, N*L) = grad_output (N, Cout, L) regrouped; bias_sums (N, Cout) row sums."""
    cdef Py_ssize_t N = grad_output.shape[0], Cout = grad_output.shape[1], L = grad_output.shape[2]
    cdef Py_ssize_t task, n, co, j
    cdef bint want_sums = bias_sums is not None
    cdef double[:, ::1] sums
    cdef double s
    cdef int nthreads = _omp_threads
    if want_sums:
        sums = bias_sums
    if N * Cout * L < PARALLEL_MIN:
        nthreads = 1
    for task in prange(N * Cout, nogil=True, num_threads=nthreads, schedule="guided"):
        n = task // Cout
        co = task % Cout
        memcpy(&gt[co, n * L], &grad_output[n, co, 0], L * sizeof(floating))
        if want_sums:
            sums[n, co] = _row_sum(&grad_output[n, co, 0], L)


cdef inline double _row_sum(const floating* src, Py_ssize_t n) noexcept nogil:
    # Eight independent partial sums: vectorisable without reassociating, and accurate.
    cdef double acc[8]
    cdef Py_ssize_t j, k
    for k in range(8):
        acc[k] = 0
    j = 0
    while j + 8 <= n:
        for k in range(8):
            acc[k] += src[j + k]
        j += 8
    while j < n:
        acc[0] += src[j]
        j += 1
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))


def weight_grad(const floating[:, ::1] gt, const floating[:, ::1] cols, floating[:, ::1] gw, int groups):
    """gw (Cout, Kg) = gt_g (Cout/groups, N*L) @ cols_g^T per group."""
    cdef Py_ssize_t Cout = gt.shape[0], NL = gt.shape[1], Kg = gw.shape[1]
    cdef Py_ssize_t Cg = Cout // groups, g
    with nogil:
        for g in range(groups):
            pgemm(False, True, <int>Cg, <int>Kg, <int>NL, <floating>1,
                  &gt[g * Cg, 0], <int>NL, &cols[g * Kg, 0], <int>NL, <floating>0,
                  &gw[g * Cg, 0], <int>Kg)


def weight_grad_blocked(const floating[:, ::1] gt, const floating[:, ::1] cols,
                        floating[:, ::1] partial, int groups, Py_ssize_t chunk):
    """partial[t] += gt_g[:, J] @ cols_g[:, J]^T over the column chunks J that thread t
    takes; the weight gradient is partial.sum(0). ``partial`` is
    (nthreads, Cout*Kg) and must be zeroed by the caller."""
    cdef Py_ssize_t Cout = gt.shape[0], NL = gt.shape[1], Kg = cols.shape[0] // groups
    cdef Py_ssize_t Cg = Cout // groups, ntasks = (NL + chunk - 1) // chunk
    cdef Py_ssize_t task, j0, ncol, g
    cdef floating* acc
    cdef int nthreads = _omp_threads
    if nthreads > partial.shape[0]:
        nthreads = <int>partial.shape[0]
    # A fixed share of the tasks per thread (not handed out dynamically): every run adds the
    # same numbers in the same order, so the gradient is the same to the last bit.
    for task in prange(ntasks, nogil=True, num_threads=nthreads, schedule="static"):
        acc = &partial[threadid(), 0]
        j0 = task * chunk
        ncol = min(chunk, NL - j0)
        for g in range(groups):
            gemm(False, True, <int>Cg, <int>Kg, <int>ncol, <floating>1, &gt[g * Cg, j0], <int>NL,
                 &cols[g * Kg, j0], <int>NL, <floating>1, acc + g * Cg * Kg, <int>Kg)


def weight_grad_small(const floating[:, :, ::1] grad_output, const floating[:, ::1] cols,
                      floating[:, ::1] gw, object bias_grad, int groups):
    """gw (Cout, K) = go_g @ cols_g^T for K <= SMALL_K, straight from the NCHW gradient.

    bias_grad: None, or a float64 (Cout,) array that receives the bias gradient. Threads
    split the output channels; each walks the images in blocks whose columns fit in cache.
    """
    cdef Py_ssize_t N = grad_output.shape[0], Cout = grad_output.shape[1], L = grad_output.shape[2]
    cdef Py_ssize_t K = gw.shape[1], co, t, n0, n1, lo, hi, step
    cdef Py_ssize_t lanes = MG_LANES_F32 if floating is float else MG_LANES_F64
    cdef bint want_bias = bias_grad is not None
    dtype = np.float32 if floating is float else np.float64
    acc_arr = np.zeros((Cout, K, lanes), dtype=dtype)
    bacc_arr = np.zeros((Cout, lanes), dtype=dtype)
    cdef floating[:, :, ::1] acc = acc_arr
    cdef floating[:, ::1] bacc = bacc_arr
    cdef floating* bp
    # Images per block: about 128 KiB of columns.
    cdef Py_ssize_t nb = max(1, (128 * 1024) // (K * L * <Py_ssize_t>sizeof(floating)))
    cdef int nthreads = _omp_threads
    if N * Cout * L < PARALLEL_MIN:
        nthreads = 1
    # Tasks of a few output channels each, handed out dynamically.
    step = max(1, Cout // (4 * nthreads))
    for t in prange((Cout + step - 1) // step, nogil=True, num_threads=nthreads,
                    schedule="dynamic"):
        lo = t * step
        hi = min(lo + step, Cout)
        n0 = 0
        while n0 < N:
            n1 = min(n0 + nb, N)
            for co in range(lo, hi):
                bp = &bacc[co, 0] if want_bias else NULL
                if K == 9:  # one input channel, 3x3: the register-blocked kernel
                    if floating is float:
                        mg_small_weight_grad9_f32(&grad_output[0, 0, 0], &cols[0, 0],
                                                  &acc[co, 0, 0], &bacc[co, 0], co, n0, n1, N,
                                                  Cout, groups, L)
                    else:
                        mg_small_weight_grad9_f64(&grad_output[0, 0, 0], &cols[0, 0],
                                                  &acc[co, 0, 0], &bacc[co, 0], co, n0, n1, N,
                                                  Cout, groups, L)
                elif floating is float:
                    mg_small_weight_grad_f32(&grad_output[0, 0, 0], &cols[0, 0], &acc[co, 0, 0],
                                             bp, co, n0, n1, N, Cout, groups, K, L)
                else:
                    mg_small_weight_grad_f64(&grad_output[0, 0, 0], &cols[0, 0], &acc[co, 0, 0],
                                             bp, co, n0, n1, N, Cout, groups, K, L)
            n0 = n1
    np.asarray(gw)[...] = acc_arr.sum(axis=2, dtype=np.float64)
    if want_bias:
        bias_grad[...] = bacc_arr.sum(axis=1, dtype=np.float64)


def input_grad(const floating[:, ::1] gt, const floating[:, ::1] w, floating[:, ::1] dcols,
               floating[:, :, :, ::1] gx, int groups, int KH, int KW, int sh, int sw,
               int pt, int pl, int dh, int dw, int OH, int OW):
    """gx (N, C, H, W) = col2im(w_g^T @ gt_g); dcols (C*KH*KW, N*L) is scratch."""
    cdef Py_ssize_t Cout = gt.shape[0], NL = gt.shape[1], Kg = w.shape[1]
    cdef Py_ssize_t N = gx.shape[0], C = gx.shape[1], H = gx.shape[2], W = gx.shape[3]
    cdef Py_ssize_t Cg = Cout // groups, g, task
    cdef int nthreads = _omp_threads
    with nogil:
        for g in range(groups):
            pgemm(True, False, <int>Kg, <int>NL, <int>Cg, <floating>1,
                  &w[g * Cg, 0], <int>Kg, &gt[g * Cg, 0], <int>NL, <floating>0,
                  &dcols[g * Kg, 0], <int>NL)
    if N * C * H * W < PARALLEL_MIN:
        nthreads = 1
    for task in prange(N * C, nogil=True, num_threads=nthreads, schedule="guided"):
        _col2im_plane(dcols, gx, task // C, task % C, KH, KW, sh, sw, pt, pl, dh, dw, OH, OW)


def input_grad_blocked(const floating[:, ::1] gt, const floating[:, ::1] w,
                       floating[:, ::1] scratch, floating[:, :, :, ::1] gx, int groups,
                       int KH, int KW, int sh, int sw, int pt, int pl, int dh, int dw,
                       int OH, int OW, int nb):
    """``input_grad`` in tasks of ``nb`` images: each task computes its images' column
    gradient into its thread's slot of ``scratch`` (nthreads, >= C*KH*KW*nb*L) and scatters
    it into gx right away (no full-size column gradient is ever written)."""
    cdef Py_ssize_t Cout = gt.shape[0], NL = gt.shape[1], Kg = w.shape[1]
    cdef Py_ssize_t N = gx.shape[0], C = gx.shape[1], L = <Py_ssize_t>OH * OW
    cdef Py_ssize_t Cg = Cout // groups, ntasks = (N + nb - 1) // nb
    cdef Py_ssize_t task, n0, n1, ncol, g, n, c
    cdef floating* buf
    cdef int nthreads = _omp_threads
    if nthreads > scratch.shape[0]:
        nthreads = <int>scratch.shape[0]
    for task in prange(ntasks, nogil=True, num_threads=nthreads, schedule="dynamic"):
        buf = &scratch[threadid(), 0]
        n0 = task * nb
        n1 = min(n0 + nb, N)
        ncol = (n1 - n0) * L
        for g in range(groups):
            gemm(True, False, <int>Kg, <int>ncol, <int>Cg, <floating>1, &w[g * Cg, 0], <int>Kg,
                 &gt[g * Cg, n0 * L], <int>NL, <floating>0, buf + g * Kg * ncol, <int>ncol)
        for n in range(n0, n1):
            for c in range(C):
                _col2im_plane_ptr(buf + (n - n0) * L, ncol, gx, n, c, KH, KW, sh, sw, pt, pl,
                                  dh, dw, OH, OW)


cdef inline void _col2im_plane(floating[:, ::1] dcols, floating[:, :, :, ::1] gx,
                               Py_ssize_t n, Py_ssize_t c, int KH, int KW, int sh, int sw,
                               int pt, int pl, int dh, int dw, int OH, int OW) noexcept nogil:
    _col2im_plane_ptr(&dcols[0, n * OH * OW], dcols.shape[1], gx, n, c, KH, KW, sh, sw,
                      pt, pl, dh, dw, OH, OW)


cdef inline void _col2im_plane_ptr(const floating* dcols, Py_ssize_t ld,
                                   floating[:, :, :, ::1] gx, Py_ssize_t n, Py_ssize_t c,
                                   int KH, int KW, int sh, int sw, int pt, int pl, int dh, int dw,
                                   int OH, int OW) noexcept nogil:
    """gx[n, c] = the sum of the column-gradient entries of its pixels. Row r of the column
    gradient of image n starts at dcols + r*ld."""
    cdef Py_ssize_t H = gx.shape[2], W = gx.shape[3]
    cdef Py_ssize_t kh, kw, oh, ow, ih, iw0, lo, hi, r
    cdef floating* dst
    cdef const floating* src
    memset(&gx[n, c, 0, 0], 0, H * W * sizeof(floating))
    for kh in range(KH):
        for kw in range(KW):
            r = (c * KH + kh) * KW + kw
            valid_range(kw * dw - pl, sw, W, OW, &lo, &hi)
            if lo >= hi:
                continue
            iw0 = kw * dw - pl
            for oh in range(OH):
                ih = oh * sh - pt + kh * dh
                if ih < 0 or ih >= H:
                    continue
                dst = &gx[n, c, ih, 0]
                src = dcols + r * ld + oh * OW
                if sw == 1:
                    _add_into(dst + iw0 + lo, src + lo, hi - lo)
                else:
                    for ow in range(lo, hi):
                        dst[iw0 + ow * sw] += src[ow]


cdef inline void _add_into(floating* dst, const floating* src, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n):
        dst[j] += src[j]


# --------------------------------------------------------------------------- Winograd F(2x2, 3x3)
# 3x3, stride-1 convolutions with 2.25x fewer multiplications: the transforms are in
# conv_winograd.h (matrices, data layout); the 16 matrix products per block of tiles are
# here. A task takes a range of tile rows (R = n * TH + th over the batch, S slots) and
# works in its thread's slot of a scratch array of ``winograd_workspace`` elements.

cdef extern from "conv_winograd.h":
    Py_ssize_t mg_wino_work_size(Py_ssize_t S) noexcept nogil
    Py_ssize_t mg_wino_plane_stride(Py_ssize_t n, Py_ssize_t elsize) noexcept nogil
    int mg_wino_simd(int enable) noexcept nogil
    void mg_wino_filter_f32(const float* w, float* U, Py_ssize_t Cout, Py_ssize_t Cin,
                            int flip, Py_ssize_t o0, Py_ssize_t o1) noexcept nogil
    void mg_wino_filter_f64(const double* w, double* U, Py_ssize_t Cout, Py_ssize_t Cin,
                            int flip, Py_ssize_t o0, Py_ssize_t o1) noexcept nogil
    void mg_wino_weight_f32(const float* dU, float* gw, Py_ssize_t Cout,
                            Py_ssize_t Cin) noexcept nogil
    void mg_wino_weight_f64(const double* dU, double* gw, Py_ssize_t Cout,
                            Py_ssize_t Cin) noexcept nogil
    void mg_wino_input_f32(const float* x, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                           Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t pt, Py_ssize_t pl,
                           Py_ssize_t R0, Py_ssize_t R1, float* V, Py_ssize_t ps,
                           float* work) noexcept nogil
    void mg_wino_input_f64(const double* x, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                           Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t pt, Py_ssize_t pl,
                           Py_ssize_t R0, Py_ssize_t R1, double* V, Py_ssize_t ps,
                           double* work) noexcept nogil
    int mg_wino_output_f32(const float* M, Py_ssize_t ps, const float* bias, float* out, Py_ssize_t Cout,
                            Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t TH, Py_ssize_t TW,
                            Py_ssize_t R0, Py_ssize_t R1, float* work) noexcept nogil
    int mg_wino_output_f64(const double* M, Py_ssize_t ps, const double* bias, double* out, Py_ssize_t Cout,
                            Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t TH, Py_ssize_t TW,
                            Py_ssize_t R0, Py_ssize_t R1, double* work) noexcept nogil
    void mg_wino_grad_output_f32(const float* g, Py_ssize_t Cout, Py_ssize_t OH, Py_ssize_t OW,
                                 Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t R0, Py_ssize_t R1,
                                 float* D, Py_ssize_t ps, float* work) noexcept nogil
    void mg_wino_grad_output_f64(const double* g, Py_ssize_t Cout, Py_ssize_t OH, Py_ssize_t OW,
                                 Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t R0, Py_ssize_t R1,
                                 double* D, Py_ssize_t ps, double* work) noexcept nogil


def winograd_simd(enable=None) -> bool:
    """Whether the Winograd gathers use AVX-512 (the CPU has it and it is not switched off);
    ``enable`` False/True switches it off/on (to test the portable code)."""
    return bool(mg_wino_simd(-1 if enable is None else int(bool(enable))))


def winograd_workspace(Py_ssize_t cin, Py_ssize_t cout, Py_ssize_t rows, Py_ssize_t ow) -> int:
    """Elements of one thread's scratch (either dtype) for tasks of ``rows`` tile rows of an
    output ``ow`` wide: V (16, cin, S), M or D (16, cout, S) and the gather buffers,
    S = rows * (TW + 1)."""
    cdef Py_ssize_t S = rows * ((ow + 1) // 2 + 1)
    return (16 * (mg_wino_plane_stride(cin * S, 4) + mg_wino_plane_stride(cout * S, 4))
            + max(mg_wino_work_size(S), 4 * S))


def winograd_filter(const floating[:, :, :, ::1] w, floating[:, :, ::1] U, bint flip):
    """U (16, Cout, Cin) = G w G^T per filter of w (Cout, Cin, 3, 3); with ``flip``, U is
    (16, Cin, Cout) from the filters rotated by 180 degrees (the input gradient's)."""
    cdef Py_ssize_t Cout = w.shape[0], Cin = w.shape[1], step, t
    cdef int nthreads = _omp_threads
    if Cout * Cin * 16 < PARALLEL_MIN:
        nthreads = 1
    step = (Cout + 2 * nthreads - 1) // (2 * nthreads)
    for t in prange((Cout + step - 1) // step, nogil=True, num_threads=nthreads,
                    schedule="dynamic"):
        if floating is float:
            mg_wino_filter_f32(&w[0, 0, 0, 0], &U[0, 0, 0], Cout, Cin, flip, t * step,
                               min(t * step + step, Cout))
        else:
            mg_wino_filter_f64(&w[0, 0, 0, 0], &U[0, 0, 0], Cout, Cin, flip, t * step,
                               min(t * step + step, Cout))


def winograd_weight(const floating[:, :, ::1] dU, floating[:, :, :, ::1] gw):
    """gw (Cout, Cin, 3, 3) = G^T dU G from the summed products dU (16, Cout, Cin)."""
    if floating is float:
        mg_wino_weight_f32(&dU[0, 0, 0], &gw[0, 0, 0, 0], gw.shape[0], gw.shape[1])
    else:
        mg_wino_weight_f64(&dU[0, 0, 0], &gw[0, 0, 0, 0], gw.shape[0], gw.shape[1])


def winograd_forward(const floating[:, :, :, ::1] x, const floating[:, :, ::1] U, object bias,
                     floating[:, :, :, ::1] out, floating[:, ::1] scratch, int pt, int pl,
                     int rows):
    """out (N, Cout, OH, OW) = the 3x3 stride-1 convolution of x (N, C, H, W), zero-padded by
    pt on top and pl on the left (the other sides follow from OH, OW), with the transformed
    filters U (16, Cout, C) and bias (Cout,) or None. Tasks of ``rows`` tile rows; scratch
    (threads, >= winograd_workspace(C, Cout, rows, OW)). Returns True if out holds a NaN
    (see ``mg_wino_output``: the caller should recompute it another way)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t Cout = out.shape[1], OH = out.shape[2], OW = out.shape[3]
    cdef Py_ssize_t TH = (OH + 1) // 2, TW = (OW + 1) // 2
    cdef Py_ssize_t nrows = N * TH, ntasks = (nrows + rows - 1) // rows
    cdef Py_ssize_t task, R0, R1, S, p, psv, psm
    cdef Py_ssize_t elsize = sizeof(floating)
    cdef floating* V
    cdef floating* M
    cdef floating* work
    cdef const floating[::1] b
    cdef const floating* bptr = NULL
    cdef int nthreads = _omp_threads
    cdef int nan = 0
    if bias is not None:
        b = bias
        bptr = &b[0]
    if nthreads > scratch.shape[0]:
        nthreads = <int>scratch.shape[0]
    if ntasks < 2:
        nthreads = 1
    for task in prange(ntasks, nogil=True, num_threads=nthreads, schedule="dynamic"):
        R0 = task * rows
        R1 = min(R0 + rows, nrows)
        S = (R1 - R0) * (TW + 1)
        psv = mg_wino_plane_stride(C * S, elsize)
        psm = mg_wino_plane_stride(Cout * S, elsize)
        V = &scratch[threadid(), 0]
        M = V + 16 * psv
        work = M + 16 * psm
        if floating is float:
            mg_wino_input_f32(&x[0, 0, 0, 0], C, H, W, TH, TW, pt, pl, R0, R1, V, psv, work)
        else:
            mg_wino_input_f64(&x[0, 0, 0, 0], C, H, W, TH, TW, pt, pl, R0, R1, V, psv, work)
        for p in range(16):
            gemm(False, False, <int>Cout, <int>S, <int>C, <floating>1, &U[p, 0, 0], <int>C,
                 V + p * psv, <int>S, <floating>0, M + p * psm, <int>S)
        if floating is float:
            nan |= mg_wino_output_f32(M, psm, bptr, &out[0, 0, 0, 0], Cout, OH, OW, TH, TW,
                                      R0, R1, work)
        else:
            nan |= mg_wino_output_f64(M, psm, bptr, &out[0, 0, 0, 0], Cout, OH, OW, TH, TW,
                                      R0, R1, work)
    return nan != 0


def winograd_weight_grad(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] g,
                         floating[:, ::1] partial, object bias_partial, floating[:, ::1] scratch,
                         int pt, int pl, int rows):
    """partial[t] (16 * Cout * C) += sum over the tiles thread t takes of D[p] @ V[p]^T, the
    products whose G^T . G is the weight gradient (``winograd_weight`` of partial.sum(0)).
    x (N, C, H, W) with padding pt/pl as in the forward, g (N, Cout, OH, OW) the output
    gradient. bias_partial: None or float64 (threads, Cout), += the sums of g. Both partial
    arrays must be zeroed by the caller."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t Cout = g.shape[1], OH = g.shape[2], OW = g.shape[3]
    cdef Py_ssize_t TH = (OH + 1) // 2, TW = (OW + 1) // 2
    cdef Py_ssize_t nrows = N * TH, ntasks = (nrows + rows - 1) // rows
    cdef Py_ssize_t task, R0, R1, S, p, co, psv, psd, rows_b
    # Output channels per product: OpenBLAS runs these products (both operands contracted
    # along their rows) about 10% faster in blocks of at most ~1024 outputs (measured: no
    # packing then); with very many input channels the blocks would get too thin.
    cdef Py_ssize_t block = Cout
    if C * Cout > 1024 and 1024 // C >= 8:
        block = 1024 // C
    cdef Py_ssize_t elsize = sizeof(floating)
    cdef floating* V
    cdef floating* D
    cdef floating* work
    cdef floating* acc
    cdef double[:, ::1] bsum
    cdef bint want_bias = bias_partial is not None
    cdef int tid
    cdef int nthreads = _omp_threads
    if want_bias:
        bsum = bias_partial
    if nthreads > scratch.shape[0]:
        nthreads = <int>scratch.shape[0]
    if nthreads > partial.shape[0]:
        nthreads = <int>partial.shape[0]
    if ntasks < 2:
        nthreads = 1
    # A fixed share of the tasks per thread (not handed out dynamically): every run adds the
    # same numbers in the same order, so the gradient is the same to the last bit.
    for task in prange(ntasks, nogil=True, num_threads=nthreads, schedule="static"):
        tid = threadid()
        R0 = task * rows
        R1 = min(R0 + rows, nrows)
        S = (R1 - R0) * (TW + 1)
        psv = mg_wino_plane_stride(C * S, elsize)
        psd = mg_wino_plane_stride(Cout * S, elsize)
        V = &scratch[tid, 0]
        D = V + 16 * psv
        work = D + 16 * psd
        acc = &partial[tid, 0]
        if floating is float:
            mg_wino_input_f32(&x[0, 0, 0, 0], C, H, W, TH, TW, pt, pl, R0, R1, V, psv, work)
            mg_wino_grad_output_f32(&g[0, 0, 0, 0], Cout, OH, OW, TH, TW, R0, R1, D, psd, work)
        else:
            mg_wino_input_f64(&x[0, 0, 0, 0], C, H, W, TH, TW, pt, pl, R0, R1, V, psv, work)
            mg_wino_grad_output_f64(&g[0, 0, 0, 0], Cout, OH, OW, TH, TW, R0, R1, D, psd, work)
        for p in range(16):
            co = 0
            while co < Cout:
                rows_b = min(block, Cout - co)
                gemm(False, True, <int>rows_b, <int>C, <int>S, <floating>1, D + p * psd + co * S,
                     <int>S, V + p * psv, <int>S, <floating>1, acc + p * Cout * C + co * C, <int>C)
                co = co + rows_b
        if want_bias:
            # D[5] = (A g A^T)[1, 1] is the sum of each 2x2 gradient tile.
            for co in range(Cout):
                bsum[tid, co] += _row_sum(D + 5 * psd + co * S, S)
