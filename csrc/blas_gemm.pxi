# Row-major GEMM on top of the column-major BLAS in scipy.linalg.cython_blas, callable
# without the GIL. Included by blas.pyx and conv.pyx (each module gets its own copy).
#
# Row-major trick: a row-major (M x N) matrix is a column-major (N x M) one, so
#     C = op(A) @ op(B)   (row-major)   <=>   C^T = op(B)^T @ op(A)^T   (column-major);
# call the column-major routine with the operands swapped. Transposes stay flags.
#
# Thread policy (see minigrad/threads.py): BLAS runs single-threaded; a large product is
# split into blocks of output rows or columns, one block per OpenMP thread, each block a
# sequential BLAS call. Two busy-waiting thread pools never compete for the cores.

from cython.parallel cimport prange
from libc.stdint cimport int64_t, uintptr_t
from scipy.linalg.cython_blas cimport dgemm, sgemm

ctypedef fused floating:
    float
    double

cdef extern from "omp_compat.h":
    int mg_omp_available() nogil
    int mg_omp_get_max_threads() nogil
    void mg_omp_set_num_threads(int n) nogil

# Below this many flops (2*M*N*K) a parallel region costs more than it saves (at 1.3 MFLOP,
# e.g. 64x10 @ 10x1024, two threads already take 9 us instead of 15 us).
cdef double PARALLEL_MIN_FLOPS = 1.0e6

# Set by minigrad.threads through set_threads(): the OpenMP threads of this module's loops,
# and whether GEMMs may be split across them (only when BLAS itself is sequential: a
# multi-threaded BLAS called from inside a parallel region oversubscribes the cores).
cdef int _omp_threads = mg_omp_get_max_threads()
cdef bint _split_gemm = False


def set_threads(int n, bint split_gemm) -> None:
    """Use n OpenMP threads in this module's loops; split GEMMs across them if split_gemm."""
    global _omp_threads, _split_gemm
    _omp_threads = n if n > 0 else 1
    _split_gemm = split_gemm


def get_threads() -> tuple:
    """(OpenMP threads, whether GEMMs are split across them)."""
    return _omp_threads, bool(_split_gemm)


# SciPy's OpenBLAS is the BLAS every build has. When NumPy bundles a newer OpenBLAS, its
# sgemm is measured 15-25% faster on small-M products such as (64x784) @ (784x1024), so
# minigrad calls that one through these pointers (Fortran interface, 64-bit integers: NumPy's
# OpenBLAS is an ILP64 build); NULL means SciPy's.
ctypedef void (*sgemm64_fn)(const char *transa, const char *transb, const int64_t *m,
                            const int64_t *n, const int64_t *k, const float *alpha,
                            const float *a, const int64_t *lda, const float *b,
                            const int64_t *ldb, const float *beta, float *c,
                            const int64_t *ldc) noexcept nogil
ctypedef void (*dgemm64_fn)(const char *transa, const char *transb, const int64_t *m,
                            const int64_t *n, const int64_t *k, const double *alpha,
                            const double *a, const int64_t *lda, const double *b,
                            const int64_t *ldb, const double *beta, double *c,
                            const int64_t *ldc) noexcept nogil
cdef sgemm64_fn _sgemm64 = NULL
cdef dgemm64_fn _dgemm64 = NULL


def use_ilp64_gemm(uintptr_t sgemm_address, uintptr_t dgemm_address) -> None:
    """Call the ILP64 Fortran ``sgemm``/``dgemm`` at these addresses from now on (both must be
    given); ``(0, 0)`` goes back to SciPy's ``cython_blas``."""
    global _sgemm64, _dgemm64
    if (sgemm_address == 0) != (dgemm_address == 0):
        raise ValueError("use_ilp64_gemm: give both sgemm and dgemm, or neither")
    _sgemm64 = <sgemm64_fn>sgemm_address
    _dgemm64 = <dgemm64_fn>dgemm_address


def ilp64_gemm_in_use() -> bool:
    """True while the ILP64 ``sgemm``/``dgemm`` set by ``use_ilp64_gemm`` are called."""
    return _sgemm64 != NULL


cdef inline int gemm_threads() noexcept nogil:
    return _omp_threads if _split_gemm else 1


cdef inline void gemm(bint trans_a, bint trans_b, int M, int N, int K, floating alpha,
                      const floating* A, int lda, const floating* B, int ldb, floating beta,
                      floating* C, int ldc) noexcept nogil:
    """Sequential row-major C (M x N) = alpha op(A) op(B) + beta C.

    A is (M x K) row-major with leading dimension lda, or (K x M) when trans_a;
    B is (K x N), or (N x K) when trans_b.
    """
    cdef char ta = b'T' if trans_b else b'N'
    cdef char tb = b'T' if trans_a else b'N'
    cdef int64_t m64 = M, n64 = N, k64 = K, lda64 = lda, ldb64 = ldb, ldc64 = ldc
    if M <= 0 or N <= 0:
        return
    if floating is float:
        if _sgemm64 != NULL:
            _sgemm64(&ta, &tb, &n64, &m64, &k64, &alpha, B, &ldb64, A, &lda64, &beta, C, &ldc64)
        else:
            sgemm(&ta, &tb, &N, &M, &K, &alpha, <float*>B, &ldb, <float*>A, &lda, &beta, C, &ldc)
    else:
        if _dgemm64 != NULL:
            _dgemm64(&ta, &tb, &n64, &m64, &k64, &alpha, B, &ldb64, A, &lda64, &beta, C, &ldc64)
        else:
            dgemm(&ta, &tb, &N, &M, &K, &alpha, <double*>B, &ldb, <double*>A, &lda, &beta, C,
                  &ldc)


cdef inline bint gemm_split_rows(int M, int N, int K, int nthreads) noexcept nogil:
    """Split a product along output rows (else along output columns).

    A thin reduction (small K) is bound by writing C: blocks of whole rows keep each
    thread's output contiguous (25-40% faster for K = 64). Otherwise split the dimension
    that partitions the larger input operand, so no thread packs all of it: rows cut A
    (M x K), columns cut B (K x N).
    """
    if K <= 128 and M >= 32 * nthreads:
        return True
    return M > N


cdef inline int gemm_chunks(int M, int N, int K, int nthreads) noexcept nogil:
    """How many blocks to split one product into (1: run it sequentially)."""
    if nthreads <= 1 or 2.0 * M * N * K < PARALLEL_MIN_FLOPS:
        return 1
    cdef int dim = M if gemm_split_rows(M, N, K, nthreads) else N
    if dim < 32 * nthreads:
        return 1
    # One block per thread: more, smaller blocks measured 5-15% slower for 64x784x1024 up to
    # 1024^3 (each block packs its operands again). The blocks are still handed out
    # dynamically: a thread slow to start (woken from sleep, or sharing its core) leaves its
    # block to one that is ready.
    return nthreads


cdef inline void gemm_block(int block, int nblocks, bint trans_a, bint trans_b,
                            int M, int N, int K, floating alpha,
                            const floating* A, int lda, const floating* B, int ldb,
                            floating beta, floating* C, int ldc) noexcept nogil:
    """Block ``block`` of ``nblocks`` of the product (``gemm_split_rows`` picks the dim)."""
    cdef int step, lo, hi
    if nblocks == 1:
        gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
        return
    if not gemm_split_rows(M, N, K, nblocks):
        # Output columns [lo, hi): columns of op(B).
        step = ((N + nblocks - 1) // nblocks + 15) // 16 * 16
        lo = block * step
        hi = N if lo + step > N else lo + step
        if lo >= hi:
            return
        gemm(trans_a, trans_b, M, hi - lo, K, alpha, A, lda,
             B + (<Py_ssize_t>lo * ldb if trans_b else lo), ldb, beta, C + lo, ldc)
    else:
        # Output rows [lo, hi): rows of op(A).
        step = ((M + nblocks - 1) // nblocks + 15) // 16 * 16
        lo = block * step
        hi = M if lo + step > M else lo + step
        if lo >= hi:
            return
        gemm(trans_a, trans_b, hi - lo, N, K, alpha,
             A + (lo if trans_a else <Py_ssize_t>lo * lda), lda, B, ldb, beta,
             C + <Py_ssize_t>lo * ldc, ldc)


cdef void pgemm(bint trans_a, bint trans_b, int M, int N, int K, floating alpha,
                const floating* A, int lda, const floating* B, int ldb, floating beta,
                floating* C, int ldc) noexcept nogil:
    """``gemm`` split across the OpenMP threads when it is large enough to pay."""
    cdef int nthreads = gemm_threads()
    cdef int nblocks = gemm_chunks(M, N, K, nthreads)
    cdef int t
    if nblocks == 1:
        gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
        return
    for t in prange(nblocks, num_threads=nthreads, schedule="dynamic"):
        gemm_block(t, nblocks, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
