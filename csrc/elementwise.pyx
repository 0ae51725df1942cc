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

# The entry points below take whole arrays and read their data pointers directly: typed
# memoryviews of a fused type cost about a microsecond per call to dispatch and acquire,
# as much as the loop itself on a (64, 200) activation.


cdef int _check_same(cnp.ndarray a, cnp.ndarray b, str op) except -1:
    """Both C-contiguous float32/float64 arrays of one dtype and size (else ValueError)."""
    if not (cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_IS_C_CONTIGUOUS(b)):
        raise ValueError(f"{op}: arrays must be C-contiguous")
    if cnp.PyArray_TYPE(a) != cnp.PyArray_TYPE(b) or cnp.PyArray_SIZE(a) != cnp.PyArray_SIZE(b):
        raise ValueError(f"{op}: arrays must have the same dtype and size")
    if cnp.PyArray_TYPE(a) != cnp.NPY_FLOAT32 and cnp.PyArray_TYPE(a) != cnp.NPY_FLOAT64:
        raise ValueError(f"{op}: only float32 and float64 arrays are supported")
    return 0


def relu_forward_into(cnp.ndarray x, cnp.ndarray out):
    """out = relu(x); C-contiguous arrays of one float dtype and size; ``out`` writeable."""
    _check_same(x, out, "relu_forward_into")
    if not cnp.PyArray_ISWRITEABLE(out):
        raise ValueError("relu_forward_into: out must be writeable")
    cdef Py_ssize_t n = cnp.PyArray_SIZE(x), nchunks = (n + CHUNK - 1) // CHUNK, c, lo
    cdef bint single = cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT32
    cdef void *xp = cnp.PyArray_DATA(x)
    cdef void *op = cnp.PyArray_DATA(out)
    if n >= PARALLEL_MIN:
        for c in prange(nchunks, nogil=True, schedule="static"):
            lo = c * CHUNK
            if single:
                mg_relu_fwd_f32(<float *>xp + lo, <float *>op + lo, min(CHUNK, n - lo))
            else:
                mg_relu_fwd_f64(<double *>xp + lo, <double *>op + lo, min(CHUNK, n - lo))
    elif n:
        with nogil:
            if single:
                mg_relu_fwd_f32(<float *>xp, <float *>op, n)
            else:
                mg_relu_fwd_f64(<double *>xp, <double *>op, n)


def relu_backward_into(cnp.ndarray grad_output, cnp.ndarray out, cnp.ndarray grad_input):
    """grad_input = grad_output where out > 0, else 0; like ``relu_forward_into``."""
    _check_same(grad_output, out, "relu_backward_into")
    _check_same(out, grad_input, "relu_backward_into")
    if not cnp.PyArray_ISWRITEABLE(grad_input):
        raise ValueError("relu_backward_into: grad_input must be writeable")
    cdef Py_ssize_t n = cnp.PyArray_SIZE(out), nchunks = (n + CHUNK - 1) // CHUNK, c, lo
    cdef bint single = cnp.PyArray_TYPE(out) == cnp.NPY_FLOAT32
    cdef void *gp = cnp.PyArray_DATA(grad_output)
    cdef void *op = cnp.PyArray_DATA(out)
    cdef void *gip = cnp.PyArray_DATA(grad_input)
    if n >= PARALLEL_MIN:
        for c in prange(nchunks, nogil=True, schedule="static"):
            lo = c * CHUNK
            if single:
                mg_relu_bwd_f32(<float *>gp + lo, <float *>op + lo, <float *>gip + lo,
                                min(CHUNK, n - lo))
            else:
                mg_relu_bwd_f64(<double *>gp + lo, <double *>op + lo, <double *>gip + lo,
                                min(CHUNK, n - lo))
    elif n:
        with nogil:
            if single:
                mg_relu_bwd_f32(<float *>gp, <float *>op, <float *>gip, n)
            else:
                mg_relu_bwd_f64(<double *>gp, <double *>op, <double *>gip, n)


# Fused log-softmax + NLL (see ``log_softmax_nll_forward`` in reference.py): per row, the
# loss logsumexp(x) - x[t] and the gradient softmax(x) - onehot(t) in two passes over the
# row. A NaN anywhere in a row makes its loss and gradient NaN, as in torch (it poisons the
# sum of exponentials); the sum is accumulated in double. The class index is checked before
# the row is touched: the loop stops at the first row whose target is out of range and
# returns that row (-1 when all are valid).
cdef extern from *:
    """
    #include <math.h>
    #define MG_LSM_NLL_ROWS(T, SUF, EXP)                                                      \\
    static Py_ssize_t mg_lsm_nll_rows_##SUF(const T *restrict x, const int64_t *restrict target, \\
                                      int64_t ignore_index, T *restrict loss,                 \\
                                      T *restrict grad, Py_ssize_t r0, Py_ssize_t r1,         \\
                                      Py_ssize_t C)                                           \\
    {                                                                                         \\
        for (Py_ssize_t r = r0; r < r1; r++) {                                                \\
            const int64_t t = target[r];                                                      \\
            if (t != ignore_index && (t < 0 || t >= C))                                       \\
                return r;                                                                     \\
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
        return -1;                                                                            \\
    }
    MG_LSM_NLL_ROWS(float, f32, expf)
    MG_LSM_NLL_ROWS(double, f64, exp)
    """
    Py_ssize_t mg_lsm_nll_rows_f32(const float *x, const int64_t *target, int64_t ignore_index,
                                   float *loss, float *grad, Py_ssize_t r0, Py_ssize_t r1,
                                   Py_ssize_t C) nogil
    Py_ssize_t mg_lsm_nll_rows_f64(const double *x, const int64_t *target, int64_t ignore_index,
                                   double *loss, double *grad, Py_ssize_t r0, Py_ssize_t r1,
                                   Py_ssize_t C) nogil


def log_softmax_nll_into(cnp.ndarray x, cnp.ndarray target, int64_t ignore_index,
                         cnp.ndarray loss, cnp.ndarray grad) -> int:
    """x (N, C), target (N,) int64 -> loss (N,), grad (N, C), all C-contiguous, x/loss/grad
    of one float dtype. Returns -1, or the first row whose target is neither a class index
    nor ``ignore_index`` (loss and grad are then incomplete). Serial: the wrapper sends only
    small inputs here (classification heads), where a parallel region does not pay."""
    if cnp.PyArray_NDIM(x) != 2 or cnp.PyArray_NDIM(grad) != 2 or cnp.PyArray_NDIM(loss) != 1:
        raise ValueError("log_softmax_nll_into: expected x (N, C), loss (N,) and grad (N, C)")
    _check_same(x, grad, "log_softmax_nll_into")
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1]
    if (cnp.PyArray_TYPE(loss) != cnp.PyArray_TYPE(x) or not cnp.PyArray_IS_C_CONTIGUOUS(loss)
            or loss.shape[0] != N or grad.shape[0] != N):
        raise ValueError("log_softmax_nll_into: loss must be a contiguous (N,) array of x's dtype")
    if (cnp.PyArray_TYPE(target) != cnp.NPY_INT64 or cnp.PyArray_NDIM(target) != 1
            or target.shape[0] != N or not cnp.PyArray_IS_C_CONTIGUOUS(target)):
        raise ValueError("log_softmax_nll_into: target must be a contiguous (N,) int64 array")
    if not (cnp.PyArray_ISWRITEABLE(loss) and cnp.PyArray_ISWRITEABLE(grad)):
        raise ValueError("log_softmax_nll_into: loss and grad must be writeable")
    if N == 0 or C == 0:
        return -1
    cdef const int64_t *tp = <const int64_t *>cnp.PyArray_DATA(target)
    cdef void *xp = cnp.PyArray_DATA(x)
    cdef void *lp = cnp.PyArray_DATA(loss)
    cdef void *gp = cnp.PyArray_DATA(grad)
    cdef Py_ssize_t bad
    cdef bint single = cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT32
    with nogil:
        if single:
            bad = mg_lsm_nll_rows_f32(<float *>xp, tp, ignore_index, <float *>lp, <float *>gp,
                                      0, N, C)
        else:
            bad = mg_lsm_nll_rows_f64(<double *>xp, tp, ignore_index, <double *>lp, <double *>gp,
                                      0, N, C)
    return bad
