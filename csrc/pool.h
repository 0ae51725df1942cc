/* Pooling kernels on one (H, W) plane of an NCHW tensor, for float and double.
 *
 * The generic loops are written once in pool_impl.h and instantiated here per element type
 * (mg_max_pool_fwd_f32, mg_max_pool_fwd_f64, ...); the 2x2/stride-2 max pooling of CNNs has
 * its own SIMD loops below. Callers (csrc/pool.pyx) validate the geometry first: every
 * window holds at least one input element.
 *
 * Max pooling follows torch: the window is scanned row-major, a later element wins only if
 * it is strictly greater or NaN (first maximum wins ties, NaN propagates, the last NaN
 * wins). The winner's position in its window (i * KW + j) is stored as uint8
 * (``wide_arg`` == 0) or int32.
 *
 * The loops are branch-free (masks and selects, not jumps): pooled data is random, and a
 * mispredicted branch per element costs more than the comparison itself. Compilers turn
 * `(v > m) | (v != v)` back into jumps, so the comparisons are written with SSE2
 * intrinsics (part of every x86-64 CPU) and the selects as bit operations; other CPUs get
 * plain C with the same results.
 */
#ifndef MINIGRAD_POOL_H
#define MINIGRAD_POOL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#define MG_POOL_SSE2 1
#endif

/* Windows per block in the generic loops (their running state lives on the stack). */
#define MG_POOL_BLOCK 64

typedef struct {
    int64_t H, W, OH, OW;
    int64_t KH, KW, SH, SW, PH, PW, DH, DW;
} mg_pool_geom;

static inline int64_t mg_min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t mg_max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* First kernel tap (along one dimension) that lands inside [0, size) for a window starting at
 * `start`, and one past the last such tap. */
static inline int64_t mg_tap_begin(int64_t start, int64_t dil)
{
    return start < 0 ? (-start + dil - 1) / dil : 0;
}
static inline int64_t mg_tap_end(int64_t start, int64_t size, int64_t k, int64_t dil)
{
    return mg_min64(k, (size - start + dil - 1) / dil);
}

/* Average pooling: windows tile the input exactly where they exist: stride == kernel, no padding, no window
 * hanging over the edge; every such window has the same divisor. */
static inline int mg_avg_tiled(const mg_pool_geom *g)
{
    return g->SH == g->KH && g->SW == g->KW && g->PH == 0 && g->PW == 0 &&
           g->OH * g->KH <= g->H && g->OW * g->KW <= g->W;
}

/* ---- scalar helpers: "does v replace the running maximum m?" and selects, branch-free ---- */

static inline int mg_takes_f32(float v, float m)
{
#ifdef MG_POOL_SSE2
    const __m128 vv = _mm_set_ss(v);
    return _mm_movemask_ps(_mm_or_ps(_mm_cmpgt_ss(vv, _mm_set_ss(m)), _mm_cmpunord_ss(vv, vv))) & 1;
#else
    return (v > m) | (v != v);
#endif
}

static inline int mg_takes_f64(double v, double m)
{
#ifdef MG_POOL_SSE2
    const __m128d vv = _mm_set_sd(v);
    return _mm_movemask_pd(_mm_or_pd(_mm_cmpgt_sd(vv, _mm_set_sd(m)), _mm_cmpunord_sd(vv, vv))) & 1;
#else
    return (v > m) | (v != v);
#endif
}

/* take ? a : b, on the bits. */
static inline float mg_select_f32(int take, float a, float b)
{
    uint32_t ua, ub, mask = (uint32_t)0 - (uint32_t)take;
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    ua = (ua & mask) | (ub & ~mask);
    memcpy(&a, &ua, sizeof a);
    return a;
}

static inline double mg_select_f64(int take, double a, double b)
{
    uint64_t ua, ub, mask = (uint64_t)0 - (uint64_t)take;
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    ua = (ua & mask) | (ub & ~mask);
    memcpy(&a, &ua, sizeof a);
    return a;
}

static inline int32_t mg_select_i32(int take, int32_t a, int32_t b)
{
    return b ^ ((a ^ b) & -(int32_t)take);
}

/* ---- 2x2 windows, stride 2: `n` windows whose top-left corners are r0[0], r0[2], ... ---- */

static inline void mg_max2x2_scalar_f32(const float *r0, const float *r1, float *o, uint8_t *a,
                                        int64_t n)
{
    for (int64_t k = 0; k < n; k++) {
        const float v[4] = {r0[2 * k], r0[2 * k + 1], r1[2 * k], r1[2 * k + 1]};
        float m = v[0];
        int32_t p = 0;
        for (int q = 1; q < 4; q++) {
            const int t = mg_takes_f32(v[q], m);
            m = mg_select_f32(t, v[q], m);
            p = mg_select_i32(t, q, p);
        }
        o[k] = m;
        a[k] = (uint8_t)p;
    }
}

static inline void mg_max2x2_scalar_f64(const double *r0, const double *r1, double *o, uint8_t *a,
                                        int64_t n)
{
    for (int64_t k = 0; k < n; k++) {
        const double v[4] = {r0[2 * k], r0[2 * k + 1], r1[2 * k], r1[2 * k + 1]};
        double m = v[0];
        int32_t p = 0;
        for (int q = 1; q < 4; q++) {
            const int t = mg_takes_f64(v[q], m);
            m = mg_select_f64(t, v[q], m);
            p = mg_select_i32(t, q, p);
        }
        o[k] = m;
        a[k] = (uint8_t)p;
    }
}

/* 4 windows (float) / 2 windows (double) per step. */
#ifdef MG_POOL_SSE2
static inline void mg_max2x2_sse_f32(const float *r0, const float *r1, float *o, uint8_t *a)
{
    const __m128 t0 = _mm_loadu_ps(r0), t1 = _mm_loadu_ps(r0 + 4);
    const __m128 b0 = _mm_loadu_ps(r1), b1 = _mm_loadu_ps(r1 + 4);
    const __m128 v[4] = {_mm_shuffle_ps(t0, t1, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm_shuffle_ps(t0, t1, _MM_SHUFFLE(3, 1, 3, 1)),
                         _mm_shuffle_ps(b0, b1, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm_shuffle_ps(b0, b1, _MM_SHUFFLE(3, 1, 3, 1))};
    __m128 m = v[0];
    __m128i p = _mm_setzero_si128();
    for (int q = 1; q < 4; q++) {
        const __m128 t = _mm_or_ps(_mm_cmpgt_ps(v[q], m), _mm_cmpunord_ps(v[q], v[q]));
        m = _mm_or_ps(_mm_and_ps(t, v[q]), _mm_andnot_ps(t, m));
        const __m128i ti = _mm_castps_si128(t);
        p = _mm_or_si128(_mm_and_si128(ti, _mm_set1_epi32(q)), _mm_andnot_si128(ti, p));
    }
    _mm_storeu_ps(o, m);
    p = _mm_packs_epi32(p, p);
    p = _mm_packus_epi16(p, p);
    const int32_t bytes = _mm_cvtsi128_si32(p);
    memcpy(a, &bytes, 4);
}

static inline void mg_max2x2_sse_f64(const double *r0, const double *r1, double *o, uint8_t *a)
{
    const __m128d t0 = _mm_loadu_pd(r0), t1 = _mm_loadu_pd(r0 + 2);
    const __m128d b0 = _mm_loadu_pd(r1), b1 = _mm_loadu_pd(r1 + 2);
    const __m128d v[4] = {_mm_unpacklo_pd(t0, t1), _mm_unpackhi_pd(t0, t1),
                          _mm_unpacklo_pd(b0, b1), _mm_unpackhi_pd(b0, b1)};
    __m128d m = v[0];
    __m128i p = _mm_setzero_si128();
    for (int q = 1; q < 4; q++) {
        const __m128d t = _mm_or_pd(_mm_cmpgt_pd(v[q], m), _mm_cmpunord_pd(v[q], v[q]));
        m = _mm_or_pd(_mm_and_pd(t, v[q]), _mm_andnot_pd(t, m));
        const __m128i ti = _mm_castpd_si128(t);
        p = _mm_or_si128(_mm_and_si128(ti, _mm_set1_epi32(q)), _mm_andnot_si128(ti, p));
    }
    _mm_storeu_pd(o, m);
    a[0] = (uint8_t)_mm_cvtsi128_si32(p);
    a[1] = (uint8_t)_mm_cvtsi128_si32(_mm_srli_si128(p, 8));
}
#else
static inline void mg_max2x2_sse_f32(const float *r0, const float *r1, float *o, uint8_t *a)
{
    mg_max2x2_scalar_f32(r0, r1, o, a, 4);
}
static inline void mg_max2x2_sse_f64(const double *r0, const double *r1, double *o, uint8_t *a)
{
    mg_max2x2_scalar_f64(r0, r1, o, a, 2);
}
#endif

/* ---- backward of 2x2 tiles: one gradient row (kernel row i) of `n` windows ---- */

static inline void mg_max2x2_bwd_scalar_f32(const float *go, const uint8_t *a, int32_t i,
                                            float *row, int64_t n)
{
    for (int64_t k = 0; k < n; k++) {
        row[2 * k] = mg_select_f32(a[k] == 2 * i, go[k], 0.0f);
        row[2 * k + 1] = mg_select_f32(a[k] == 2 * i + 1, go[k], 0.0f);
    }
}

static inline void mg_max2x2_bwd_scalar_f64(const double *go, const uint8_t *a, int32_t i,
                                            double *row, int64_t n)
{
    for (int64_t k = 0; k < n; k++) {
        row[2 * k] = mg_select_f64(a[k] == 2 * i, go[k], 0.0);
        row[2 * k + 1] = mg_select_f64(a[k] == 2 * i + 1, go[k], 0.0);
    }
}

#ifdef MG_POOL_SSE2
static inline void mg_max2x2_bwd_sse_f32(const float *go, const uint8_t *a, int32_t i, float *row)
{
    int32_t bytes;
    memcpy(&bytes, a, 4);
    const __m128i zero = _mm_setzero_si128();
    const __m128i p = _mm_unpacklo_epi16(_mm_unpacklo_epi8(_mm_cvtsi32_si128(bytes), zero), zero);
    const __m128 g = _mm_loadu_ps(go);
    const __m128 left = _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(p, _mm_set1_epi32(2 * i))), g);
    const __m128 right = _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(p, _mm_set1_epi32(2 * i + 1))), g);
    _mm_storeu_ps(row, _mm_unpacklo_ps(left, right));
    _mm_storeu_ps(row + 4, _mm_unpackhi_ps(left, right));
}

static inline void mg_max2x2_bwd_sse_f64(const double *go, const uint8_t *a, int32_t i, double *row)
{
    const __m128i p = _mm_set_epi64x(a[1], a[0]);
    const __m128i l = _mm_cmpeq_epi32(p, _mm_set1_epi64x(2 * i));
    const __m128i r = _mm_cmpeq_epi32(p, _mm_set1_epi64x(2 * i + 1));
    /* 64-bit lane masks: both 32-bit halves must match (the high halves always do). */
    const __m128d lm = _mm_castsi128_pd(_mm_shuffle_epi32(l, _MM_SHUFFLE(2, 2, 0, 0)));
    const __m128d rm = _mm_castsi128_pd(_mm_shuffle_epi32(r, _MM_SHUFFLE(2, 2, 0, 0)));
    const __m128d g = _mm_loadu_pd(go);
    const __m128d left = _mm_and_pd(lm, g), right = _mm_and_pd(rm, g);
    _mm_storeu_pd(row, _mm_unpacklo_pd(left, right));
    _mm_storeu_pd(row + 2, _mm_unpackhi_pd(left, right));
}
#else
static inline void mg_max2x2_bwd_sse_f32(const float *go, const uint8_t *a, int32_t i, float *row)
{
    mg_max2x2_bwd_scalar_f32(go, a, i, row, 4);
}
static inline void mg_max2x2_bwd_sse_f64(const double *go, const uint8_t *a, int32_t i, double *row)
{
    mg_max2x2_bwd_scalar_f64(go, a, i, row, 2);
}
#endif

/* ---- any window: update the running maxima of VEC windows with one kernel tap ----
 * src[k * stride] is the tap's element of window k; best/pos hold the windows' state. */

#ifdef MG_POOL_SSE2
static inline void mg_tap_update_f32(const float *src, int64_t stride, float *best, int32_t *pos,
                                     int32_t cand)
{
    __m128 v;
    if (stride == 1)
        v = _mm_loadu_ps(src);
    else if (stride == 2) /* src[0, 2] and src[4, 6] from src[0..3] and src[3..6]: no over-read */
        v = _mm_shuffle_ps(_mm_loadu_ps(src), _mm_loadu_ps(src + 3), _MM_SHUFFLE(3, 1, 2, 0));
    else
        v = _mm_setr_ps(src[0], src[stride], src[2 * stride], src[3 * stride]);
    const __m128 m = _mm_loadu_ps(best);
    const __m128 t = _mm_or_ps(_mm_cmpgt_ps(v, m), _mm_cmpunord_ps(v, v));
    _mm_storeu_ps(best, _mm_or_ps(_mm_and_ps(t, v), _mm_andnot_ps(t, m)));
    const __m128i ti = _mm_castps_si128(t), p = _mm_loadu_si128((const __m128i *)pos);
    _mm_storeu_si128((__m128i *)pos,
                     _mm_or_si128(_mm_and_si128(ti, _mm_set1_epi32(cand)), _mm_andnot_si128(ti, p)));
}

static inline void mg_tap_update_f64(const double *src, int64_t stride, double *best, int32_t *pos,
                                     int32_t cand)
{
    const __m128d v = stride == 1 ? _mm_loadu_pd(src) : _mm_setr_pd(src[0], src[stride]);
    const __m128d m = _mm_loadu_pd(best);
    const __m128d t = _mm_or_pd(_mm_cmpgt_pd(v, m), _mm_cmpunord_pd(v, v));
    _mm_storeu_pd(best, _mm_or_pd(_mm_and_pd(t, v), _mm_andnot_pd(t, m)));
    /* the two 64-bit lane masks as two 32-bit lanes */
    const __m128i ti = _mm_shuffle_epi32(_mm_castpd_si128(t), _MM_SHUFFLE(2, 0, 2, 0));
    const __m128i p = _mm_loadl_epi64((const __m128i *)pos);
    _mm_storel_epi64((__m128i *)pos,
                     _mm_or_si128(_mm_and_si128(ti, _mm_set1_epi32(cand)), _mm_andnot_si128(ti, p)));
}
#else
static inline void mg_tap_update_f32(const float *src, int64_t stride, float *best, int32_t *pos,
                                     int32_t cand)
{
    for (int k = 0; k < 4; k++) {
        const int t = mg_takes_f32(src[k * stride], best[k]);
        best[k] = mg_select_f32(t, src[k * stride], best[k]);
        pos[k] = mg_select_i32(t, cand, pos[k]);
    }
}

static inline void mg_tap_update_f64(const double *src, int64_t stride, double *best, int32_t *pos,
                                     int32_t cand)
{
    for (int k = 0; k < 2; k++) {
        const int t = mg_takes_f64(src[k * stride], best[k]);
        best[k] = mg_select_f64(t, src[k * stride], best[k]);
        pos[k] = mg_select_i32(t, cand, pos[k]);
    }
}
#endif

/* ---- AVX2 versions of the float 2x2 loops (8 windows per step), chosen at run time ----
 * Compiled for AVX2 through a per-function target attribute (the rest of the build stays
 * portable) and used only when the CPU reports AVX2 (mg_pool_init). */
#if defined(MG_POOL_SSE2) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define MG_POOL_AVX2 1
#define MG_AVX2 __attribute__((target("avx2")))

MG_AVX2 static inline void mg_max2x2_avx2_f32(const float *r0, const float *r1, float *o, uint8_t *a)
{
    const __m256 t0 = _mm256_loadu_ps(r0), t1 = _mm256_loadu_ps(r0 + 8);
    const __m256 b0 = _mm256_loadu_ps(r1), b1 = _mm256_loadu_ps(r1 + 8);
    /* even/odd columns, in window order 0 1 4 5 | 2 3 6 7 (fixed once, on the results) */
    const __m256 v[4] = {_mm256_shuffle_ps(t0, t1, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm256_shuffle_ps(t0, t1, _MM_SHUFFLE(3, 1, 3, 1)),
                         _mm256_shuffle_ps(b0, b1, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm256_shuffle_ps(b0, b1, _MM_SHUFFLE(3, 1, 3, 1))};
    __m256 m = v[0];
    __m256 p = _mm256_setzero_ps(); /* window positions as int32 bits */
    for (int q = 1; q < 4; q++) {
        const __m256 t = _mm256_or_ps(_mm256_cmp_ps(v[q], m, _CMP_GT_OQ),
                                      _mm256_cmp_ps(v[q], v[q], _CMP_UNORD_Q));
        m = _mm256_blendv_ps(m, v[q], t);
        p = _mm256_blendv_ps(p, _mm256_castsi256_ps(_mm256_set1_epi32(q)), t);
    }
    m = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(m), _MM_SHUFFLE(3, 1, 2, 0)));
    const __m256i pi = _mm256_permute4x64_epi64(_mm256_castps_si256(p), _MM_SHUFFLE(3, 1, 2, 0));
    _mm256_storeu_ps(o, m);
    const __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(pi), _mm256_extracti128_si256(pi, 1));
    _mm_storel_epi64((__m128i *)a, _mm_packus_epi16(p16, p16));
}

/* Rows of at least 8 windows (shorter rows go to the SSE2 loop). */
MG_AVX2 static void mg_max_pool_fwd_2x2_avx2_f32(const float *x, float *out, uint8_t *arg,
                                                 const mg_pool_geom *g)
{
    const int64_t W = g->W, OW = g->OW;
    for (int64_t oh = 0; oh < g->OH; oh++) {
        const float *r0 = x + 2 * oh * W, *r1 = r0 + W;
        float *o = out + oh * OW;
        uint8_t *a = arg + oh * OW;
        for (int64_t k = 0;; k += 8) { /* OW >= 8; the last step moved back to end at OW */
            if (k > OW - 8)
                k = OW - 8;
            mg_max2x2_avx2_f32(r0 + 2 * k, r1 + 2 * k, o + k, a + k);
            if (k == OW - 8)
                break;
        }
    }
}

/* One gradient row (kernel row i) of 8 tiled 2x2 windows. */
MG_AVX2 static inline void mg_max2x2_bwd_avx2_f32(const float *go, const uint8_t *a, int32_t i,
                                                  float *row)
{
    const __m256i p = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)a));
    const __m256 g = _mm256_loadu_ps(go);
    const __m256 l = _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(p, _mm256_set1_epi32(2 * i))), g);
    const __m256 r =
        _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(p, _mm256_set1_epi32(2 * i + 1))), g);
    const __m256 lo = _mm256_unpacklo_ps(l, r), hi = _mm256_unpackhi_ps(l, r);
    _mm256_storeu_ps(row, _mm256_permute2f128_ps(lo, hi, 0x20));
    _mm256_storeu_ps(row + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
}

/* OW >= 8 */
MG_AVX2 static void mg_max_pool_bwd_2x2_row_avx2_f32(const float *go, const uint8_t *a, int32_t i,
                                                     float *row, int64_t OW)
{
    for (int64_t k = 0;; k += 8) {
        if (k > OW - 8)
            k = OW - 8;
        mg_max2x2_bwd_avx2_f32(go + k, a + k, i, row + 2 * k);
        if (k == OW - 8)
            break;
    }
}
#endif

/* SIMD level of the float 2x2 loops: 2 = AVX2, 1 = SSE2, 0 = plain C. */
static int mg_pool_simd = 0;

static inline int mg_pool_best_simd(void)
{
#ifdef MG_POOL_AVX2
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        return 2;
#endif
#ifdef MG_POOL_SSE2
    return 1;
#else
    return 0;
#endif
}

#define MG_T float
#define MG_SUF(name) name##_f32
#define MG_VEC 4 /* windows per mg_max2x2_sse_f32 step */
#define MG_IS_FLOAT 1
#include "pool_impl.h"
#undef MG_T
#undef MG_SUF
#undef MG_VEC
#undef MG_IS_FLOAT

#define MG_T double
#define MG_SUF(name) name##_f64
#define MG_VEC 2
#define MG_IS_FLOAT 0
#include "pool_impl.h"
#undef MG_T
#undef MG_SUF
#undef MG_VEC
#undef MG_IS_FLOAT

#endif
