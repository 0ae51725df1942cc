/* Direct conv2d kernels for a small reduction size K = C/groups * KH * KW (a first layer:
 * one input channel, 3x3 kernel, K = 9). BLAS runs such thin products far below its peak;
 * these loops read the im2col columns once and write NCHW directly.
 *
 *   forward:  out[n, co, :] = b[co] + sum_r w[co, r] * cols[g*K + r, n*L : n*L + L]
 *   weight:   gw[co, r] = sum_n sum_l go[n, co, l] * cols[g*K + r, n*L + l]
 *             (and gb[co] = sum_n sum_l go[n, co, l] in the same pass)
 *
 * with g = co / (Cout/groups). One call handles one (n, co) row (forward) or one output
 * channel co over a block of images (weight gradient, as LANES partial sums per weight that
 * the caller adds up); the caller spreads the calls over OpenMP threads.
 *
 * The loops are plain C that the compiler vectorises. Where GCC supports it they are
 * compiled for several instruction sets (target_clones) and the best one for the running
 * CPU is picked at load time; elsewhere the portable build is used. Sums run over LANES
 * independent partial sums (no reassociation needed, so no -ffast-math).
 */
#ifndef MINIGRAD_CONV_SMALL_H
#define MINIGRAD_CONV_SMALL_H

#include <stddef.h>

#define MG_SMALL_K 16 /* largest K these kernels handle */
#define MG_LANES_F32 16 /* partial sums per accumulator in the weight gradient */
#define MG_LANES_F64 8

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define MG_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MG_CLONES
#endif

#define MG_BLOCK 64 /* output elements kept in registers while the K taps accumulate */

#define MG_DEFINE_SMALL_KERNELS(T, SUFFIX, LANES)                                              \
    MG_CLONES static void mg_small_forward_##SUFFIX(                                           \
        const T *cols, const T *w, const T *b, T *out, ptrdiff_t n, ptrdiff_t co,              \
        ptrdiff_t Cout, ptrdiff_t groups, ptrdiff_t K, ptrdiff_t L, ptrdiff_t NL)              \
    {                                                                                          \
        const ptrdiff_t g = co / (Cout / groups);                                              \
        const T *wr = w + co * K;                                                              \
        const T *c0 = cols + g * K * NL + n * L;                                               \
        T *o = out + (n * Cout + co) * L;                                                      \
        const T bv = b ? b[co] : (T)0;                                                         \
        ptrdiff_t l0, l, r;                                                                    \
        for (l0 = 0; l0 + MG_BLOCK <= L; l0 += MG_BLOCK) {                                     \
            T acc[MG_BLOCK];                                                                   \
            for (l = 0; l < MG_BLOCK; l++)                                                     \
                acc[l] = bv;                                                                   \
            for (r = 0; r < K; r++) {                                                          \
                const T a = wr[r];                                                             \
                const T *c = c0 + r * NL + l0;                                                 \
                for (l = 0; l < MG_BLOCK; l++)                                                 \
                    acc[l] += a * c[l];                                                        \
            }                                                                                  \
            for (l = 0; l < MG_BLOCK; l++)                                                     \
                o[l0 + l] = acc[l];                                                            \
        }                                                                                      \
        for (l = l0; l < L; l++) {                                                             \
            T s = bv;                                                                          \
            for (r = 0; r < K; r++)                                                            \
                s += wr[r] * c0[r * NL + l];                                                   \
            o[l] = s;                                                                          \
        }                                                                                      \
    }                                                                                          \
                                                                                               \
    MG_CLONES static void mg_small_weight_grad_##SUFFIX(                                       \
        const T *go, const T *cols, T *acc, T *bacc, ptrdiff_t co, ptrdiff_t n0, ptrdiff_t n1, \
        ptrdiff_t N, ptrdiff_t Cout, ptrdiff_t groups, ptrdiff_t K, ptrdiff_t L)               \
    {                                                                                          \
        /* acc (K, LANES) and bacc (LANES,) or NULL: partial sums, accumulated over images   \
           [n0, n1). The caller walks blocks of images in its outer loop so that one block's \
           columns stay in cache for every output channel. */                                \
        const ptrdiff_t g = co / (Cout / groups), NL = N * L;                                  \
        const ptrdiff_t Lv = L - L % LANES;                                                    \
        ptrdiff_t n, r, l, k;                                                                  \
        for (n = n0; n < n1; n++) {                                                            \
            const T *gr = go + (n * Cout + co) * L;                                            \
            if (bacc) {                                                                        \
                T a[LANES];                                                                    \
                for (k = 0; k < LANES; k++)                                                    \
                    a[k] = bacc[k];                                                            \
                for (l = 0; l < Lv; l += LANES)                                                \
                    for (k = 0; k < LANES; k++)                                                \
                        a[k] += gr[l + k];                                                     \
                for (l = Lv; l < L; l++)                                                       \
                    a[l - Lv] += gr[l];                                                        \
                for (k = 0; k < LANES; k++)                                                    \
                    bacc[k] = a[k];                                                            \
            }                                                                                  \
            for (r = 0; r < K; r++) {                                                          \
                const T *c = cols + (g * K + r) * NL + n * L;                                  \
                T a[LANES];                                                                    \
                for (k = 0; k < LANES; k++)                                                    \
                    a[k] = acc[r * LANES + k];                                                 \
                for (l = 0; l < Lv; l += LANES)                                                \
                    for (k = 0; k < LANES; k++)                                                \
                        a[k] += gr[l + k] * c[l + k];                                          \
                for (l = Lv; l < L; l++)                                                       \
                    a[l - Lv] += gr[l] * c[l];                                                 \
                for (k = 0; k < LANES; k++)                                                    \
                    acc[r * LANES + k] = a[k];                                                 \
            }                                                                                  \
        }                                                                                      \
    }

/* The same weight gradient for K == 9 (one input channel, 3x3), written with GCC/clang
 * vector types so that the nine partial-sum vectors and the bias's stay in registers and
 * share each gradient load. (Other compilers use the generic kernel.)
 *
 * Ten accumulators of LANES values fit AVX-512's 32 registers but not AVX2's 16 (two ymm
 * each: they spill, and the loop ran 5x slower), so the kernel comes in two widths: the
 * "wide" one (vectors of LANES, for AVX-512) and the "half" one (vectors of LANES / 2, using
 * only the first half of each accumulator's lanes), picked at run time. */
#if defined(__GNUC__)
#define MG_HAVE_WEIGHT_GRAD9 1
#define MG_VLOAD(VEC, p) (*(const VEC *)(p))
#if defined(__x86_64__) && !defined(__clang__) && defined(__linux__)
#define MG_WG9_WIDE_ATTR __attribute__((target("avx512f")))
#define MG_WG9_USE_WIDE() (__builtin_cpu_supports("avx512f"))
#else
#define MG_WG9_WIDE_ATTR
#define MG_WG9_USE_WIDE() 0
#endif
/* One width W of the kernel; V is a vector of W values, W <= LANES. */
#define MG_DEFINE_WEIGHT_GRAD9_WIDTH(T, SUFFIX, LANES, NAME, V, W, ATTR)                        \
    ATTR static void NAME(                                                                     \
        const T *go, const T *cols, T *acc, T *bacc, ptrdiff_t co, ptrdiff_t n0, ptrdiff_t n1, \
        ptrdiff_t N, ptrdiff_t Cout, ptrdiff_t groups, ptrdiff_t L)                            \
    {                                                                                          \
        const ptrdiff_t g = co / (Cout / groups), NL = N * L;                                  \
        const ptrdiff_t Lv = L - L % (W);                                                      \
        V a0 = MG_VLOAD(V, acc + 0 * LANES), a1 = MG_VLOAD(V, acc + 1 * LANES);               \
        V a2 = MG_VLOAD(V, acc + 2 * LANES), a3 = MG_VLOAD(V, acc + 3 * LANES);               \
        V a4 = MG_VLOAD(V, acc + 4 * LANES), a5 = MG_VLOAD(V, acc + 5 * LANES);               \
        V a6 = MG_VLOAD(V, acc + 6 * LANES), a7 = MG_VLOAD(V, acc + 7 * LANES);               \
        V a8 = MG_VLOAD(V, acc + 8 * LANES), ab = MG_VLOAD(V, bacc);                           \
        ptrdiff_t n, l, r;                                                                     \
        for (n = n0; n < n1; n++) {                                                            \
            const T *gr = go + (n * Cout + co) * L;                                            \
            const T *c = cols + g * 9 * NL + n * L;                                            \
            for (l = 0; l < Lv; l += (W)) {                                                    \
                const V gv = MG_VLOAD(V, gr + l);                                              \
                ab += gv;                                                                      \
                a0 += gv * MG_VLOAD(V, c + l);                                                 \
                a1 += gv * MG_VLOAD(V, c + NL + l);                                            \
                a2 += gv * MG_VLOAD(V, c + 2 * NL + l);                                        \
                a3 += gv * MG_VLOAD(V, c + 3 * NL + l);                                        \
                a4 += gv * MG_VLOAD(V, c + 4 * NL + l);                                        \
                a5 += gv * MG_VLOAD(V, c + 5 * NL + l);                                        \
                a6 += gv * MG_VLOAD(V, c + 6 * NL + l);                                        \
                a7 += gv * MG_VLOAD(V, c + 7 * NL + l);                                        \
                a8 += gv * MG_VLOAD(V, c + 8 * NL + l);                                        \
            }                                                                                  \
            for (l = Lv; l < L; l++) { /* the tail goes to lane l - Lv */                      \
                const T gs = gr[l];                                                            \
                ab[l - Lv] += gs;                                                              \
                a0[l - Lv] += gs * c[l];                                                       \
                a1[l - Lv] += gs * c[NL + l];                                                  \
                a2[l - Lv] += gs * c[2 * NL + l];                                              \
                a3[l - Lv] += gs * c[3 * NL + l];                                              \
                a4[l - Lv] += gs * c[4 * NL + l];                                              \
                a5[l - Lv] += gs * c[5 * NL + l];                                              \
                a6[l - Lv] += gs * c[6 * NL + l];                                              \
                a7[l - Lv] += gs * c[7 * NL + l];                                              \
                a8[l - Lv] += gs * c[8 * NL + l];                                              \
            }                                                                                  \
        }                                                                                      \
        {                                                                                      \
            const V out[9] = {a0, a1, a2, a3, a4, a5, a6, a7, a8};                             \
            for (r = 0; r < 9; r++)                                                            \
                __builtin_memcpy(acc + r * LANES, &out[r], sizeof(V));                         \
            __builtin_memcpy(bacc, &ab, sizeof(V));                                            \
        }                                                                                      \
    }
#define MG_DEFINE_WEIGHT_GRAD9(T, SUFFIX, LANES)                                               \
    typedef T mg_vec_##SUFFIX __attribute__((vector_size(LANES * sizeof(T)), aligned(sizeof(T)))); \
    typedef T mg_half_##SUFFIX                                                                 \
        __attribute__((vector_size(LANES / 2 * sizeof(T)), aligned(sizeof(T))));             \
    MG_DEFINE_WEIGHT_GRAD9_WIDTH(T, SUFFIX, LANES, mg_small_weight_grad9_wide_##SUFFIX,        \
                                 mg_vec_##SUFFIX, LANES, MG_WG9_WIDE_ATTR)                     \
    MG_DEFINE_WEIGHT_GRAD9_WIDTH(T, SUFFIX, LANES, mg_small_weight_grad9_half_##SUFFIX,        \
                                 mg_half_##SUFFIX, LANES / 2, MG_CLONES)                       \
    static void mg_small_weight_grad9_##SUFFIX(                                                \
        const T *go, const T *cols, T *acc, T *bacc, ptrdiff_t co, ptrdiff_t n0, ptrdiff_t n1, \
        ptrdiff_t N, ptrdiff_t Cout, ptrdiff_t groups, ptrdiff_t L)                            \
    {                                                                                          \
        if (MG_WG9_USE_WIDE())                                                                 \
            mg_small_weight_grad9_wide_##SUFFIX(go, cols, acc, bacc, co, n0, n1, N, Cout,      \
                                                groups, L);                                    \
        else                                                                                   \
            mg_small_weight_grad9_half_##SUFFIX(go, cols, acc, bacc, co, n0, n1, N, Cout,      \
                                                groups, L);                                    \
    }
#else
#define MG_HAVE_WEIGHT_GRAD9 0
#define MG_DEFINE_WEIGHT_GRAD9(T, SUFFIX, LANES)                                               \
    static void mg_small_weight_grad9_##SUFFIX(                                                \
        const T *go, const T *cols, T *acc, T *bacc, ptrdiff_t co, ptrdiff_t n0, ptrdiff_t n1, \
        ptrdiff_t N, ptrdiff_t Cout, ptrdiff_t groups, ptrdiff_t L)                            \
    {                                                                                          \
        mg_small_weight_grad_##SUFFIX(go, cols, acc, bacc, co, n0, n1, N, Cout, groups, 9, L); \
    }
#endif

MG_DEFINE_SMALL_KERNELS(float, f32, MG_LANES_F32)
MG_DEFINE_SMALL_KERNELS(double, f64, MG_LANES_F64)
MG_DEFINE_WEIGHT_GRAD9(float, f32, MG_LANES_F32)
MG_DEFINE_WEIGHT_GRAD9(double, f64, MG_LANES_F64)

#endif
