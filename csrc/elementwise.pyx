# cython: language_level=3
"""Compiled elementwise kernels on the hot path of a training step.

Same signatures as their twins in ``minigrad/backend/reference.py``; inputs are
C-contiguous float32/float64 arrays (the Python wrappers in
``minigrad/backend/compiled.py`` make sure of that).
"""

from cython.parallel cimport prange
from libc.stdint cimport int64_t

cimport numpy as cnp
import numpy as np

cnp.import_array()

ctypedef fused floating:
    float
    double

cdef extern from "omp_compat.h":
    int mg_omp_available() nogil
    int mg_omp_get_max_threads() nogil
    void mg_omp_set_num_threads(int n) nogil

# Below this many elements a parallel region costs more than it saves.
cdef Py_ssize_t PARALLEL_MIN = 1 << 16


def openmp_available() -> bool:
    return mg_omp_available() == 1


def get_num_threads() -> int:
    return mg_omp_get_max_threads()


def set_num_threads(int n) -> None:
    mg_omp_set_num_threads(n)


# The loops are plain C so that they compile to straight vector code (compare, mask): a
# branch per element would be mispredicted half the time on activations. Semantics are
# torch's: relu(x) = 0 if x < 0 else x (so relu(-0.0) = -0.0, relu(NaN) = NaN), and its
# gradient is 0 where the output is <= 0, else the incoming gradient (NaN outputs pass it).
cdef extern from *:
    """
    #define MG_RELU_LOOPS(T, SUF)                                                        \
    static void mg_relu_fwd_##SUF(const T *restrict x, T *restrict out, Py_ssize_t n)    \
    {                                                                                     \
        for (Py_ssize_t i = 0; i < n; i++)                                                \
            out[i] = x[i] < 0 ? (T)0 : x[i];                                              \
    }                                                                                     \
    static void mg_relu_bwd_##SUF(const T *restrict g, const T *restrict out,             \
                                  T *restrict gi, Py_ssize_t n)                           \
    {                                                                                     \
        for (Py_ssize_t i = 0; i < n; i++) {                                              \
            const T gv = g[i]; /* read unconditionally, so the select vectorizes */       \
            gi[i] = out[i] <= 0 ? (T)0 : gv;                                              \
        }                                                                                 \
    }
    MG_RELU_LOOPS(float, f32)
    MG_RELU_LOOPS(double, f64)
    """
    void mg_relu_fwd_f32(const float *x, float *out, Py_ssize_t n) nogil
    void mg_relu_fwd_f64(const double *x, double *out, Py_ssize_t n) nogil
    void mg_relu_bwd_f32(const float *g, const float *out, float *gi, Py_ssize_t n) nogil
    void mg_relu_bwd_f64(const double *g, const double *out, double *gi, Py_ssize_t n) nogil

# Parallel work is split into this many contiguous chunks per thread call.
cdef Py_ssize_t CHUNK = 1 << 14


def _relu_forward(const floating[::1] x, floating[::1] out):
    cdef Py_ssize_t n = x.shape[0], nchunks = (n + CHUNK - 1) // CHUNK, c, lo
    if n == 0:
        return
    cdef const floating *xp = &x[0]
    cdef floating *op = &out[0]
    if n >= PARALLEL_MIN:
        for c in prange(nchunks, nogil=True, schedule="static"):
            lo = c * CHUNK
            if floating is float:
                mg_relu_fwd_f32(xp + lo, op + lo, min(CHUNK, n - lo))
            else:
                mg_relu_fwd_f64(xp + lo, op + lo, min(CHUNK, n - lo))
    else:
        with nogil:
            if floating is float:
                mg_relu_fwd_f32(xp, op, n)
            else:
                mg_relu_fwd_f64(xp, op, n)


def _relu_backward(const floating[::1] grad_output, const floating[::1] out, floating[::1] grad_input):
    cdef Py_ssize_t n = out.shape[0], nchunks = (n + CHUNK - 1) // CHUNK, c, lo
    if n == 0:
        return
    cdef const floating *gp = &grad_output[0]
    cdef const floating *op = &out[0]
    cdef floating *gip = &grad_input[0]
    if n >= PARALLEL_MIN:
        for c in prange(nchunks, nogil=True, schedule="static"):
            lo = c * CHUNK
            if floating is float:
                mg_relu_bwd_f32(gp + lo, op + lo, gip + lo, min(CHUNK, n - lo))
            else:
                mg_relu_bwd_f64(gp + lo, op + lo, gip + lo, min(CHUNK, n - lo))
    else:
        with nogil:
            if floating is float:
                mg_relu_bwd_f32(gp, op, gip, n)
            else:
                mg_relu_bwd_f64(gp, op, gip, n)


# Fused log-softmax + NLL (see ``log_softmax_nll_forward`` in reference.py): per row, the
# loss logsumexp(x) - x[t] and the gradient softmax(x) - onehot(t) in two passes over the
# row. A NaN anywhere in a row makes its loss and gradient NaN, as in torch (it poisons the
# sum of exponentials); the sum is accumulated in double.
cdef extern from *:
    """
    #include <math.h>
    #define MG_LSM_NLL_ROWS(T, SUF, EXP)                                                      \\
    static void mg_lsm_nll_rows_##SUF(const T *restrict x, const int64_t *restrict target,    \\
                                      int64_t ignore_index, T *restrict loss,                 \\
                                      T *restrict grad, Py_ssize_t r0, Py_ssize_t r1,         \\
                                      Py_ssize_t C)                                           \\
    {                                                                                         \\
        for (Py_ssize_t r = r0; r < r1; r++) {                                                \\
            const T *xr = x + r * C;                                                          \\
            T *gr = grad + r * C;                                                             \\
            T m = xr[0];                                                                      \\
            for (Py_ssize_t c = 1; c < C; c++)                                                \\
                m = xr[c] > m ? xr[c] : m;                                                    \\
            double s = 0;                                                                     \\
            for (Py_ssize_t c = 0; c < C; c++) {                                              \\
                const T e = EXP(xr[c] - m);                                                   \\
                gr[c] = e;                                                                    \\
                s += e;                                                                       \\
            }                                                                                 \\
            const T inv = (T)(1.0 / s);                                                       \\
            const int64_t t = target[r];                                                      \\
            if (t != ignore_index) {                                                          \\
                for (Py_ssize_t c = 0; c < C; c++)                                            \\
                    gr[c] *= inv;                                                             \\
                gr[t] -= 1;                                                                   \\
                loss[r] = (T)((double)m + log(s) - (double)xr[t]);                            \\
            } else {                                                                          \\
                for (Py_ssize_t c = 0; c < C; c++)                                            \\
                    gr[c] = gr[c] * inv * 0; /* 0, or NaN in a NaN row (torch) */            \\
                loss[r] = 0;                                                                  \\
            }                                                                                 \\
        }                                                                                     \\
    }
    MG_LSM_NLL_ROWS(float, f32, expf)
    MG_LSM_NLL_ROWS(double, f64, exp)
    """
    void mg_lsm_nll_rows_f32(const float *x, const int64_t *target, int64_t ignore_index,
                             float *loss, float *grad, Py_ssize_t r0, Py_ssize_t r1,
                             Py_ssize_t C) nogil
    void mg_lsm_nll_rows_f64(const double *x, const int64_t *target, int64_t ignore_index,
                             double *loss, double *grad, Py_ssize_t r0, Py_ssize_t r1,
                             Py_ssize_t C) nogil


def _log_softmax_nll_forward(const floating[:, ::1] x, const int64_t[::1] target, int64_t ignore_index,
                             floating[::1] loss, floating[:, ::1] grad):
    """x (N, C), target (N,) (validated) -> loss (N,), grad (N, C). Serial: the wrapper sends
    only small inputs here (classification heads), where a parallel region does not pay."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1]
    if N == 0 or C == 0:
        return
    cdef const floating *xp = &x[0, 0]
    cdef const int64_t *tp = &target[0]
    cdef floating *lp = &loss[0]
    cdef floating *gp = &grad[0, 0]
    with nogil:
        if floating is float:
            mg_lsm_nll_rows_f32(xp, tp, ignore_index, lp, gp, 0, N, C)
        else:
            mg_lsm_nll_rows_f64(xp, tp, ignore_index, lp, gp, 0, N, C)
