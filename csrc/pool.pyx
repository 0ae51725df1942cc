# cython: language_level=3
"""Compiled max/avg pooling (the loops are in pool.h / pool_impl.h).

Same semantics as the reference kernels in ``minigrad/backend/reference.py``; the Python
wrappers in ``minigrad/backend/compiled.py`` validate the geometry, make inputs
C-contiguous and allocate outputs. Arrays arrive as stacks of (H, W) planes, one per
(n, c). Planes are independent, so they run in parallel (OpenMP, with the thread count set
by ``minigrad.set_num_threads``) when the tensor is large enough to pay for it.
"""

from cython.parallel cimport prange
from libc.stdint cimport int64_t

ctypedef fused floating:
    float
    double

cdef extern from "pool.h" nogil:
    ctypedef struct mg_pool_geom:
        int64_t H, W, OH, OW
        int64_t KH, KW, SH, SW, PH, PW, DH, DW
    void mg_max_pool_fwd_f32(const float *x, float *out, void *arg, int wide_arg,
                             const mg_pool_geom *g)
    void mg_max_pool_fwd_f64(const double *x, double *out, void *arg, int wide_arg,
                             const mg_pool_geom *g)
    void mg_max_pool_bwd_f32(const float *go, const void *arg, int wide_arg, float *gi,
                             const mg_pool_geom *g)
    void mg_max_pool_bwd_f64(const double *go, const void *arg, int wide_arg, double *gi,
                             const mg_pool_geom *g)
    void mg_avg_pool_fwd_f32(const float *x, float *out, const mg_pool_geom *g,
                             int count_include_pad, int64_t divisor_override)
    void mg_avg_pool_fwd_f64(const double *x, double *out, const mg_pool_geom *g,
                             int count_include_pad, int64_t divisor_override)
    void mg_avg_pool_bwd_f32(const float *go, float *gi, const mg_pool_geom *g,
                             int count_include_pad, int64_t divisor_override)
    void mg_avg_pool_bwd_f64(const double *go, double *gi, const mg_pool_geom *g,
                             int count_include_pad, int64_t divisor_override)

cdef extern from "pool.h" nogil:
    int mg_pool_simd
    int mg_pool_best_simd()

_SIMD_NAMES = ("none", "sse2", "avx2")
mg_pool_simd = mg_pool_best_simd()


def simd() -> str:
    """The instruction set of the float 2x2 max-pooling loops: 'avx2', 'sse2' or 'none'."""
    return _SIMD_NAMES[mg_pool_simd]


def set_simd(name: str) -> None:
    """Use a lower instruction set than the CPU's best (for tests of every code path)."""
    global mg_pool_simd
    level = _SIMD_NAMES.index(name)
    if level > mg_pool_best_simd() or (level == 0 and mg_pool_best_simd() > 0):
        raise ValueError(f"set_simd: {name!r} is not available in this build on this CPU")
    mg_pool_simd = level


# Below this many input elements one thread does the whole tensor.
cdef Py_ssize_t PARALLEL_MIN = 1 << 15


cdef mg_pool_geom _geom(Py_ssize_t H, Py_ssize_t W, Py_ssize_t OH, Py_ssize_t OW,
                        kernel, stride, padding, dilation) except *:
    cdef mg_pool_geom g
    g.H, g.W, g.OH, g.OW = H, W, OH, OW
    g.KH, g.KW = kernel
    g.SH, g.SW = stride
    g.PH, g.PW = padding
    g.DH, g.DW = dilation
    return g


cdef inline bint _parallel(Py_ssize_t planes, Py_ssize_t plane_size) noexcept:
    return planes > 1 and planes * plane_size >= PARALLEL_MIN


def max_pool2d_forward(const floating[:, :, ::1] x, floating[:, :, ::1] out, unsigned char[:, ::1] arg,
                       bint wide_arg, kernel, stride, padding, dilation):
    """x (P, H, W) -> out (P, OH, OW) and arg (P, bytes of one plane's window positions)."""
    cdef Py_ssize_t P = x.shape[0], p
    if P == 0:
        return
    cdef mg_pool_geom g = _geom(x.shape[1], x.shape[2], out.shape[1], out.shape[2],
                                kernel, stride, padding, dilation)
    cdef Py_ssize_t xs = g.H * g.W, os = g.OH * g.OW, as_ = arg.shape[1]
    cdef const floating *xp = &x[0, 0, 0]
    cdef floating *op = &out[0, 0, 0]
    cdef unsigned char *ap = &arg[0, 0]
    if _parallel(P, xs):
        for p in prange(P, nogil=True, schedule="static"):
            if floating is float:
                mg_max_pool_fwd_f32(xp + p * xs, op + p * os, ap + p * as_, wide_arg, &g)
            else:
                mg_max_pool_fwd_f64(xp + p * xs, op + p * os, ap + p * as_, wide_arg, &g)
    else:
        with nogil:
            for p in range(P):
                if floating is float:
                    mg_max_pool_fwd_f32(xp + p * xs, op + p * os, ap + p * as_, wide_arg, &g)
                else:
                    mg_max_pool_fwd_f64(xp + p * xs, op + p * os, ap + p * as_, wide_arg, &g)


def max_pool2d_backward(const floating[:, :, ::1] grad_output, const unsigned char[:, ::1] arg, bint wide_arg,
                        floating[:, :, ::1] grad_input, kernel, stride, padding, dilation):
    """grad_output (P, OH, OW), arg -> grad_input (P, H, W), every element written."""
    cdef Py_ssize_t P = grad_input.shape[0], p
    if P == 0:
        return
    cdef mg_pool_geom g = _geom(grad_input.shape[1], grad_input.shape[2], grad_output.shape[1],
                                grad_output.shape[2], kernel, stride, padding, dilation)
    cdef Py_ssize_t xs = g.H * g.W, os = g.OH * g.OW, as_ = arg.shape[1]
    cdef const floating *gp = &grad_output[0, 0, 0]
    cdef floating *gip = &grad_input[0, 0, 0]
    cdef const unsigned char *ap = &arg[0, 0]
    if _parallel(P, xs):
        for p in prange(P, nogil=True, schedule="static"):
            if floating is float:
                mg_max_pool_bwd_f32(gp + p * os, ap + p * as_, wide_arg, gip + p * xs, &g)
            else:
                mg_max_pool_bwd_f64(gp + p * os, ap + p * as_, wide_arg, gip + p * xs, &g)
    else:
        with nogil:
            for p in range(P):
                if floating is float:
                    mg_max_pool_bwd_f32(gp + p * os, ap + p * as_, wide_arg, gip + p * xs, &g)
                else:
                    mg_max_pool_bwd_f64(gp + p * os, ap + p * as_, wide_arg, gip + p * xs, &g)


def avg_pool2d_forward(const floating[:, :, ::1] x, floating[:, :, ::1] out, kernel, stride, padding,
                       bint count_include_pad, int64_t divisor_override):
    """x (P, H, W) -> out (P, OH, OW); divisor_override 0 means none."""
    cdef Py_ssize_t P = x.shape[0], p
    if P == 0:
        return
    cdef mg_pool_geom g = _geom(x.shape[1], x.shape[2], out.shape[1], out.shape[2],
                                kernel, stride, padding, (1, 1))
    cdef Py_ssize_t xs = g.H * g.W, os = g.OH * g.OW
    cdef const floating *xp = &x[0, 0, 0]
    cdef floating *op = &out[0, 0, 0]
    if _parallel(P, xs):
        for p in prange(P, nogil=True, schedule="static"):
            if floating is float:
                mg_avg_pool_fwd_f32(xp + p * xs, op + p * os, &g, count_include_pad, divisor_override)
            else:
                mg_avg_pool_fwd_f64(xp + p * xs, op + p * os, &g, count_include_pad, divisor_override)
    else:
        with nogil:
            for p in range(P):
                if floating is float:
                    mg_avg_pool_fwd_f32(xp + p * xs, op + p * os, &g, count_include_pad, divisor_override)
                else:
                    mg_avg_pool_fwd_f64(xp + p * xs, op + p * os, &g, count_include_pad, divisor_override)


def avg_pool2d_backward(const floating[:, :, ::1] grad_output, floating[:, :, ::1] grad_input, kernel,
                        stride, padding, bint count_include_pad, int64_t divisor_override):
    """grad_output (P, OH, OW) -> grad_input (P, H, W); divisor_override 0 means none."""
    cdef Py_ssize_t P = grad_input.shape[0], p
    if P == 0:
        return
    cdef mg_pool_geom g = _geom(grad_input.shape[1], grad_input.shape[2], grad_output.shape[1],
                                grad_output.shape[2], kernel, stride, padding, (1, 1))
    cdef Py_ssize_t xs = g.H * g.W, os = g.OH * g.OW
    cdef const floating *gp = &grad_output[0, 0, 0]
    cdef floating *gip = &grad_input[0, 0, 0]
    if _parallel(P, xs):
        for p in prange(P, nogil=True, schedule="static"):
            if floating is float:
                mg_avg_pool_bwd_f32(gp + p * os, gip + p * xs, &g, count_include_pad, divisor_override)
            else:
                mg_avg_pool_bwd_f64(gp + p * os, gip + p * xs, &g, count_include_pad, divisor_override)
    else:
        with nogil:
            for p in range(P):
                if floating is float:
                    mg_avg_pool_bwd_f32(gp + p * os, gip + p * xs, &g, count_include_pad, divisor_override)
                else:
                    mg_avg_pool_bwd_f64(gp + p * os, gip + p * xs, &g, count_include_pad, divisor_override)
