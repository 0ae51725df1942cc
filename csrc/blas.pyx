# cython: language_level=3
"""Compiled matrix products: batched row-major GEMM for ``matmul`` and ``linear``.

The Python wrappers in ``minigrad/backend/compiled.py`` describe every operand as a base
array plus, per batch entry, an element offset, a transpose flag and a leading dimension,
so transposed and sliced views reach BLAS without a copy.
"""

cimport numpy as cnp
import numpy as np

cnp.import_array()

include "blas_gemm.pxi"


cdef void batched_gemm(Py_ssize_t nbatch, const Py_ssize_t* off_a, const Py_ssize_t* off_b,
                       bint trans_a, bint trans_b, int M, int N, int K,
                       const floating* A, int lda, const floating* B, int ldb,
                       floating beta, floating* C) noexcept nogil:
    cdef int nthreads = gemm_threads()
    cdef int nblocks = gemm_chunks(M, N, K, nthreads)
    cdef Py_ssize_t i, task, ntasks, mn = <Py_ssize_t>M * N
    cdef floating one = 1
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
