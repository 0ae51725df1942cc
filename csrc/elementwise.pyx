# cython: language_level=3
"""Compiled elementwise kernels on the hot path of a training step.

Same signatures as their twins in ``minigrad/backend/reference.py``; inputs are
C-contiguous float32/float64 arrays (the Python wrappers in
``minigrad/backend/compiled.py`` make sure of that).
"""

from cython.parallel cimport prange

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


def _relu_forward(floating[::1] x, floating[::1] out):
    cdef Py_ssize_t i, n = x.shape[0]
    cdef floating v
    if n >= PARALLEL_MIN:
        for i in prange(n, nogil=True, schedule="static"):
            v = x[i]
            out[i] = 0 if v <= 0 else v  # NaN propagates, as in torch
    else:
        with nogil:
            for i in range(n):
                v = x[i]
                out[i] = 0 if v <= 0 else v  # NaN propagates, as in torch


def _relu_backward(floating[::1] grad_output, floating[::1] out, floating[::1] grad_input):
    cdef Py_ssize_t i, n = out.shape[0]
    if n >= PARALLEL_MIN:
        for i in prange(n, nogil=True, schedule="static"):
            grad_input[i] = grad_output[i] if out[i] > 0 else 0
    else:
        with nogil:
            for i in range(n):
                grad_input[i] = grad_output[i] if out[i] > 0 else 0
