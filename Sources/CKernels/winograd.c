// Winograd F(2×2, 3×3) for a ResNet's 1×3×3 convs (stride 1, padding 1, channels-last), after
// Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016). Each 2×2 block
// of outputs (a tile) comes from the 4×4 input window around it: V = Bᵀ d B per input channel,
// M_ξ = Σ_ci V_ξ[ci] · U_ξ[ci, co] for each of the 16 window positions ξ (16 GEMMs of
// tiles × Cin by Cin × Cout, on the own GEMM's micro-kernel), then Y = Aᵀ M A. U = G g Gᵀ is the
// weight, transformed once per model. A direct 3×3 conv makes 36 multiply-adds per tile and
// channel pair; this makes 16 (2.25× fewer), plus the two transforms, which are adds only.
//
//   Bᵀ = | 1  0 −1  0 |    G = | 1    0    0  |    Aᵀ = | 1  1  1  0 |
//        | 0  1  1  0 |        | ½    ½    ½  |         | 0  1 −1 −1 |
//        | 0 −1  1  0 |        | ½   −½    ½  |
//        | 0  1  0 −1 |        | 0    0    1  |
//
// These are correlation's matrices (PyTorch's conv): y₀ = d₀g₀ + d₁g₁ + d₂g₂, y₁ = d₁g₀ + d₂g₁ + d₃g₂.
// With entries 0, ±½, ±1 the fp32 rounding stays close to the direct conv's (the parity tests).
#include "nl_kernels.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

enum { MR = NL_GEMM_MR, NR = NL_GEMM_NR, XI = 16 };

int nl_winograd_applies(const nl_conv_shape *g) {
    return nl_gemm_available() && g->kernel[0] == 1 && g->kernel[1] == 3 && g->kernel[2] == 3 && g->stride[0] == 1 &&
           g->stride[1] == 1 && g->stride[2] == 1 && g->padding[0] == 0 && g->padding[1] == 1 && g->padding[2] == 1 &&
           g->dilation[1] == 1 && g->dilation[2] == 1 && g->to == g->t && g->ho == g->h && g->wo == g->w;
}

ptrdiff_t nl_winograd_packed_floats(ptrdiff_t cin, ptrdiff_t cout) { return XI * nl_gemm_packed_b_floats(cin, cout); }

ptrdiff_t nl_winograd_tiles(const nl_conv_shape *g) { return ((g->ho + 1) / 2) * ((g->wo + 1) / 2); }

// A block of tiles goes through all three steps while V (16·block·Cin floats) and M
// (16·block·Cout, panels of NR) stay in L2: about 1 MB together, at most 16 micro-panels.
ptrdiff_t nl_winograd_block(ptrdiff_t cin, ptrdiff_t cout) {
    enum { BUDGET = 1 << 20 };
    ptrdiff_t ldm = (cout + NR - 1) / NR * NR;
    ptrdiff_t block = BUDGET / (ptrdiff_t)(sizeof(float) * XI * (cin + ldm)) / MR * MR;
    return block < MR ? MR : block > 16 * MR ? 16 * MR : block;
}

// G applied to three values: the four rows of G·g.
static void apply_g(const double g[3], double out[4]) {
    out[0] = g[0];
    out[1] = (g[0] + g[1] + g[2]) / 2;
    out[2] = (g[0] - g[1] + g[2]) / 2;
    out[3] = g[2];
}

void nl_winograd_pack_weight(const float *weight, ptrdiff_t cin, ptrdiff_t cout, float *packed) {
    float *u = malloc(sizeof(float) * (size_t)(XI * cin * cout));
    if (!u) abort();
    for (ptrdiff_t ci = 0; ci < cin; ci++)
        for (ptrdiff_t co = 0; co < cout; co++) {
            // g [3][3] → G g (4×3) → (G g) Gᵀ (4×4), in double so U is g's transform rounded once.
            double rows[4][3];
            for (int j = 0; j < 3; j++) {
                double column[3], out[4];
                for (int i = 0; i < 3; i++) column[i] = weight[((i * 3 + j) * cin + ci) * cout + co];
                apply_g(column, out);
                for (int a = 0; a < 4; a++) rows[a][j] = out[a];
            }
            for (int a = 0; a < 4; a++) {
                double out[4];
                apply_g(rows[a], out);
                for (int b = 0; b < 4; b++) u[((a * 4 + b) * cin + ci) * cout + co] = (float)out[b];
            }
        }
    ptrdiff_t each = nl_gemm_packed_b_floats(cin, cout);
    for (int xi = 0; xi < XI; xi++) nl_gemm_pack_b(u + xi * cin * cout, cout, cin, cout, packed + xi * each);
    free(u);
}

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma"))), apply_to = function)
#include "gemm_micro.h"

static inline __mmask16 lanes(ptrdiff_t left) { return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1); }

// Where a block's tiles are: tile `index` (over all frames) → frame, tile row, tile column.
typedef struct {
    ptrdiff_t frame, ty, tx;
} tile_place;

static tile_place place(const nl_conv_shape *g, ptrdiff_t index) {
    ptrdiff_t tw = (g->wo + 1) / 2, per_frame = nl_winograd_tiles(g);
    ptrdiff_t rest = index % per_frame;
    return (tile_place){index / per_frame, rest / tw, rest % tw};
}

// V for `count` tiles from `first`: v[ξ][i][ci] (rows of cin floats, ξ-th matrix at ξ·rows_per_xi
// rows), the 4×4 input window of tile i around its 2×2 outputs, zeros outside the frame.
static void input_transform(const nl_conv_shape *g, const float *x, ptrdiff_t first, int count, ptrdiff_t rows_per_xi,
                            float *v) {
    const ptrdiff_t h = g->h, w = g->w, cin = g->cin;
    for (int i = 0; i < count; i++) {
        tile_place p = place(g, first + i);
        const float *frame = x + p.frame * h * w * cin;
        ptrdiff_t y0 = 2 * p.ty - 1, x0 = 2 * p.tx - 1;
        const float *at[4][4];
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) {
                ptrdiff_t iy = y0 + r, ix = x0 + c;
                at[r][c] = iy >= 0 && iy < h && ix >= 0 && ix < w ? frame + (iy * w + ix) * cin : NULL;
            }
        for (ptrdiff_t c0 = 0; c0 < cin; c0 += 16) {
            __mmask16 m = lanes(cin - c0);
            __m512 d[4][4], t[4][4];
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++) d[r][c] = at[r][c] ? _mm512_maskz_loadu_ps(m, at[r][c] + c0) : _mm512_setzero_ps();
            // t = Bᵀ d, then V = t B.
            for (int c = 0; c < 4; c++) {
                t[0][c] = _mm512_sub_ps(d[0][c], d[2][c]);
                t[1][c] = _mm512_add_ps(d[1][c], d[2][c]);
                t[2][c] = _mm512_sub_ps(d[2][c], d[1][c]);
                t[3][c] = _mm512_sub_ps(d[1][c], d[3][c]);
            }
            for (int r = 0; r < 4; r++) {
                __m512 vr[4] = {_mm512_sub_ps(t[r][0], t[r][2]), _mm512_add_ps(t[r][1], t[r][2]),
                                _mm512_sub_ps(t[r][2], t[r][1]), _mm512_sub_ps(t[r][1], t[r][3])};
                for (int c = 0; c < 4; c++)
                    _mm512_mask_storeu_ps(v + ((r * 4 + c) * rows_per_xi + i) * cin + c0, m, vr[c]);
            }
        }
    }
}

// Y = Aᵀ M A for `count` tiles from `first`, M as m[ξ][i][co] (rows ldm floats apart), then the
// epilogue, into y's positions (rows of cout floats; a tile past the frame's last row or
// column stores only its inside outputs).
static void output_transform(const nl_conv_shape *g, ptrdiff_t first, int count, ptrdiff_t rows_per_xi, const float *mt,
                             ptrdiff_t ldm, ptrdiff_t cout, float *y, const nl_epilogue *e) {
    const ptrdiff_t h = g->ho, w = g->wo;
    for (int i = 0; i < count; i++) {
        tile_place p = place(g, first + i);
        ptrdiff_t pos[2][2];
        for (int r = 0; r < 2; r++)
            for (int c = 0; c < 2; c++) {
                ptrdiff_t oy = 2 * p.ty + r, ox = 2 * p.tx + c;
                pos[r][c] = oy < h && ox < w ? (p.frame * h + oy) * w + ox : -1;
            }
        for (ptrdiff_t c0 = 0; c0 < cout; c0 += 16) {
            __mmask16 m = lanes(cout - c0);
            __m512 s[2][4];
            for (int b = 0; b < 4; b++) {
                const float *col = mt + (b * rows_per_xi + i) * ldm + c0, *next = col + 4 * rows_per_xi * ldm;
                __m512 m0 = _mm512_maskz_loadu_ps(m, col), m1 = _mm512_maskz_loadu_ps(m, next);
                __m512 m2 = _mm512_maskz_loadu_ps(m, next + 4 * rows_per_xi * ldm);
                __m512 m3 = _mm512_maskz_loadu_ps(m, next + 8 * rows_per_xi * ldm);
                s[0][b] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
                s[1][b] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
            }
            __m512 bias = e && e->bias ? _mm512_maskz_loadu_ps(m, e->bias + c0) : _mm512_setzero_ps();
            for (int r = 0; r < 2; r++) {
                __m512 out[2] = {_mm512_add_ps(_mm512_add_ps(s[r][0], s[r][1]), s[r][2]),
                                 _mm512_sub_ps(_mm512_sub_ps(s[r][1], s[r][2]), s[r][3])};
                for (int c = 0; c < 2; c++) {
                    if (pos[r][c] < 0) continue;
                    float *yo = y + pos[r][c] * cout + c0;
                    __m512 v = _mm512_add_ps(out[c], bias);
                    if (e && e->accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, yo));
                    if (e && e->residual) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, e->residual + pos[r][c] * cout + c0));
                    if (e && e->relu) v = _mm512_max_ps(v, _mm512_setzero_ps());
                    _mm512_mask_storeu_ps(yo, m, v);
                }
            }
        }
    }
}

void nl_winograd_conv(const nl_conv_shape *g, const float *x, ptrdiff_t first_tile, ptrdiff_t tiles, const float *packed,
                      ptrdiff_t cout, float *y, const nl_epilogue *epilogue) {
    const ptrdiff_t cin = g->cin, panels = (cout + NR - 1) / NR, ldm = panels * NR;
    const ptrdiff_t each = nl_gemm_packed_b_floats(cin, cout);
    ptrdiff_t block = nl_winograd_block(cin, cout);
    float *v = nl_gemm_thread_scratch(sizeof(float) * (size_t)(XI * block * (cin + ldm)));
    float *mt = v + XI * block * cin;
    for (ptrdiff_t first = first_tile, end = first_tile + tiles; first < end; first += block) {
        int count = (int)(end - first < block ? end - first : block);
        input_transform(g, x, first, count, block, v);
        // A partial block's micro-panel reads up to 14 rows: the rows past `count` are zeros
        // (left over, they could be denormals, which the FMA unit runs slowly).
        int padded = (count + MR - 1) / MR * MR;
        for (int xi = 0; xi < XI && padded > count; xi++)
            zero_floats(v + (xi * block + count) * cin, (padded - count) * cin);
        for (int xi = 0; xi < XI; xi++) {
            const float *u = packed + xi * each;
            for (ptrdiff_t jp = 0; jp < panels; jp++) {
                tile_out t = {NULL, ldm, 0, cout - jp * NR < NR ? (int)(cout - jp * NR) : NR, 0, 0, NULL, NULL};
                for (int ir = 0; ir < count; ir += MR) {
                    t.rows = count - ir < MR ? count - ir : MR;
                    t.c = mt + (xi * block + ir) * ldm + jp * NR;
                    micro_f32(1, NULL, (int)cin, v + (xi * block + ir) * cin, cin, u + jp * cin * NR, &t);
                }
            }
        }
        output_transform(g, first, count, block, mt, ldm, cout, y, epilogue);
    }
}
#pragma clang attribute pop
#else
void nl_winograd_conv(const nl_conv_shape *g, const float *x, ptrdiff_t first_tile, ptrdiff_t tiles, const float *packed,
                      ptrdiff_t cout, float *y, const nl_epilogue *epilogue) {
    abort();  // nl_winograd_applies() is 0 here
}
#endif
