# cython: language_level=3
"""Compiled matrix products: batched row-major GEMM for ``matmul`` and ``linear``.

The Python wrappers in ``minigrad/backend/compiled.py`` describe every operand as a base
array plus, per batch entry, an element offset, a transpose flag and a leading dimension,
so transposed and sliced views reach BLAS without a copy.
"""

cimport numpy as cnp
import numpy as np

cnp.import_array()

cdef extern from "limits.h":
    enum: INT_MAX

include "blas_gemm.pxi"


cdef void batched_gemm(Py_ssize_t nbatch, const Py_ssize_t* off_a, const Py_ssize_t* off_b,
                       bint trans_a, bint trans_b, int M, int N, int K,
                       const floating* A, int lda, const floating* B, int ldb,
                       floating beta, floating* C) noexcept nogil:
    cdef int nthreads = gemm_threads()
    cdef int nblocks = gemm_chunks(M, N, K, nthreads)
    cdef Py_ssize_t i, task, ntasks, mn = <Py_ssize_t>M * N
    cdef floating one = 1
    if nbatch == 1:
        pgemm(trans_a, trans_b, M, N, K, one, A + off_a[0], lda, B + off_b[0], ldb, beta, C, N)
        return
    if nbatch >= nthreads:
        nblocks = 1  # whole products per thread
    ntasks = nbatch * nblocks
    if ntasks == 1 or nthreads <= 1 or 2.0 * M * N * K * nbatch < PARALLEL_MIN_FLOPS:
        for task in range(ntasks):
            i = task // nblocks
            gemm_block(<int>(task % nblocks), nblocks, trans_a, trans_b, M, N, K, one,
                       A + off_a[i], lda, B + off_b[i], ldb, beta, C + i * mn, N)
        return
    for task in prange(ntasks, num_threads=nthreads, schedule="dynamic"):
        i = task // nblocks
        gemm_block(<int>(task % nblocks), nblocks, trans_a, trans_b, M, N, K, one,
                   A + off_a[i], lda, B + off_b[i], ldb, beta, C + i * mn, N)


def gemm_into(cnp.ndarray a, cnp.ndarray b, cnp.ndarray c,
              const Py_ssize_t[::1] off_a, const Py_ssize_t[::1] off_b,
              bint trans_a, bint trans_b, int M, int N, int K, int lda, int ldb, double beta):
    """c[i] = op(a)[off_a[i]] @ op(b)[off_b[i]] + beta c[i] for each batch entry i.

    ``a``/``b`` are float32 or float64 arrays of c's dtype (any strides; offsets and leading
    dimensions, in elements, are relative to their first element); ``c`` is C-contiguous
    (nbatch, M, N). Shapes and offsets are trusted: the caller has checked them.
    """
    cdef Py_ssize_t nbatch = off_a.shape[0]
    cdef const Py_ssize_t* oa = &off_a[0]
    cdef const Py_ssize_t* ob = &off_b[0]
    if c.dtype == np.float32:
        with nogil:
            batched_gemm(nbatch, oa, ob, trans_a, trans_b, M, N, K,
                         <const float*>cnp.PyArray_DATA(a), lda,
                         <const float*>cnp.PyArray_DATA(b), ldb,
                         <float>beta, <float*>cnp.PyArray_DATA(c))
    else:
        with nogil:
            batched_gemm(nbatch, oa, ob, trans_a, trans_b, M, N, K,
                         <const double*>cnp.PyArray_DATA(a), lda,
                         <const double*>cnp.PyArray_DATA(b), ldb,
                         beta, <double*>cnp.PyArray_DATA(c))


cdef inline bint matrix_layout(cnp.ndarray x, bint* swapped, int* ld) noexcept:
    """Describe 2-D ``x`` as a row-major matrix with leading dimension ``ld`` (``swapped``:
    that matrix is x's transpose). False when BLAS cannot read x in place (no unit stride,
    a negative or zero stride, a leading dimension beyond int)."""
    cdef Py_ssize_t item = cnp.PyArray_ITEMSIZE(x)
    cdef Py_ssize_t r = cnp.PyArray_DIM(x, 0), c = cnp.PyArray_DIM(x, 1)
    cdef Py_ssize_t sr = cnp.PyArray_STRIDE(x, 0), sc = cnp.PyArray_STRIDE(x, 1), lead
    # (the stride of a dim of size 1 is never used)
    if (r > 1 and (sr < 0 or sr % item)) or (c > 1 and (sc < 0 or sc % item)):
        return False
    sr //= item
    sc //= item
    if (c == 1 or sc == 1) and (r == 1 or sr >= c):
        swapped[0] = False
        lead = sr if r > 1 else c
        if lead < c:
            lead = c
    elif (r == 1 or sr == 1) and (c == 1 or sc >= r):
        swapped[0] = True
        lead = sc if c > 1 else r
        if lead < r:
            lead = r
    else:
        return False
    if lead < 1:
        lead = 1
    if lead > INT_MAX:
        return False
    ld[0] = <int>lead
    return True


def gemm2d(cnp.ndarray a, cnp.ndarray b, cnp.ndarray c, bint trans_a, bint trans_b,
           double beta) -> bool:
    """c = op(a) @ op(b) + beta c for 2-D ``a``, ``b`` read in place (transposed or sliced
    views included); the fast path of ``compiled._gemm``.

    ``c`` is a C-contiguous writeable (M, N) array of a's and b's float dtype. Returns False,
    with ``c`` untouched, for anything else (other dims or dtypes, non-native byte order,
    mismatched shapes, an operand that needs a copy, an empty product or K = 0): the general
    path handles those.
    """
    cdef bint swap_a, swap_b
    cdef int lda, ldb
    cdef Py_ssize_t M, N, K, K2
    cdef int typenum = cnp.PyArray_TYPE(c)
    if (cnp.PyArray_NDIM(a) != 2 or cnp.PyArray_NDIM(b) != 2 or cnp.PyArray_NDIM(c) != 2
            or (typenum != cnp.NPY_FLOAT32 and typenum != cnp.NPY_FLOAT64)
            or cnp.PyArray_TYPE(a) != typenum or cnp.PyArray_TYPE(b) != typenum
            or not cnp.PyArray_IS_C_CONTIGUOUS(c) or not cnp.PyArray_ISWRITEABLE(c)
            or not cnp.PyArray_ISNOTSWAPPED(a) or not cnp.PyArray_ISNOTSWAPPED(b)
            or not cnp.PyArray_ISNOTSWAPPED(c)):
        return False
    M = cnp.PyArray_DIM(a, 1 if trans_a else 0)
    K = cnp.PyArray_DIM(a, 0 if trans_a else 1)
    K2 = cnp.PyArray_DIM(b, 1 if trans_b else 0)
    N = cnp.PyArray_DIM(b, 0 if trans_b else 1)
    if (K != K2 or M != cnp.PyArray_DIM(c, 0) or N != cnp.PyArray_DIM(c, 1)
            or M == 0 or N == 0 or K == 0 or M > INT_MAX or N > INT_MAX or K > INT_MAX):
        return False
    if not matrix_layout(a, &swap_a, &lda) or not matrix_layout(b, &swap_b, &ldb):
        return False
    trans_a = trans_a != swap_a
    trans_b = trans_b != swap_b
    if typenum == cnp.NPY_FLOAT32:
        with nogil:
            pgemm(trans_a, trans_b, <int>M, <int>N, <int>K, <float>1,
                  <const float*>cnp.PyArray_DATA(a), lda, <const float*>cnp.PyArray_DATA(b), ldb,
                  <float>beta, <float*>cnp.PyArray_DATA(c), <int>N)
    else:
        with nogil:
            pgemm(trans_a, trans_b, <int>M, <int>N, <int>K, <double>1,
                  <const double*>cnp.PyArray_DATA(a), lda, <const double*>cnp.PyArray_DATA(b),
                  ldb, beta, <double*>cnp.PyArray_DATA(c), <int>N)
    return True


def gemm_plan(int M, int N, int K) -> tuple:
    """(blocks, split along rows) for one (M x K) @ (K x N) product with the current thread
    settings: how ``gemm2d`` and single products in ``gemm_into`` divide the work."""
    cdef int nthreads = gemm_threads()
    cdef int nblocks = gemm_chunks(M, N, K, nthreads)
    return nblocks, bool(nblocks > 1 and gemm_split_rows(M, N, K, nblocks))
