/* Pooling loops for one element type; included by pool.h with MG_T and MG_SUF defined. */

/* Max pooling of one window (oh, ow), any geometry: scalar, for the border windows. */
static inline void MG_SUF(mg_max_window)(const MG_T *restrict x, MG_T *restrict out,
                                         void *restrict arg, int wide_arg, const mg_pool_geom *g,
                                         int64_t oh, int64_t ow)
{
    const int64_t hs = oh * g->SH - g->PH;
    const int64_t i0 = mg_tap_begin(hs, g->DH), i1 = mg_tap_end(hs, g->H, g->KH, g->DH);
    const int64_t ws = ow * g->SW - g->PW;
    const int64_t j0 = mg_tap_begin(ws, g->DW), j1 = mg_tap_end(ws, g->W, g->KW, g->DW);
    MG_T best = x[(hs + i0 * g->DH) * g->W + ws + j0 * g->DW];
    int32_t pos = (int32_t)(i0 * g->KW + j0);
    for (int64_t i = i0; i < i1; i++) {
        const MG_T *row = x + (hs + i * g->DH) * g->W + ws;
        for (int64_t j = j0; j < j1; j++) {
            const MG_T v = row[j * g->DW];
            const int take = MG_SUF(mg_takes)(v, best);
            best = MG_SUF(mg_select)(take, v, best);
            pos = mg_select_i32(take, (int32_t)(i * g->KW + j), pos);
        }
    }
    const int64_t o = oh * g->OW + ow;
    out[o] = best;
    if (wide_arg)
        ((int32_t *)arg)[o] = pos;
    else
        ((uint8_t *)arg)[o] = (uint8_t)pos;
}

/* Max pooling, any geometry. Windows whose columns all lie inside the input run in blocks
 * of up to MG_POOL_BLOCK along the output row: kernel taps outermost (in row-major order,
 * so each window sees them in torch's scan order), SIMD over the windows innermost, the
 * running maxima in small buffers. The border windows (padding, ceil_mode overhang) run
 * one by one. */
static void MG_SUF(mg_max_pool_fwd_generic)(const MG_T *restrict x, MG_T *restrict out,
                                            void *restrict arg, int wide_arg,
                                            const mg_pool_geom *g)
{
    const int64_t SW = g->SW, span_w = (g->KW - 1) * g->DW;
    /* interior columns: ow * SW - PW >= 0 and ow * SW - PW + span_w < W */
    const int64_t lo = mg_min64(g->OW, (g->PW + SW - 1) / SW);
    const int64_t hi = g->W - 1 - span_w + g->PW >= 0
                           ? mg_max64(lo, mg_min64(g->OW, (g->W - 1 - span_w + g->PW) / SW + 1))
                           : lo;
    MG_T best[MG_POOL_BLOCK];
    int32_t pos[MG_POOL_BLOCK];
    for (int64_t oh = 0; oh < g->OH; oh++) {
        const int64_t hs = oh * g->SH - g->PH;
        const int64_t i0 = mg_tap_begin(hs, g->DH), i1 = mg_tap_end(hs, g->H, g->KH, g->DH);
        for (int64_t ow = 0; ow < lo; ow++)
            MG_SUF(mg_max_window)(x, out, arg, wide_arg, g, oh, ow);
        for (int64_t b = lo; b < hi; b += MG_POOL_BLOCK) {
            const int64_t nb = mg_min64(MG_POOL_BLOCK, hi - b);
            for (int64_t k = 0; k < nb; k++) {
                best[k] = -(MG_T)INFINITY; /* every input element beats or ties it */
                pos[k] = (int32_t)(i0 * g->KW);
            }
            for (int64_t i = i0; i < i1; i++) {
                for (int64_t j = 0; j < g->KW; j++) {
                    const MG_T *src = x + (hs + i * g->DH) * g->W + b * SW - g->PW + j * g->DW;
                    const int32_t cand = (int32_t)(i * g->KW + j);
                    if (nb < MG_VEC) {
                        for (int64_t k = 0; k < nb; k++) {
                            const int t = MG_SUF(mg_takes)(src[k * SW], best[k]);
                            best[k] = MG_SUF(mg_select)(t, src[k * SW], best[k]);
                            pos[k] = mg_select_i32(t, cand, pos[k]);
                        }
                        continue;
                    }
                    /* the last step moves back to end at nb (re-applying a tap is harmless) */
                    for (int64_t k = 0;; k += MG_VEC) {
                        if (k > nb - MG_VEC)
                            k = nb - MG_VEC;
                        MG_SUF(mg_tap_update)(src + k * SW, SW, best + k, pos + k, cand);
                        if (k == nb - MG_VEC)
                            break;
                    }
                }
            }
            const int64_t o = oh * g->OW + b;
            memcpy(out + o, best, (size_t)nb * sizeof(MG_T));
            if (wide_arg)
                memcpy((int32_t *)arg + o, pos, (size_t)nb * sizeof(int32_t));
            else
                for (int64_t k = 0; k < nb; k++)
                    ((uint8_t *)arg)[o + k] = (uint8_t)pos[k];
        }
        for (int64_t ow = hi; ow < g->OW; ow++)
            MG_SUF(mg_max_window)(x, out, arg, wide_arg, g, oh, ow);
    }
}

/* Max pooling 2x2, stride 2, no padding or dilation, every window inside the input.
 * Rows are short (14 windows in a 28-wide plane): each row runs in SIMD steps of MG_VEC
 * windows, the last step moved back to end at the row's end (it recomputes a few windows,
 * writing the same values); rows shorter than a step run scalar. */
static void MG_SUF(mg_max_pool_fwd_2x2)(const MG_T *restrict x, MG_T *restrict out,
                                        uint8_t *restrict arg, const mg_pool_geom *g)
{
    const int64_t W = g->W, OW = g->OW;
    for (int64_t oh = 0; oh < g->OH; oh++) {
        const MG_T *r0 = x + 2 * oh * W, *r1 = r0 + W;
        MG_T *o = out + oh * OW;
        uint8_t *a = arg + oh * OW;
        if (OW < MG_VEC) {
            MG_SUF(mg_max2x2_scalar)(r0, r1, o, a, OW);
            continue;
        }
        for (int64_t k = 0;; k += MG_VEC) {
            if (k > OW - MG_VEC)
                k = OW - MG_VEC;
            MG_SUF(mg_max2x2_sse)(r0 + 2 * k, r1 + 2 * k, o + k, a + k);
            if (k == OW - MG_VEC)
                break;
        }
    }
}

static void MG_SUF(mg_max_pool_fwd)(const MG_T *x, MG_T *out, void *arg, int wide_arg,
                                    const mg_pool_geom *g)
{
    if (!wide_arg && g->KH == 2 && g->KW == 2 && g->SH == 2 && g->SW == 2 && g->PH == 0 &&
        g->PW == 0 && g->DH == 1 && g->DW == 1 && 2 * g->OH <= g->H && 2 * g->OW <= g->W) {
#if defined(MG_POOL_AVX2) && MG_IS_FLOAT
        if (mg_pool_simd == 2 && g->OW >= 8) {
            mg_max_pool_fwd_2x2_avx2_f32(x, out, (uint8_t *)arg, g);
            return;
        }
#endif
        MG_SUF(mg_max_pool_fwd_2x2)(x, out, (uint8_t *)arg, g);
    } else
        MG_SUF(mg_max_pool_fwd_generic)(x, out, arg, wide_arg, g);
}

/* Backward when windows tile the input (stride == kernel, no padding, no dilation): every
 * input element belongs to at most one window, so the dense gradient is written directly
 * (the window's winner gets the output gradient, the rest 0), with no zero-fill pass. */
static void MG_SUF(mg_max_pool_bwd_tiled)(const MG_T *restrict go, const void *restrict arg,
                                          int wide_arg, MG_T *restrict gi, const mg_pool_geom *g)
{
    const int64_t H = g->H, W = g->W, OH = g->OH, OW = g->OW, KH = g->KH, KW = g->KW;
    const int64_t covered_w = mg_min64(OW * KW, W);
    for (int64_t ih = 0; ih < H; ih++) {
        MG_T *restrict row = gi + ih * W;
        const int64_t oh = ih / KH;
        if (oh >= OH) { /* rows below the last window */
            memset(row, 0, (size_t)W * sizeof(MG_T));
            continue;
        }
        const int64_t i = ih - oh * KH;
        const MG_T *restrict gro = go + oh * OW;
        const MG_T zero = 0;
        if (!wide_arg && KW == 2 && 2 * OW <= W) {
            /* SIMD steps of MG_VEC windows, the last moved back to end at the row's end */
            const uint8_t *a = (const uint8_t *)arg + oh * OW;
#if defined(MG_POOL_AVX2) && MG_IS_FLOAT
            if (mg_pool_simd == 2 && OW >= 8)
                mg_max_pool_bwd_2x2_row_avx2_f32(gro, a, (int32_t)i, row, OW);
            else
#endif
            if (OW < MG_VEC)
                MG_SUF(mg_max2x2_bwd_scalar)(gro, a, (int32_t)i, row, OW);
            else
                for (int64_t k = 0;; k += MG_VEC) {
                    if (k > OW - MG_VEC)
                        k = OW - MG_VEC;
                    MG_SUF(mg_max2x2_bwd_sse)(gro + k, a + k, (int32_t)i, row + 2 * k);
                    if (k == OW - MG_VEC)
                        break;
                }
        } else {
            for (int64_t ow = 0; ow < OW; ow++) {
                const MG_T v = gro[ow];
                const int32_t p = wide_arg ? ((const int32_t *)arg)[oh * OW + ow]
                                           : ((const uint8_t *)arg)[oh * OW + ow];
                const int64_t iw0 = ow * KW, jn = mg_min64(KW, W - iw0);
                for (int64_t j = 0; j < jn; j++)
                    row[iw0 + j] = MG_SUF(mg_select)(p == (int32_t)(i * KW + j), v, zero);
            }
        }
        for (int64_t iw = covered_w; iw < W; iw++) /* columns right of the last window */
            row[iw] = 0;
    }
}

/* Backward, any geometry: zero, then add each output gradient at its winner. */
static void MG_SUF(mg_max_pool_bwd_scatter)(const MG_T *restrict go, const void *restrict arg,
                                            int wide_arg, MG_T *restrict gi,
                                            const mg_pool_geom *g)
{
    memset(gi, 0, (size_t)(g->H * g->W) * sizeof(MG_T));
    /* offset of window position p from the window's corner (no division per element) */
    int64_t offset[256];
    if (!wide_arg)
        for (int64_t p = 0; p < g->KH * g->KW; p++)
            offset[p] = (p / g->KW) * g->DH * g->W + (p % g->KW) * g->DW;
    for (int64_t oh = 0; oh < g->OH; oh++) {
        const int64_t hs = oh * g->SH - g->PH;
        for (int64_t ow = 0; ow < g->OW; ow++) {
            const int64_t o = oh * g->OW + ow, corner = hs * g->W + ow * g->SW - g->PW;
            if (wide_arg) {
                const int64_t p = ((const int32_t *)arg)[o];
                gi[corner + (p / g->KW) * g->DH * g->W + (p % g->KW) * g->DW] += go[o];
            } else {
                gi[corner + offset[((const uint8_t *)arg)[o]]] += go[o];
            }
        }
    }
}

static void MG_SUF(mg_max_pool_bwd)(const MG_T *go, const void *arg, int wide_arg, MG_T *gi,
                                    const mg_pool_geom *g)
{
    if (g->SH == g->KH && g->SW == g->KW && g->PH == 0 && g->PW == 0 && g->DH == 1 && g->DW == 1)
        MG_SUF(mg_max_pool_bwd_tiled)(go, arg, wide_arg, gi, g);
    else
        MG_SUF(mg_max_pool_bwd_scatter)(go, arg, wide_arg, gi, g);
}

/* Average pooling divisor of window (oh, ow): torch's rule (see reference.avg_pool2d_divisor). */
static inline MG_T MG_SUF(mg_avg_divisor)(const mg_pool_geom *g, int64_t hs, int64_t ws,
                                         int count_include_pad, int64_t divisor_override)
{
    if (divisor_override)
        return (MG_T)divisor_override;
    int64_t he = mg_min64(hs + g->KH, g->H + g->PH), we = mg_min64(ws + g->KW, g->W + g->PW);
    if (!count_include_pad) {
        hs = mg_max64(hs, 0);
        ws = mg_max64(ws, 0);
        he = mg_min64(he, g->H);
        we = mg_min64(we, g->W);
    }
    return (MG_T)((he - hs) * (we - ws));
}

/* Average pooling, any geometry. As in max pooling, the windows that lie inside the input
 * horizontally run in blocks along the output row with the kernel taps outermost (the
 * same row-major summation order as one window at a time); border windows run one by one. */
static void MG_SUF(mg_avg_pool_fwd_generic)(const MG_T *restrict x, MG_T *restrict out,
                                            const mg_pool_geom *g, int count_include_pad,
                                            int64_t divisor_override)
{
    const int64_t SW = g->SW;
    const int64_t lo = mg_min64(g->OW, (g->PW + SW - 1) / SW);
    const int64_t hi = g->W - g->KW + g->PW >= 0
                           ? mg_max64(lo, mg_min64(g->OW, (g->W - g->KW + g->PW) / SW + 1))
                           : lo;
    MG_T acc[MG_POOL_BLOCK];
    for (int64_t oh = 0; oh < g->OH; oh++) {
        const int64_t hs = oh * g->SH - g->PH;
        const int64_t i0 = mg_max64(hs, 0), i1 = mg_min64(hs + g->KH, g->H);
        /* an interior window spans KW input columns, so its divisor depends on the row only */
        const MG_T div = MG_SUF(mg_avg_divisor)(g, hs, 0, count_include_pad, divisor_override);
        for (int64_t ow = 0; ow < g->OW; ow++) {
            if (ow == lo && hi > lo) { /* the interior, in blocks */
                for (int64_t b = lo; b < hi; b += MG_POOL_BLOCK) {
                    const int64_t nb = mg_min64(MG_POOL_BLOCK, hi - b);
                    for (int64_t k = 0; k < nb; k++)
                        acc[k] = 0;
                    for (int64_t ih = i0; ih < i1; ih++)
                        for (int64_t j = 0; j < g->KW; j++) {
                            const MG_T *restrict src = x + ih * g->W + b * SW - g->PW + j;
                            if (SW == 1)
                                for (int64_t k = 0; k < nb; k++)
                                    acc[k] += src[k];
                            else
                                for (int64_t k = 0; k < nb; k++)
                                    acc[k] += src[k * SW];
                        }
                    for (int64_t k = 0; k < nb; k++)
                        out[oh * g->OW + b + k] = acc[k] / div;
                }
                ow = hi - 1;
                continue;
            }
            const int64_t ws = ow * SW - g->PW;
            const int64_t j0 = mg_max64(ws, 0), j1 = mg_min64(ws + g->KW, g->W);
            MG_T sum = 0;
            for (int64_t ih = i0; ih < i1; ih++)
                for (int64_t iw = j0; iw < j1; iw++)
                    sum += x[ih * g->W + iw];
            out[oh * g->OW + ow] =
                sum / MG_SUF(mg_avg_divisor)(g, hs, ws, count_include_pad, divisor_override);
        }
    }
}

/* Average pooling 2x2, stride 2, no padding, every window inside the input (divisor `div`). */
static void MG_SUF(mg_avg_pool_fwd_2x2)(const MG_T *restrict x, MG_T *restrict out,
                                        const mg_pool_geom *g, MG_T div)
{
    for (int64_t oh = 0; oh < g->OH; oh++) {
        const MG_T *restrict r0 = x + 2 * oh * g->W, *restrict r1 = r0 + g->W;
        MG_T *restrict o = out + oh * g->OW;
        for (int64_t ow = 0; ow < g->OW; ow++) /* summed in the generic loop's order */
            o[ow] = (((r0[2 * ow] + r0[2 * ow + 1]) + r1[2 * ow]) + r1[2 * ow + 1]) / div;
    }
}

static void MG_SUF(mg_avg_pool_fwd)(const MG_T *x, MG_T *out, const mg_pool_geom *g,
                                    int count_include_pad, int64_t divisor_override)
{
    if (g->KH == 2 && g->KW == 2 && mg_avg_tiled(g))
        MG_SUF(mg_avg_pool_fwd_2x2)(x, out, g, (MG_T)(divisor_override ? divisor_override : 4));
    else
        MG_SUF(mg_avg_pool_fwd_generic)(x, out, g, count_include_pad, divisor_override);
}

static void MG_SUF(mg_avg_pool_bwd_generic)(const MG_T *restrict go, MG_T *restrict gi,
                                            const mg_pool_geom *g, int count_include_pad,
                                            int64_t divisor_override)
{
    const int64_t SW = g->SW;
    const int64_t lo = mg_min64(g->OW, (g->PW + SW - 1) / SW);
    const int64_t hi = g->W - g->KW + g->PW >= 0
                           ? mg_max64(lo, mg_min64(g->OW, (g->W - g->KW + g->PW) / SW + 1))
                           : lo;
    MG_T share[MG_POOL_BLOCK];
    memset(gi, 0, (size_t)(g->H * g->W) * sizeof(MG_T));
    for (int64_t oh = 0; oh < g->OH; oh++) {
        const int64_t hs = oh * g->SH - g->PH;
        const int64_t i0 = mg_max64(hs, 0), i1 = mg_min64(hs + g->KH, g->H);
        /* an interior window spans KW input columns, so its divisor depends on the row only */
        const MG_T div = MG_SUF(mg_avg_divisor)(g, hs, 0, count_include_pad, divisor_override);
        for (int64_t ow = 0; ow < g->OW; ow++) {
            if (ow == lo && hi > lo) { /* the interior, in blocks, taps outermost */
                for (int64_t b = lo; b < hi; b += MG_POOL_BLOCK) {
                    const int64_t nb = mg_min64(MG_POOL_BLOCK, hi - b);
                    for (int64_t k = 0; k < nb; k++)
                        share[k] = go[oh * g->OW + b + k] / div;
                    for (int64_t ih = i0; ih < i1; ih++)
                        for (int64_t j = 0; j < g->KW; j++) {
                            MG_T *restrict dst = gi + ih * g->W + b * SW - g->PW + j;
                            if (SW == 1) /* distinct elements for one tap */
                                for (int64_t k = 0; k < nb; k++)
                                    dst[k] += share[k];
                            else
                                for (int64_t k = 0; k < nb; k++)
                                    dst[k * SW] += share[k];
                        }
                }
                ow = hi - 1;
                continue;
            }
            const int64_t ws = ow * SW - g->PW;
            const int64_t j0 = mg_max64(ws, 0), j1 = mg_min64(ws + g->KW, g->W);
            const MG_T sh = go[oh * g->OW + ow] /
                            MG_SUF(mg_avg_divisor)(g, hs, ws, count_include_pad, divisor_override);
            for (int64_t ih = i0; ih < i1; ih++)
                for (int64_t iw = j0; iw < j1; iw++)
                    gi[ih * g->W + iw] += sh;
        }
    }
}

/* Backward of tiled windows: each input element gets its window's share directly (no
 * zero-fill and accumulate), elements outside every window 0. */
static void MG_SUF(mg_avg_pool_bwd_tiled)(const MG_T *restrict go, MG_T *restrict gi,
                                          const mg_pool_geom *g, MG_T div)
{
    const int64_t W = g->W, OW = g->OW, KH = g->KH, KW = g->KW;
    for (int64_t ih = 0; ih < g->H; ih++) {
        MG_T *restrict row = gi + ih * W;
        const int64_t oh = ih / KH;
        if (oh >= g->OH) {
            memset(row, 0, (size_t)W * sizeof(MG_T));
            continue;
        }
        const MG_T *restrict gro = go + oh * OW;
        if (KW == 2)
            for (int64_t ow = 0; ow < OW; ow++)
                row[2 * ow] = row[2 * ow + 1] = gro[ow] / div;
        else
            for (int64_t ow = 0; ow < OW; ow++) {
                const MG_T share = gro[ow] / div;
                for (int64_t j = 0; j < KW; j++)
                    row[ow * KW + j] = share;
            }
        for (int64_t iw = OW * KW; iw < W; iw++)
            row[iw] = 0;
    }
}

static void MG_SUF(mg_avg_pool_bwd)(const MG_T *go, MG_T *gi, const mg_pool_geom *g,
                                    int count_include_pad, int64_t divisor_override)
{
    if (mg_avg_tiled(g))
        MG_SUF(mg_avg_pool_bwd_tiled)(go, gi, g,
                                      (MG_T)(divisor_override ? divisor_override : g->KH * g->KW));
    else
        MG_SUF(mg_avg_pool_bwd_generic)(go, gi, g, count_include_pad, divisor_override);
}
