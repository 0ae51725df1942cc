# cython: language_level=3
# distutils: extra_compile_args = -fno-math-errno -ffp-contract=off
"""Fused optimizer updates: one pass over a parameter's memory per step.

The NumPy versions in ``minigrad/optim/functional.py`` are the spec: each element goes
through exactly the same float operations in the same order (torch's single-tensor
``Adam``/``SGD`` order, scalars rounded to the parameter's dtype first, as NumPy and torch
do), so the results agree bit for bit. Without ``-ffast-math`` and on the baseline x86-64
instruction set the compiler neither reorders these operations nor fuses them into FMAs.

``-fno-math-errno`` (this module only): sqrt is only taken of non-negative or NaN values and
errno is never read, so the compiler may drop the branch to the errno-setting libm call and
vectorize the loops. It changes no result (unlike ``-ffast-math``: no reassociation, no
contraction into FMAs, NaN and inf kept). ``-ffp-contract=off`` keeps it so in the AVX2 copies.

Each loop is compiled twice: for the baseline instruction set and, through a function
target attribute, for AVX2 (vectors twice as wide), picked at import by a runtime CPU
check (``set_simd``). Adam is bound by the divider (one square root and two divisions per
element); the wider instructions run it ~10% faster. Same operations, same order, same bits.

Inputs are 1-D C-contiguous float32/float64 views of the same length and dtype (the Python
side checks that and falls back to NumPy otherwise). Large parameters are split into
chunks across minigrad's OpenMP threads (see PARALLEL_MIN).
"""

from cython.parallel cimport prange

ctypedef fused floating:
    float
    double

# Adam / AdamW for one chunk. ``wd_mode``: 0 no weight decay, 1 coupled (g += wd * p),
# 2 decoupled (p *= 1 - lr * wd first). ``vmax`` is NULL unless amsgrad. ``small``: the
# lerp weight 1 - beta1 is < 0.5 (torch's two-sided lerp picks its formula by it).
cdef extern from *:
    """
    #include <math.h>
    #define MG_ADAM_CALL(SUF, MAX, WD, AMS, SMALL)                                            \\
        mg_adam_body_##SUF(p, grad, m, v, vmax, n, MAX, WD, AMS, SMALL, wd, decay, w,         \\
                           one_minus_w, beta2, one_minus_beta2, bc2_sqrt, eps, neg_step_size)
    /* one (amsgrad, small) pair: pick maximize and the weight-decay mode */
    #define MG_ADAM_DISPATCH(SUF, AMS_VAR, AMS, SMALL)                                        \\
        if (AMS_VAR == AMS && small == SMALL) {                                               \\
            if (maximize) {                                                                   \\
                if (wd_mode == 0) MG_ADAM_CALL(SUF, 1, 0, AMS, SMALL);                        \\
                else if (wd_mode == 1) MG_ADAM_CALL(SUF, 1, 1, AMS, SMALL);                   \\
                else MG_ADAM_CALL(SUF, 1, 2, AMS, SMALL);                                     \\
            } else {                                                                          \\
                if (wd_mode == 0) MG_ADAM_CALL(SUF, 0, 0, AMS, SMALL);                        \\
                else if (wd_mode == 1) MG_ADAM_CALL(SUF, 0, 1, AMS, SMALL);                   \\
                else MG_ADAM_CALL(SUF, 0, 2, AMS, SMALL);                                     \\
            }                                                                                 \\
            return;                                                                           \\
        }
    /* The body takes its switches as constants: each combination below is inlined into a
       branch-free loop the compiler vectorizes. */
    #define MG_ADAM_LOOP(T, SUF, SQRT, ATTR)                                                      \\
    static inline __attribute__((always_inline)) ATTR void mg_adam_body_##SUF(    \\
        T *restrict p, const T *restrict grad, T *restrict m, T *restrict v,                  \\
        T *restrict vmax, Py_ssize_t n, const int maximize, const int wd_mode,                \\
        const int ams, const int small, T wd, T decay, T w, T one_minus_w, T beta2,           \\
        T one_minus_beta2, T bc2_sqrt, T eps, T neg_step_size)                                \\
    {                                                                                         \\
        for (Py_ssize_t i = 0; i < n; i++) {                                                  \\
            T g = grad[i];                                                                    \\
            T pv = p[i];                                                                      \\
            if (maximize) g = -g;                                                             \\
            if (wd_mode == 2) pv = pv * decay;                                                \\
            else if (wd_mode == 1) g = g + pv * wd;                                           \\
            T mv = m[i];                                                                      \\
            const T diff = g - mv;                                                            \\
            if (small) mv = mv + diff * w;                                                    \\
            else mv = g - diff * one_minus_w;                                                 \\
            m[i] = mv;                                                                        \\
            T vv = v[i] * beta2;                                                              \\
            vv = vv + (g * one_minus_beta2) * g;                                              \\
            v[i] = vv;                                                                        \\
            if (ams) {                                                                        \\
                const T old = vmax[i];                                                        \\
                /* np.maximum: NaN in either wins */                                          \\
                const T mx = (old != old || old > vv) ? old : vv;                             \\
                vmax[i] = mx;                                                                 \\
                vv = mx;                                                                      \\
            }                                                                                 \\
            T denom = SQRT(vv) / bc2_sqrt;                                                    \\
            denom = denom + eps;                                                              \\
            p[i] = pv + (mv * neg_step_size) / denom;                                         \\
        }                                                                                     \\
    }                                                                                         \\
    static ATTR void mg_adam_##SUF(T *restrict p, const T *restrict grad, T *restrict m, \\
                              T *restrict v, T *restrict vmax, Py_ssize_t n,                  \\
                              int maximize, int wd_mode, T wd, T decay, T w, int small,       \\
                              T one_minus_w, T beta2, T one_minus_beta2,                      \\
                              T bc2_sqrt, T eps, T neg_step_size)                             \\
    {                                                                                         \\
        const int ams = vmax != NULL;                                                         \\
        MG_ADAM_DISPATCH(SUF, ams, 0, 1)                                                      \\
        MG_ADAM_DISPATCH(SUF, ams, 1, 1)                                                      \\
        MG_ADAM_DISPATCH(SUF, ams, 0, 0)                                                      \\
        MG_ADAM_DISPATCH(SUF, ams, 1, 0)                                                      \\
    }                                                                                         \\
    static ATTR void mg_sgd_##SUF(T *restrict p, const T *restrict grad, T *restrict buf,     \\
                             Py_ssize_t n, int maximize, int has_wd, T wd, int first,         \\
                             T momentum, int damp, T one_minus_damp, int nesterov, T lr)      \\
    {                                                                                         \\
        for (Py_ssize_t i = 0; i < n; i++) {                                                  \\
            T g = grad[i];                                                                    \\
            const T pv = p[i];                                                                \\
            if (maximize) g = -g;                                                             \\
            if (has_wd) g = g + pv * wd;                                                      \\
            if (buf) {                                                                        \\
                T b;                                                                          \\
                if (first) b = g;                                                             \\
                else {                                                                        \\
                    b = buf[i] * momentum;                                                    \\
                    b = damp ? b + g * one_minus_damp : b + g;                                \\
                }                                                                             \\
                buf[i] = b;                                                                   \\
                g = nesterov ? g + b * momentum : b;                                          \\
            }                                                                                 \\
            p[i] = pv - g * lr;                                                               \\
        }                                                                                     \\
    }
    #if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    #define MG_AVX2 __attribute__((target("avx2")))
    static int mg_cpu_avx2(void) { __builtin_cpu_init(); return __builtin_cpu_supports("avx2"); }
    #else
    #define MG_AVX2
    static int mg_cpu_avx2(void) { return 0; }
    #endif
    static int mg_use_avx2 = 0;
    MG_ADAM_LOOP(float, f32_base, sqrtf, )
    MG_ADAM_LOOP(double, f64_base, sqrt, )
    MG_ADAM_LOOP(float, f32_avx2, sqrtf, MG_AVX2)
    MG_ADAM_LOOP(double, f64_avx2, sqrt, MG_AVX2)
    #define MG_PICK(NAME, ...) (mg_use_avx2 ? NAME##_avx2(__VA_ARGS__) : NAME##_base(__VA_ARGS__))
    #define mg_adam_f32(...) MG_PICK(mg_adam_f32, __VA_ARGS__)
    #define mg_adam_f64(...) MG_PICK(mg_adam_f64, __VA_ARGS__)
    #define mg_sgd_f32(...) MG_PICK(mg_sgd_f32, __VA_ARGS__)
    #define mg_sgd_f64(...) MG_PICK(mg_sgd_f64, __VA_ARGS__)
    """
    int mg_cpu_avx2() nogil
    int mg_use_avx2
    void mg_adam_f32(float *p, const float *grad, float *m, float *v, float *vmax, Py_ssize_t n,
                     int maximize, int wd_mode, float wd, float decay, float w, int small,
                     float one_minus_w, float beta2, float one_minus_beta2, float bc2_sqrt,
                     float eps, float neg_step_size) nogil
    void mg_adam_f64(double *p, const double *grad, double *m, double *v, double *vmax,
                     Py_ssize_t n, int maximize, int wd_mode, double wd, double decay, double w,
                     int small, double one_minus_w, double beta2, double one_minus_beta2,
                     double bc2_sqrt, double eps, double neg_step_size) nogil
    void mg_sgd_f32(float *p, const float *grad, float *buf, Py_ssize_t n, int maximize,
                    int has_wd, float wd, int first, float momentum, int damp,
                    float one_minus_damp, int nesterov, float lr) nogil
    void mg_sgd_f64(double *p, const double *grad, double *buf, Py_ssize_t n, int maximize,
                    int has_wd, double wd, int first, double momentum, int damp,
                    double one_minus_damp, int nesterov, double lr) nogil

# Chunks of CHUNK elements are handed to the threads, from PARALLEL_MIN elements on (below
# that a parallel region costs more than it saves). Adam over the reference CNN's 421k
# float32 parameters: ~0.34 ms on one thread, ~0.21 ms on two.
cdef Py_ssize_t PARALLEL_MIN = 1 << 16
cdef Py_ssize_t CHUNK = 1 << 14

mg_use_avx2 = mg_cpu_avx2()


def set_simd(bint avx2) -> bool:
    """Use the AVX2 loops (when the CPU has AVX2) or the baseline ones; returns the previous
    choice (tests use it to cover both)."""
    global mg_use_avx2
    old = bool(mg_use_avx2)
    mg_use_avx2 = 1 if avx2 and mg_cpu_avx2() else 0
    return old


def set_parallel_min(Py_ssize_t n) -> int:
    """Set the size from which updates run in parallel; returns the previous one (tests use
    it to cover the parallel path on small arrays)."""
    global PARALLEL_MIN
    old = PARALLEL_MIN
    PARALLEL_MIN = max(n, 1)
    return old


def adam(floating[::1] param, const floating[::1] grad, floating[::1] exp_avg,
         floating[::1] exp_avg_sq, floating[::1] max_exp_avg_sq, bint maximize, int wd_mode,
         double weight_decay, double decay, double w, double one_minus_w, double beta2,
         double one_minus_beta2, double bias_correction2_sqrt, double eps, double neg_step_size):
    """One Adam step over one parameter, in place. Scalars are given as Python floats
    (computed in double like the NumPy version) and rounded to the dtype here."""
    cdef Py_ssize_t n = param.shape[0], nchunks, c, lo
    if n == 0:
        return
    cdef floating *pp = &param[0]
    cdef const floating *gp = &grad[0]
    cdef floating *mp = &exp_avg[0]
    cdef floating *vp = &exp_avg_sq[0]
    cdef floating *xp = NULL
    if max_exp_avg_sq is not None:
        xp = &max_exp_avg_sq[0]
    cdef int small = w < 0.5
    nchunks = (n + CHUNK - 1) // CHUNK
    if n >= PARALLEL_MIN:
        for c in prange(nchunks, nogil=True, schedule="static"):
            lo = c * CHUNK
            if floating is float:
                mg_adam_f32(pp + lo, gp + lo, mp + lo, vp + lo, NULL if xp == NULL else xp + lo,
                            min(CHUNK, n - lo), maximize, wd_mode, <float>weight_decay,
                            <float>decay, <float>w, small, <float>one_minus_w, <float>beta2,
                            <float>one_minus_beta2, <float>bias_correction2_sqrt, <float>eps,
                            <float>neg_step_size)
            else:
                mg_adam_f64(pp + lo, gp + lo, mp + lo, vp + lo, NULL if xp == NULL else xp + lo,
                            min(CHUNK, n - lo), maximize, wd_mode, weight_decay, decay, w, small,
                            one_minus_w, beta2, one_minus_beta2, bias_correction2_sqrt, eps,
                            neg_step_size)
    else:
        with nogil:
            if floating is float:
                mg_adam_f32(pp, gp, mp, vp, xp, n, maximize, wd_mode, <float>weight_decay,
                            <float>decay, <float>w, small, <float>one_minus_w, <float>beta2,
                            <float>one_minus_beta2, <float>bias_correction2_sqrt, <float>eps,
                            <float>neg_step_size)
            else:
                mg_adam_f64(pp, gp, mp, vp, xp, n, maximize, wd_mode, weight_decay, decay, w,
                            small, one_minus_w, beta2, one_minus_beta2, bias_correction2_sqrt,
                            eps, neg_step_size)


def sgd(floating[::1] param, const floating[::1] grad, floating[::1] momentum_buffer,
        bint maximize, double weight_decay, bint first, double momentum, double dampening,
        bint nesterov, double lr):
    """One SGD step over one parameter, in place; ``momentum_buffer`` is None without
    momentum, and ``first`` makes the buffer a copy of the (effective) gradient."""
    cdef Py_ssize_t n = param.shape[0], nchunks, c, lo
    if n == 0:
        return
    cdef floating *pp = &param[0]
    cdef const floating *gp = &grad[0]
    cdef floating *bp = NULL
    if momentum_buffer is not None:
        bp = &momentum_buffer[0]
    cdef int has_wd = weight_decay != 0
    cdef int damp = dampening != 0
    cdef double one_minus_damp = 1.0 - dampening
    nchunks = (n + CHUNK - 1) // CHUNK
    if n >= PARALLEL_MIN:
        for c in prange(nchunks, nogil=True, schedule="static"):
            lo = c * CHUNK
            if floating is float:
                mg_sgd_f32(pp + lo, gp + lo, NULL if bp == NULL else bp + lo, min(CHUNK, n - lo),
                           maximize, has_wd, <float>weight_decay, first, <float>momentum, damp,
                           <float>one_minus_damp, nesterov, <float>lr)
            else:
                mg_sgd_f64(pp + lo, gp + lo, NULL if bp == NULL else bp + lo, min(CHUNK, n - lo),
                           maximize, has_wd, weight_decay, first, momentum, damp, one_minus_damp,
                           nesterov, lr)
    else:
        with nogil:
            if floating is float:
                mg_sgd_f32(pp, gp, bp, n, maximize, has_wd, <float>weight_decay, first,
                           <float>momentum, damp, <float>one_minus_damp, nesterov, <float>lr)
            else:
                mg_sgd_f64(pp, gp, bp, n, maximize, has_wd, weight_decay, first, momentum, damp,
                           one_minus_damp, nesterov, lr)
