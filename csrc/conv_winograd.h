/* Winograd F(2x2, 3x3): the transforms of a 3x3, stride-1 convolution (cross-correlation).
 *
 * One output tile of 2x2 values is computed from a 4x4 input tile d and the 3x3 filter g as
 *
 *     Y = A^T [ (G g G^T) (.) (B^T d B) ] A          ((.): elementwise product)
 *
 *           | 1  0 -1  0 |          | 1    0    0  |
 *     B^T = | 0  1  1  0 |      G = | 1/2  1/2  1/2 |      A^T = | 1  1  1  0 |
 *           | 0 -1  1  0 |          | 1/2 -1/2  1/2 |            | 0  1 -1 -1 |
 *           | 0  1  0 -1 |          | 0    0    1  |
 *
 * so 16 multiplications per tile instead of 36, and only 0, +-1, +-1/2 in the transforms
 * (exact in binary floating point: the rounding error stays that of a few additions).
 * Summed over input channels, the 16 products become 16 matrix products, one per position
 * p = 4*i + j of the 4x4 transformed tile:
 *
 *     U[p] (Cout, Cin)   = (G g G^T)[i, j]            filters, transformed once per call
 *     V[p] (Cin, S)      = (B^T d B)[i, j]            input tiles
 *     M[p] (Cout, S)     = U[p] @ V[p]                (BLAS, in the caller)
 *     out tile           = A^T M A + bias             2x2 values written to NCHW
 *
 * Gradients. The input gradient of a 3x3 stride-1 convolution with padding p is the same
 * kind of convolution of the output gradient, with the filters flipped and in/out channels
 * swapped (``mg_wino_filter`` with flip = 1) and padding 2 - p: it reuses the forward. The
 * weight gradient is dW = G^T [ sum over tiles of (A dY A^T) (.) (B^T d B) ] G: per
 * position, dU[p] (Cout, Cin) += D[p] (Cout, S) @ V[p]^T with D = A dY A^T
 * (``mg_wino_grad_output``), then ``mg_wino_weight`` applies G^T . G.
 *
 * Data layout. Output tiles are numbered by "tile rows": R = n * TH + th over the batch
 * (TH = ceil(OH / 2) tile rows per image, TW = ceil(OW / 2) tiles per tile row; the last
 * tile of an odd size is partial). A task takes the tile rows [R0, R1) and gives each tile
 * row SW = TW + 1 slots, so that slot s = (R - R0) * SW + tw of the block and the next one
 * have their 4x4 input tiles 2 columns apart: the transforms run over slots as contiguous
 * vectors. The last slot of a tile row is unused: its products are computed (on finite
 * values) and dropped, and D is zero there, so the weight-gradient sums over the slots do
 * not see it (a non-finite input is caught by the NaN checks). A block has S = (R1 - R0) * SW
 * slots; V, M and D hold 16 planes of (channels, S) values: V[p * ps + c * S + s], the
 * plane stride ps a little over C * S (``mg_wino_plane_stride``).
 *
 * The input tile rows are first copied ("gathered") with their rows split by parity and
 * their columns split in even and odd ones: padded row r = 2*th + i of tile row th goes to
 * e[(r & 1) * ls + (r / 2) * SW + tw] = x_pad[r][2*tw] (o likewise with x_pad[r][2*tw + 1]),
 * so that for each of the four rows i of a tile, the four columns of slot s are e[s], o[s],
 * e[s + 1], o[s + 1] shifted by a fixed offset: all unit-stride. Zero padding of any width
 * (also negative: a crop) comes from bounds checks in the gather; the part of a partial last
 * tile beyond the output is dropped when the tiles are written back.
 *
 * The code below is written once for a type T and included twice (float, double). The
 * slot loops are plain C that the compiler vectorises; where GCC supports it they are
 * compiled for several instruction sets (target_clones) with the best chosen at load time
 * for the running CPU, else the portable build is used. No reassociation is needed. The
 * gather and the write-back split or interleave short rows, which compilers leave scalar:
 * they have AVX-512 versions (per-function target attribute) used when the running CPU has
 * AVX-512F/VL, and portable ones otherwise.
 */
#ifndef MG_WINO_T
#ifndef MINIGRAD_CONV_WINOGRAD_H
#define MINIGRAD_CONV_WINOGRAD_H

#include <stddef.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define MG_WINO_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MG_WINO_CLONES
#endif

/* The slot loops read and write many arrays that never overlap: say so, or the compiler
 * keeps them scalar rather than check every pair at run time. */
#if defined(__clang__)
#define MG_WINO_VECTOR_LOOP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define MG_WINO_VECTOR_LOOP _Pragma("GCC ivdep")
#else
#define MG_WINO_VECTOR_LOOP
#endif

#define MG_WINO_CAT_(name, suffix) name##_##suffix
#define MG_WINO_CAT(name, suffix) MG_WINO_CAT_(name, suffix)
#define MG_WINO_FN(name) MG_WINO_CAT(name, MG_WINO_SUFFIX)

/* Elements of per-task work space the gathers and the write-back need beyond the planes of
 * V and M or D, for a block of S slots. */
static inline ptrdiff_t mg_wino_work_size(ptrdiff_t S) { return 4 * (2 * S + 1); }

/* floor(a / 2) for any sign of a; the smaller of a and b. */
static inline ptrdiff_t mg_wino_floor_half(ptrdiff_t a) { return a >= 0 ? a / 2 : -((1 - a) / 2); }
static inline ptrdiff_t mg_wino_min(ptrdiff_t a, ptrdiff_t b) { return a < b ? a : b; }

/* The gather and the write-back have AVX-512 versions (masked loads and stores, one
 * permutation per 16 columns), compiled for that instruction set alone and used when the
 * running CPU has it. */
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define MG_WINO_AVX512 1
#define MG_WINO_AVX512_TARGET __attribute__((target("avx512f,avx512vl")))
static int mg_wino_avx512_off = 0; /* set by mg_wino_simd (tests of the portable path) */
static inline int mg_wino_have_avx512(void)
{
    static int have = -1; /* (a race here only computes the same value twice) */
    if (have < 0)
        have = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
    return have && !mg_wino_avx512_off;
}
#else
#define MG_WINO_AVX512 0
#endif

/* Whether the AVX-512 gather and write-back are in use; enable = 0 or 1 switches them off or
 * back on (where the CPU has AVX-512), -1 only asks. */
static inline int mg_wino_simd(int enable)
{
#if MG_WINO_AVX512
    if (enable >= 0)
        mg_wino_avx512_off = !enable;
    return mg_wino_have_avx512();
#else
    (void)enable;
    return 0;
#endif
}

/* Ask for n bytes from p to be brought into the cache: the gathers ask for the plane they
 * will read MG_WINO_AHEAD planes later (the read is then not left waiting for memory). */
#ifndef MG_WINO_AHEAD
#define MG_WINO_AHEAD 4
#endif
static inline void mg_wino_prefetch(const void *p, ptrdiff_t n)
{
#if defined(__GNUC__)
    ptrdiff_t off;
    for (off = 0; off < n; off += 64)
        __builtin_prefetch((const char *)p + off);
#else
    (void)p;
    (void)n;
#endif
}

/* GCC turns short zero-filling loops into calls of memset, slow for one or two elements. */
#if defined(__GNUC__) && !defined(__clang__)
#define MG_WINO_NO_MEMSET __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define MG_WINO_NO_MEMSET
#endif

/* Distance between the 16 position planes of V, M or D when a plane holds n elements of
 * elsize bytes: n rounded up so that it is 64 bytes more than a multiple of 128. The slot
 * loops stream through all 16 planes at once; planes a multiple of 4 KiB apart would all
 * map to the same L1 cache sets and evict each other. */
static inline ptrdiff_t mg_wino_plane_stride(ptrdiff_t n, ptrdiff_t elsize)
{
    const ptrdiff_t bytes = (n * elsize + 127) / 128 * 128 + 64;
    return bytes / elsize;
}

#define MG_WINO_T float
#define MG_WINO_SUFFIX f32
#define MG_WINO_FLOAT 1
#include "conv_winograd.h"
#undef MG_WINO_T
#undef MG_WINO_SUFFIX
#undef MG_WINO_FLOAT

#define MG_WINO_T double
#define MG_WINO_SUFFIX f64
#define MG_WINO_FLOAT 0
#include "conv_winograd.h"
#undef MG_WINO_T
#undef MG_WINO_SUFFIX
#undef MG_WINO_FLOAT

#endif /* MINIGRAD_CONV_WINOGRAD_H */
#else  /* ---------------------------------------------------- the kernels, once per type T */

#define T MG_WINO_T

/* Filters: U[p] = (G g G^T)[i, j], p = 4*i + j, for the output channels o in [o0, o1) of
 * w (Cout, Cin, 3, 3). flip = 0: U is (16, Cout, Cin), the forward's. flip = 1: U is
 * (16, Cin, Cout) built from the filters rotated by 180 degrees, the input gradient's. */
static void MG_WINO_FN(mg_wino_filter)(const T *w, T *U, ptrdiff_t Cout, ptrdiff_t Cin, int flip,
                                       ptrdiff_t o0, ptrdiff_t o1)
{
    const ptrdiff_t plane = Cout * Cin;
    ptrdiff_t o, c, k, i, j;
    for (o = o0; o < o1; o++) {
        for (c = 0; c < Cin; c++) {
            const T *g0 = w + (o * Cin + c) * 9;
            T g[3][3], t[4][3];
            const ptrdiff_t at = flip ? c * Cout + o : o * Cin + c;
            for (i = 0; i < 3; i++)
                for (j = 0; j < 3; j++)
                    g[i][j] = flip ? g0[(2 - i) * 3 + (2 - j)] : g0[i * 3 + j];
            for (k = 0; k < 3; k++) { /* t = G g: the rows */
                t[0][k] = g[0][k];
                t[1][k] = (T)0.5 * (g[0][k] + g[1][k] + g[2][k]);
                t[2][k] = (T)0.5 * (g[0][k] - g[1][k] + g[2][k]);
                t[3][k] = g[2][k];
            }
            for (i = 0; i < 4; i++) { /* (G g) G^T: the columns */
                U[(4 * i + 0) * plane + at] = t[i][0];
                U[(4 * i + 1) * plane + at] = (T)0.5 * (t[i][0] + t[i][1] + t[i][2]);
                U[(4 * i + 2) * plane + at] = (T)0.5 * (t[i][0] - t[i][1] + t[i][2]);
                U[(4 * i + 3) * plane + at] = t[i][2];
            }
        }
    }
}

/* Weight gradient from the summed products: gw[o, c] = G^T dU[:, o, c] G (3x3), dU being
 * (16, Cout, Cin). */
static void MG_WINO_FN(mg_wino_weight)(const T *dU, T *gw, ptrdiff_t Cout, ptrdiff_t Cin)
{
    const ptrdiff_t plane = Cout * Cin;
    ptrdiff_t oc, i, j;
    for (oc = 0; oc < plane; oc++) {
        T d[4][4], t[3][4];
        for (i = 0; i < 4; i++)
            for (j = 0; j < 4; j++)
                d[i][j] = dU[(4 * i + j) * plane + oc];
        for (j = 0; j < 4; j++) { /* t = G^T d: the rows */
            t[0][j] = d[0][j] + (T)0.5 * (d[1][j] + d[2][j]);
            t[1][j] = (T)0.5 * (d[1][j] - d[2][j]);
            t[2][j] = (T)0.5 * (d[1][j] + d[2][j]) + d[3][j];
        }
        for (i = 0; i < 3; i++) { /* (G^T d) G: the columns */
            gw[oc * 9 + i * 3 + 0] = t[i][0] + (T)0.5 * (t[i][1] + t[i][2]);
            gw[oc * 9 + i * 3 + 1] = (T)0.5 * (t[i][1] - t[i][2]);
            gw[oc * 9 + i * 3 + 2] = (T)0.5 * (t[i][1] + t[i][2]) + t[i][3];
        }
    }
}

/* Split the padded rows r = 2*th0 .. 2*th0 + nrows - 1 (input row r - pt) of one plane
 * (H, W) by row parity and column parity: padded row r goes to e/o + (r & 1) * ls +
 * (r / 2 - th0) * SW with e[k] = x_pad[r][2k], o[k] = x_pad[r][2k + 1], k in [0, SW). The
 * element after the last row of each parity is zeroed (read only by the last, unused slot).
 * Input column q is padded column q + pl: the even input columns fill one of e/o, the odd
 * ones the other, each a unit-stride run between a few zeros. */
MG_WINO_NO_MEMSET static void MG_WINO_FN(mg_wino_gather_portable)(
    const T *plane, ptrdiff_t H, ptrdiff_t W, ptrdiff_t pt, ptrdiff_t pl, ptrdiff_t th0,
    ptrdiff_t nrows, ptrdiff_t SW, T *e, T *o, ptrdiff_t ls)
{
    /* input column 2m goes to slot m + sa of the even-column half (e) when pl is even, else
     * of the odd one (o); input column 2m + 1 to slot m + sb of the other half */
    const ptrdiff_t sa = mg_wino_floor_half(pl), sb = mg_wino_floor_half(pl + 1);
    /* the m of each kind that land in [0, SW), and the slots they fill */
    const ptrdiff_t ma0 = sa < 0 ? -sa : 0, ma1 = mg_wino_min((W + 1) / 2, SW - sa);
    const ptrdiff_t mb0 = sb < 0 ? -sb : 0, mb1 = mg_wino_min(W / 2, SW - sb);
    const ptrdiff_t ka0 = ma0 + sa, ka1 = ma1 > ma0 ? ma1 + sa : ka0;
    const ptrdiff_t kb0 = mb0 + sb, kb1 = mb1 > mb0 ? mb1 + sb : kb0;
    const ptrdiff_t end = (nrows + 1) / 2 * SW;
    const int odd = (int)(pl & 1);
    ptrdiff_t r, k, m;
    for (r = 2 * th0; r < 2 * th0 + nrows; r++) {
        const ptrdiff_t h = r - pt, at = (r & 1) * ls + (r / 2 - th0) * SW;
        T *a = (odd ? o : e) + at, *b = (odd ? e : o) + at;
        const T *src;
        if (h < 0 || h >= H) {
            for (k = 0; k < SW; k++)
                a[k] = b[k] = 0;
            continue;
        }
        src = plane + h * W;
        for (k = 0; k < ka0; k++)
            a[k] = 0;
        for (m = ma0; m < ma1; m++)
            a[m + sa] = src[2 * m];
        for (k = ka1; k < SW; k++)
            a[k] = 0;
        for (k = 0; k < kb0; k++)
            b[k] = 0;
        for (m = mb0; m < mb1; m++)
            b[m + sb] = src[2 * m + 1];
        for (k = kb1; k < SW; k++)
            b[k] = 0;
    }
    e[end] = o[end] = e[ls + end] = o[ls + end] = 0;
}

#if MG_WINO_AVX512
/* The same with AVX-512: per chunk of CH padded columns (CH/2 slots), one masked load (the
 * lanes outside the row are neither read nor kept), one permutation that puts the even
 * columns in the low half and the odd ones in the high half, two masked stores. */
MG_WINO_AVX512_TARGET static void MG_WINO_FN(mg_wino_gather_avx512)(
    const T *plane, ptrdiff_t H, ptrdiff_t W, ptrdiff_t pt, ptrdiff_t pl, ptrdiff_t th0,
    ptrdiff_t nrows, ptrdiff_t SW, T *e, T *o, ptrdiff_t ls)
{
#if MG_WINO_FLOAT
    enum { CH = 16 };
    const __m512i perm = _mm512_set_epi32(15, 13, 11, 9, 7, 5, 3, 1, 14, 12, 10, 8, 6, 4, 2, 0);
#define MG_WINO_LOAD(mask, p) _mm512_permutexvar_ps(perm, _mm512_maskz_loadu_ps((__mmask16)(mask), p))
#define MG_WINO_LOW(v) _mm512_castps512_ps256(v)
#define MG_WINO_HIGH(v) _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))
#define MG_WINO_STORE(p, mask, v) _mm256_mask_storeu_ps(p, (__mmask8)(mask), v)
#define MG_WINO_ZERO _mm512_setzero_ps()
    typedef __m512 vec_t;
#else
    enum { CH = 8 };
    const __m512i perm = _mm512_set_epi64(7, 5, 3, 1, 6, 4, 2, 0);
#define MG_WINO_LOAD(mask, p) _mm512_permutexvar_pd(perm, _mm512_maskz_loadu_pd((__mmask8)(mask), p))
#define MG_WINO_LOW(v) _mm512_castpd512_pd256(v)
#define MG_WINO_HIGH(v) _mm512_extractf64x4_pd(v, 1)
#define MG_WINO_STORE(p, mask, v) _mm256_mask_storeu_pd(p, (__mmask8)(mask), v)
#define MG_WINO_ZERO _mm512_setzero_pd()
    typedef __m512d vec_t;
#endif
    const ptrdiff_t half = CH / 2, end = (nrows + 1) / 2 * SW;
    ptrdiff_t r, j0;
    for (r = 2 * th0; r < 2 * th0 + nrows; r++) {
        const ptrdiff_t h = r - pt, at = (r & 1) * ls + (r / 2 - th0) * SW;
        T *er = e + at, *orow = o + at;
        for (j0 = 0; j0 < 2 * SW; j0 += CH) {
            /* padded columns [j0, j0 + CH): input columns q0 + t, lanes t in [lo, hi) */
            const ptrdiff_t q0 = j0 - pl, k0 = j0 / 2;
            const ptrdiff_t lo = q0 < 0 ? -q0 : 0, hi = W - q0 < CH ? W - q0 : CH;
            const ptrdiff_t nk = SW - k0 < half ? SW - k0 : half;
            const unsigned kmask = (1u << nk) - 1u;
            const unsigned lmask = (h >= 0 && h < H && hi > lo)
                                       ? ((1u << hi) - 1u) & ~((1u << lo) - 1u) : 0u;
            const vec_t v = lmask ? MG_WINO_LOAD(lmask, plane + h * W + q0) : MG_WINO_ZERO;
            MG_WINO_STORE(er + k0, kmask, MG_WINO_LOW(v));
            MG_WINO_STORE(orow + k0, kmask, MG_WINO_HIGH(v));
        }
    }
    e[end] = o[end] = e[ls + end] = o[ls + end] = 0;
#undef MG_WINO_LOAD
#undef MG_WINO_LOW
#undef MG_WINO_HIGH
#undef MG_WINO_STORE
#undef MG_WINO_ZERO
}
#endif

/* Split padded rows for the slot loops (see mg_wino_gather_portable). */
static void MG_WINO_FN(mg_wino_gather)(const T *plane, ptrdiff_t H, ptrdiff_t W, ptrdiff_t pt,
                                       ptrdiff_t pl, ptrdiff_t th0, ptrdiff_t nrows,
                                       ptrdiff_t SW, T *e, T *o, ptrdiff_t ls)
{
#if MG_WINO_AVX512
    if (mg_wino_have_avx512()) {
        MG_WINO_FN(mg_wino_gather_avx512)(plane, H, W, pt, pl, th0, nrows, SW, e, o, ls);
        return;
    }
#endif
    MG_WINO_FN(mg_wino_gather_portable)(plane, H, W, pt, pl, th0, nrows, SW, e, o, ls);
}

/* Input transform of the gathered slots: v[p * vs + s] = (B^T d B)[i, j], p = 4*i + j, d the
 * 4x4 tile of slot s: row i from parity i & 1 shifted by (i / 2) * SW; its columns at
 * s, s (odd), s + 1, s + 1 (odd). */
MG_WINO_CLONES static void MG_WINO_FN(mg_wino_input_slots)(const T *e, const T *o, ptrdiff_t ls,
                                                           ptrdiff_t SW, T *v, ptrdiff_t vs,
                                                           ptrdiff_t S)
{
    const T *restrict e0 = e, *restrict e1 = e + ls, *restrict e2 = e + SW;
    const T *restrict e3 = e + ls + SW;
    const T *restrict o0 = o, *restrict o1 = o + ls, *restrict o2 = o + SW;
    const T *restrict o3 = o + ls + SW;
    T *restrict v0 = v, *restrict v1 = v + vs, *restrict v2 = v + 2 * vs;
    T *restrict v3 = v + 3 * vs, *restrict v4 = v + 4 * vs, *restrict v5 = v + 5 * vs;
    T *restrict v6 = v + 6 * vs, *restrict v7 = v + 7 * vs, *restrict v8 = v + 8 * vs;
    T *restrict v9 = v + 9 * vs, *restrict v10 = v + 10 * vs, *restrict v11 = v + 11 * vs;
    T *restrict v12 = v + 12 * vs, *restrict v13 = v + 13 * vs, *restrict v14 = v + 14 * vs;
    T *restrict v15 = v + 15 * vs;
    ptrdiff_t s;
    MG_WINO_VECTOR_LOOP
    for (s = 0; s < S; s++) {
        /* B^T d (rows), column by column: t_i[c] */
        const T t00 = e0[s] - e2[s], t01 = o0[s] - o2[s];
        const T t02 = e0[s + 1] - e2[s + 1], t03 = o0[s + 1] - o2[s + 1];
        const T t10 = e1[s] + e2[s], t11 = o1[s] + o2[s];
        const T t12 = e1[s + 1] + e2[s + 1], t13 = o1[s + 1] + o2[s + 1];
        const T t20 = e2[s] - e1[s], t21 = o2[s] - o1[s];
        const T t22 = e2[s + 1] - e1[s + 1], t23 = o2[s + 1] - o1[s + 1];
        const T t30 = e1[s] - e3[s], t31 = o1[s] - o3[s];
        const T t32 = e1[s + 1] - e3[s + 1], t33 = o1[s + 1] - o3[s + 1];
        /* (B^T d) B (columns) */
        v0[s] = t00 - t02;  v1[s] = t01 + t02;  v2[s] = t02 - t01;  v3[s] = t01 - t03;
        v4[s] = t10 - t12;  v5[s] = t11 + t12;  v6[s] = t12 - t11;  v7[s] = t11 - t13;
        v8[s] = t20 - t22;  v9[s] = t21 + t22;  v10[s] = t22 - t21; v11[s] = t21 - t23;
        v12[s] = t30 - t32; v13[s] = t31 + t32; v14[s] = t32 - t31; v15[s] = t31 - t33;
    }
}

/* V (16, C, S) of the tile rows [R0, R1) of x (N, C, H, W), the input zero-padded by pt rows
 * on top and pl columns on the left (any padding on the other sides is implied by the
 * tile count). Plane p of V starts at V + p * ps (ps >= C * S). work: mg_wino_work_size(S)
 * elements. */
static void MG_WINO_FN(mg_wino_input)(const T *x, ptrdiff_t C, ptrdiff_t H, ptrdiff_t W,
                                      ptrdiff_t TH, ptrdiff_t TW, ptrdiff_t pt, ptrdiff_t pl,
                                      ptrdiff_t R0, ptrdiff_t R1, T *V, ptrdiff_t ps, T *work)
{
    const ptrdiff_t SW = TW + 1, S = (R1 - R0) * SW, ls = S + SW + 1;
    T *e = work, *o = work + 2 * ls;
    ptrdiff_t c, R, th0, th1, n;
    /* one image at a time: the tile rows [th0, th1) of image n that the block holds */
    for (R = R0; R < R1; R += th1 - th0) {
        n = R / TH;
        th0 = R % TH;
        th1 = (R1 - n * TH < TH) ? R1 - n * TH : TH;
        for (c = 0; c < C; c++) {
            mg_wino_prefetch(x + (n * C + c + MG_WINO_AHEAD) * H * W, H * W * (ptrdiff_t)sizeof(T));
            MG_WINO_FN(mg_wino_gather)(x + (n * C + c) * H * W, H, W, pt, pl, th0,
                                       2 * (th1 - th0) + 2, SW, e, o, ls);
            MG_WINO_FN(mg_wino_input_slots)(e, o, ls, SW, V + c * S + (R - R0) * SW, ps,
                                            (th1 - th0) * SW);
        }
    }
}

/* Output transform of the slots of one channel: y[(2*a + b) * S + s] = (A^T m A)[a, b] + bias,
 * m the 4x4 products of slot s (row p at M + p * ms). Returns nonzero if a value is NaN. */
MG_WINO_CLONES static int MG_WINO_FN(mg_wino_output_slots)(const T *M, ptrdiff_t ms, T bias,
                                                           T *y, ptrdiff_t S)
{
    const T *restrict m0 = M, *restrict m1 = M + ms, *restrict m2 = M + 2 * ms;
    const T *restrict m3 = M + 3 * ms, *restrict m4 = M + 4 * ms, *restrict m5 = M + 5 * ms;
    const T *restrict m6 = M + 6 * ms, *restrict m7 = M + 7 * ms, *restrict m8 = M + 8 * ms;
    const T *restrict m9 = M + 9 * ms, *restrict m10 = M + 10 * ms;
    const T *restrict m11 = M + 11 * ms, *restrict m12 = M + 12 * ms;
    const T *restrict m13 = M + 13 * ms, *restrict m14 = M + 14 * ms;
    const T *restrict m15 = M + 15 * ms;
    T *restrict y00 = y, *restrict y01 = y + S, *restrict y10 = y + 2 * S;
    T *restrict y11 = y + 3 * S;
    int nan = 0;
    ptrdiff_t s;
    MG_WINO_VECTOR_LOOP
    for (s = 0; s < S; s++) {
        /* A^T m (rows), column by column */
        const T r00 = m0[s] + m4[s] + m8[s], r01 = m1[s] + m5[s] + m9[s];
        const T r02 = m2[s] + m6[s] + m10[s], r03 = m3[s] + m7[s] + m11[s];
        const T r10 = m4[s] - m8[s] - m12[s], r11 = m5[s] - m9[s] - m13[s];
        const T r12 = m6[s] - m10[s] - m14[s], r13 = m7[s] - m11[s] - m15[s];
        /* (A^T m) A (columns) */
        const T a = r00 + r01 + r02 + bias, b = r01 - r02 - r03 + bias;
        const T c = r10 + r11 + r12 + bias, d = r11 - r12 - r13 + bias;
        y00[s] = a;
        y01[s] = b;
        y10[s] = c;
        y11[s] = d;
        nan |= (a != a) | (b != b) | (c != c) | (d != d);
    }
    return nan;
}

/* The 2x2 tiles y (4 rows of S slots: y[(2*a + b) * S + s]) of tile rows [th0, th1) into
 * their plane (OH, OW) of the output, dropping the part of a last tile beyond OH or OW. */
static void MG_WINO_FN(mg_wino_scatter_portable)(const T *y, ptrdiff_t S, T *plane,
                                                 ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t th0,
                                                 ptrdiff_t th1, ptrdiff_t SW)
{
    const ptrdiff_t half = OW / 2;
    ptrdiff_t th, a, k;
    for (th = th0; th < th1; th++) {
        for (a = 0; a < 2 && 2 * th + a < OH; a++) {
            T *restrict row = plane + (2 * th + a) * OW;
            const T *restrict ye = y + (2 * a) * S + (th - th0) * SW;
            const T *restrict yo = ye + S;
            for (k = 0; k < half; k++) {
                row[2 * k] = ye[k];
                row[2 * k + 1] = yo[k];
            }
            if (OW & 1)
                row[OW - 1] = ye[half];
        }
    }
}

#if MG_WINO_AVX512
/* The same with AVX-512: per chunk of CH/2 tiles, two masked loads (the columns 2k and
 * 2k + 1), one permutation that interleaves them, one masked store of CH columns. */
MG_WINO_AVX512_TARGET static void MG_WINO_FN(mg_wino_scatter_avx512)(
    const T *y, ptrdiff_t S, T *plane, ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t th0, ptrdiff_t th1,
    ptrdiff_t SW)
{
#if MG_WINO_FLOAT
    enum { CH = 16 };
    const __m512i perm = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
#define MG_WINO_HALF(mask, p) _mm512_castps256_ps512(_mm256_maskz_loadu_ps((__mmask8)(mask), p))
#define MG_WINO_MIX(a, b) _mm512_permutex2var_ps(a, perm, b)
#define MG_WINO_STORE(p, mask, v) _mm512_mask_storeu_ps(p, (__mmask16)(mask), v)
    typedef __m512 vec_t;
#else
    enum { CH = 8 };
    const __m512i perm = _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0);
#define MG_WINO_HALF(mask, p) _mm512_castpd256_pd512(_mm256_maskz_loadu_pd((__mmask8)(mask), p))
#define MG_WINO_MIX(a, b) _mm512_permutex2var_pd(a, perm, b)
#define MG_WINO_STORE(p, mask, v) _mm512_mask_storeu_pd(p, (__mmask8)(mask), v)
    typedef __m512d vec_t;
#endif
    const ptrdiff_t half = CH / 2, TW = SW - 1;
    ptrdiff_t th, a, k0;
    for (th = th0; th < th1; th++) {
        for (a = 0; a < 2 && 2 * th + a < OH; a++) {
            T *row = plane + (2 * th + a) * OW;
            const T *ye = y + (2 * a) * S + (th - th0) * SW, *yo = ye + S;
            for (k0 = 0; k0 < TW; k0 += half) {
                const ptrdiff_t nk = TW - k0 < half ? TW - k0 : half;
                const ptrdiff_t nc = OW - 2 * k0 < CH ? OW - 2 * k0 : CH;
                const unsigned kmask = (1u << nk) - 1u, cmask = (1u << nc) - 1u;
                const vec_t v = MG_WINO_MIX(MG_WINO_HALF(kmask, ye + k0),
                                            MG_WINO_HALF(kmask, yo + k0));
                MG_WINO_STORE(row + 2 * k0, cmask, v);
            }
        }
    }
#undef MG_WINO_HALF
#undef MG_WINO_MIX
#undef MG_WINO_STORE
}
#endif

/* The tiles into the output plane (see mg_wino_scatter_portable). */
static void MG_WINO_FN(mg_wino_scatter)(const T *y, ptrdiff_t S, T *plane, ptrdiff_t OH,
                                        ptrdiff_t OW, ptrdiff_t th0, ptrdiff_t th1, ptrdiff_t SW)
{
#if MG_WINO_AVX512
    if (mg_wino_have_avx512()) {
        MG_WINO_FN(mg_wino_scatter_avx512)(y, S, plane, OH, OW, th0, th1, SW);
        return;
    }
#endif
    MG_WINO_FN(mg_wino_scatter_portable)(y, S, plane, OH, OW, th0, th1, SW);
}

/* out (N, Cout, OH, OW) for the tile rows [R0, R1) from M (16, Cout, S; planes ps apart),
 * plus bias (or NULL). work: mg_wino_work_size(S) elements. Returns nonzero if a value of a
 * tile is NaN (then the caller recomputes without Winograd: one NaN or infinity in the input
 * makes the whole tiles around it NaN, where a direct convolution keeps it to the outputs
 * whose windows hold it). */
static int MG_WINO_FN(mg_wino_output)(const T *M, ptrdiff_t ps, const T *bias, T *out,
                                       ptrdiff_t Cout, ptrdiff_t OH, ptrdiff_t OW, ptrdiff_t TH,
                                       ptrdiff_t TW, ptrdiff_t R0, ptrdiff_t R1, T *work)
{
    const ptrdiff_t SW = TW + 1, S = (R1 - R0) * SW;
    ptrdiff_t co, R, th0, th1, n, s0, Sn;
    int nan = 0;
    for (R = R0; R < R1; R += th1 - th0) {
        n = R / TH;
        th0 = R % TH;
        th1 = (R1 - n * TH < TH) ? R1 - n * TH : TH;
        s0 = (R - R0) * SW;
        Sn = (th1 - th0) * SW;
        for (co = 0; co < Cout; co++) {
            nan |= MG_WINO_FN(mg_wino_output_slots)(M + co * S + s0, ps,
                                                    bias ? bias[co] : (T)0, work, Sn);
            MG_WINO_FN(mg_wino_scatter)(work, Sn, out + (n * Cout + co) * OH * OW, OH, OW, th0,
                                        th1, SW);
        }
    }
    return nan;
}

/* Output-gradient transform of the gathered slots: d[p * ds + s] = (A g A^T)[i, j] for the
 * 2x2 gradient tile g of slot s (rows a: e_a/o_a; columns: e[s], o[s]). */
MG_WINO_CLONES static void MG_WINO_FN(mg_wino_grad_slots)(const T *e, const T *o, ptrdiff_t ls,
                                                          T *d, ptrdiff_t ds, ptrdiff_t S)
{
    const T *restrict e0 = e, *restrict e1 = e + ls, *restrict o0 = o, *restrict o1 = o + ls;
    T *restrict d0 = d, *restrict d1 = d + ds, *restrict d2 = d + 2 * ds;
    T *restrict d3 = d + 3 * ds, *restrict d4 = d + 4 * ds, *restrict d5 = d + 5 * ds;
    T *restrict d6 = d + 6 * ds, *restrict d7 = d + 7 * ds, *restrict d8 = d + 8 * ds;
    T *restrict d9 = d + 9 * ds, *restrict d10 = d + 10 * ds, *restrict d11 = d + 11 * ds;
    T *restrict d12 = d + 12 * ds, *restrict d13 = d + 13 * ds, *restrict d14 = d + 14 * ds;
    T *restrict d15 = d + 15 * ds;
    ptrdiff_t s;
    MG_WINO_VECTOR_LOOP
    for (s = 0; s < S; s++) {
        /* A g (rows), column by column */
        const T u00 = e0[s], u01 = o0[s];
        const T u10 = e0[s] + e1[s], u11 = o0[s] + o1[s];
        const T u20 = e0[s] - e1[s], u21 = o0[s] - o1[s];
        const T u30 = -e1[s], u31 = -o1[s];
        /* (A g) A^T (columns) */
        d0[s] = u00;  d1[s] = u00 + u01;  d2[s] = u00 - u01;  d3[s] = -u01;
        d4[s] = u10;  d5[s] = u10 + u11;  d6[s] = u10 - u11;  d7[s] = -u11;
        d8[s] = u20;  d9[s] = u20 + u21;  d10[s] = u20 - u21; d11[s] = -u21;
        d12[s] = u30; d13[s] = u30 + u31; d14[s] = u30 - u31; d15[s] = -u31;
    }
}

/* D (16, Cout, S; planes ps apart) = A g A^T of the tile rows [R0, R1) of g (N, Cout, OH, OW)
 * (zero beyond OH, OW and in the unused slots). work: mg_wino_work_size(S) elements. */
static void MG_WINO_FN(mg_wino_grad_output)(const T *g, ptrdiff_t Cout, ptrdiff_t OH,
                                            ptrdiff_t OW, ptrdiff_t TH, ptrdiff_t TW,
                                            ptrdiff_t R0, ptrdiff_t R1, T *D, ptrdiff_t ps,
                                            T *work)
{
    const ptrdiff_t SW = TW + 1, S = (R1 - R0) * SW, ls = S + SW + 1;
    T *e = work, *o = work + 2 * ls;
    ptrdiff_t co, R, th0, th1, n;
    for (R = R0; R < R1; R += th1 - th0) {
        n = R / TH;
        th0 = R % TH;
        th1 = (R1 - n * TH < TH) ? R1 - n * TH : TH;
        for (co = 0; co < Cout; co++) {
            mg_wino_prefetch(g + (n * Cout + co + MG_WINO_AHEAD) * OH * OW, OH * OW * (ptrdiff_t)sizeof(T));
            /* rows 2*th + a, a = 0, 1; the unused slot reads column 2*TW >= OW: zero */
            MG_WINO_FN(mg_wino_gather)(g + (n * Cout + co) * OH * OW, OH, OW, 0, 0, th0,
                                       2 * (th1 - th0), SW, e, o, ls);
            MG_WINO_FN(mg_wino_grad_slots)(e, o, ls, D + co * S + (R - R0) * SW, ps,
                                           (th1 - th0) * SW);
        }
    }
}

#undef T
#endif
