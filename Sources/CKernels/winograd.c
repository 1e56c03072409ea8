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
//
// An inflated I3D's 3×1×1 convs (stride 1, temporal padding 1) take the same algorithm in one
// dimension, F(2, 3) along time: a tile is one position in two consecutive output frames, its
// window the four input frames around them, V = Bᵀ d, 4 GEMMs, Y = Aᵀ M: 4 multiply-adds per
// tile and channel pair against the direct product's 6 (1.5× fewer).
#include "nl_kernels.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

enum { MR = NL_GEMM_MR, NR = NL_GEMM_NR };

// 1: a 1×3×3 conv of stride 1, padding (0, 1, 1); 2: a 3×1×1 conv of stride 1, padding (1, 0, 0);
// 0: neither.
static int kind(const nl_conv_shape *g) {
    if (g->stride[0] != 1 || g->stride[1] != 1 || g->stride[2] != 1 || g->to != g->t || g->ho != g->h || g->wo != g->w)
        return 0;
    if (g->kernel[0] == 1 && g->kernel[1] == 3 && g->kernel[2] == 3 && g->padding[0] == 0 && g->padding[1] == 1 &&
        g->padding[2] == 1 && g->dilation[1] == 1 && g->dilation[2] == 1)
        return 1;
    if (g->kernel[0] == 3 && g->kernel[1] == 1 && g->kernel[2] == 1 && g->padding[0] == 1 && g->padding[1] == 0 &&
        g->padding[2] == 0 && g->dilation[0] == 1)
        return 2;
    return 0;
}

int nl_winograd_applies(const nl_conv_shape *g) { return nl_gemm_available() && kind(g) != 0; }

int nl_winograd_products(const nl_conv_shape *g) { return kind(g) == 1 ? 16 : kind(g) == 2 ? 4 : 0; }

ptrdiff_t nl_winograd_packed_floats(int products, ptrdiff_t cin, ptrdiff_t cout) {
    return products * nl_gemm_packed_b_floats(cin, cout);
}

// Tiles of one output frame (kind 1), or of one image (kind 2: a tile spans two frames).
static ptrdiff_t tiles_per_outer(const nl_conv_shape *g, int k) {
    return k == 1 ? ((g->ho + 1) / 2) * ((g->wo + 1) / 2) : ((g->to + 1) / 2) * g->ho * g->wo;
}

ptrdiff_t nl_winograd_tiles(const nl_conv_shape *g) {
    int k = kind(g);
    return k == 1 ? g->to * tiles_per_outer(g, k) : k == 2 ? tiles_per_outer(g, k) : 0;
}

// A block of tiles goes through all three steps while V (products·block·Cin floats) and M
// (products·block·Cout, panels of NR) stay in L2: about 1 MB together, at most 16 micro-panels.
ptrdiff_t nl_winograd_block(int products, ptrdiff_t cin, ptrdiff_t cout) {
    enum { BUDGET = 1 << 20 };
    ptrdiff_t ldm = (cout + NR - 1) / NR * NR;
    ptrdiff_t block = BUDGET / (ptrdiff_t)(sizeof(float) * products * (cin + ldm)) / MR * MR;
    return block < MR ? MR : block > 16 * MR ? 16 * MR : block;
}

// G applied to three values: the four rows of G·g.
static void apply_g(const double g[3], double out[4]) {
    out[0] = g[0];
    out[1] = (g[0] + g[1] + g[2]) / 2;
    out[2] = (g[0] - g[1] + g[2]) / 2;
    out[3] = g[2];
}

void nl_winograd_pack_weight(const float *weight, int products, ptrdiff_t cin, ptrdiff_t cout, float *packed) {
    float *u = malloc(sizeof(float) * (size_t)(products * cin * cout));
    if (!u) abort();
    for (ptrdiff_t ci = 0; ci < cin; ci++)
        for (ptrdiff_t co = 0; co < cout; co++) {
            if (products == 4) {
                // g [3] (the temporal taps) → G g, in double so U is rounded once.
                double taps[3], out[4];
                for (int i = 0; i < 3; i++) taps[i] = weight[(i * cin + ci) * cout + co];
                apply_g(taps, out);
                for (int a = 0; a < 4; a++) u[(a * cin + ci) * cout + co] = (float)out[a];
                continue;
            }
            // g [3][3] → G g (4×3) → (G g) Gᵀ (4×4).
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
    for (int xi = 0; xi < products; xi++) nl_gemm_pack_b(u + xi * cin * cout, cout, cin, cout, packed + xi * each);
    free(u);
}

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma"))), apply_to = function)
#include "gemm_micro.h"

static inline __mmask16 lanes(ptrdiff_t left) { return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1); }

// Where a tile is, from its index over all frames (F(2×2, 3×3): frame, tile row, tile column;
// F(2, 3) along time: image, pair of frames, position in the frame).
typedef struct {
    ptrdiff_t outer, a, b;
} tile_place;

static tile_place place(const nl_conv_shape *g, int k, ptrdiff_t index) {
    ptrdiff_t per = tiles_per_outer(g, k), rest = index % per, inner = k == 1 ? (g->wo + 1) / 2 : g->ho * g->wo;
    return (tile_place){index / per, rest / inner, rest % inner};
}

// V for `count` tiles from `first`: v[ξ][i][ci] (rows of cin floats, ξ-th matrix at ξ·stride
// rows), from tile i's window (zeros outside x): Bᵀ d B over its 4×4 pixels (kind 1), Bᵀ d
// over its 4 frames (kind 2).
static void input_transform(const nl_conv_shape *g, int k, const float *x, ptrdiff_t first, int count, ptrdiff_t stride,
                            float *v) {
    const ptrdiff_t h = g->h, w = g->w, cin = g->cin;
    for (int i = 0; i < count; i++) {
        tile_place p = place(g, k, first + i);
        const float *at[4][4] = {{NULL}};
        if (k == 1) {
            const float *frame = x + p.outer * h * w * cin;
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++) {
                    ptrdiff_t iy = 2 * p.a - 1 + r, ix = 2 * p.b - 1 + c;
                    at[r][c] = iy >= 0 && iy < h && ix >= 0 && ix < w ? frame + (iy * w + ix) * cin : NULL;
                }
        } else {
            for (int r = 0; r < 4; r++) {
                ptrdiff_t it = 2 * p.a - 1 + r;
                at[r][0] = it >= 0 && it < g->t ? x + ((p.outer * g->t + it) * h * w + p.b) * cin : NULL;
            }
        }
        for (ptrdiff_t c0 = 0; c0 < cin; c0 += 16) {
            __mmask16 m = lanes(cin - c0);
            __m512 d[4][4], t[4][4];
            int columns = k == 1 ? 4 : 1;
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < columns; c++) d[r][c] = at[r][c] ? _mm512_maskz_loadu_ps(m, at[r][c] + c0) : _mm512_setzero_ps();
            // t = Bᵀ d (down each column), then V = t B (along each row) for kind 1.
            for (int c = 0; c < columns; c++) {
                t[0][c] = _mm512_sub_ps(d[0][c], d[2][c]);
                t[1][c] = _mm512_add_ps(d[1][c], d[2][c]);
                t[2][c] = _mm512_sub_ps(d[2][c], d[1][c]);
                t[3][c] = _mm512_sub_ps(d[1][c], d[3][c]);
            }
            for (int r = 0; r < 4; r++) {
                if (k == 2) {
                    _mm512_mask_storeu_ps(v + (r * stride + i) * cin + c0, m, t[r][0]);
                    continue;
                }
                __m512 vr[4] = {_mm512_sub_ps(t[r][0], t[r][2]), _mm512_add_ps(t[r][1], t[r][2]),
                                _mm512_sub_ps(t[r][2], t[r][1]), _mm512_sub_ps(t[r][1], t[r][3])};
                for (int c = 0; c < 4; c++) _mm512_mask_storeu_ps(v + ((r * 4 + c) * stride + i) * cin + c0, m, vr[c]);
            }
        }
    }
}

// y = relu?(out + bias (+ y) (+ residual)) at output position `pos` (rows of cout floats), lanes m.
static inline void store_output(__m512 out, ptrdiff_t pos, ptrdiff_t c0, __mmask16 m, __m512 bias, ptrdiff_t cout, float *y,
                                const nl_epilogue *e) {
    float *yo = y + pos * cout + c0;
    __m512 v = _mm512_add_ps(out, bias);
    if (e && e->accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, yo));
    if (e && e->residual) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, e->residual + pos * cout + c0));
    if (e && e->relu) v = _mm512_max_ps(v, _mm512_setzero_ps());
    _mm512_mask_storeu_ps(yo, m, v);
}

// Y = Aᵀ M A (kind 1) or Aᵀ M (kind 2) for `count` tiles from `first`, M as m[ξ][i][co] (rows
// ldm floats apart, ξ-th matrix at ξ·stride rows), then the epilogue, into y's positions (a
// tile past the frame's last row or column, or the clip's last frame, stores only its inside
// outputs).
static void output_transform(const nl_conv_shape *g, int k, ptrdiff_t first, int count, ptrdiff_t stride, const float *mt,
                             ptrdiff_t ldm, ptrdiff_t cout, float *y, const nl_epilogue *e) {
    const ptrdiff_t h = g->ho, w = g->wo, step = stride * ldm;
    for (int i = 0; i < count; i++) {
        tile_place p = place(g, k, first + i);
        ptrdiff_t pos[2][2] = {{-1, -1}, {-1, -1}};
        for (int r = 0; r < 2; r++) {
            if (k == 2) {
                ptrdiff_t ot = 2 * p.a + r;
                pos[r][0] = ot < g->to ? (p.outer * g->to + ot) * h * w + p.b : -1;
                continue;
            }
            for (int c = 0; c < 2; c++) {
                ptrdiff_t oy = 2 * p.a + r, ox = 2 * p.b + c;
                pos[r][c] = oy < h && ox < w ? (p.outer * h + oy) * w + ox : -1;
            }
        }
        for (ptrdiff_t c0 = 0; c0 < cout; c0 += 16) {
            __mmask16 m = lanes(cout - c0);
            __m512 bias = e && e->bias ? _mm512_maskz_loadu_ps(m, e->bias + c0) : _mm512_setzero_ps();
            // s = Aᵀ M down each column b (one column for kind 2).
            __m512 s[2][4];
            for (int b = 0; b < (k == 1 ? 4 : 1); b++) {
                const float *col = mt + (b * stride + i) * ldm + c0;
                ptrdiff_t rows = k == 1 ? 4 * step : step;
                __m512 m0 = _mm512_maskz_loadu_ps(m, col), m1 = _mm512_maskz_loadu_ps(m, col + rows);
                __m512 m2 = _mm512_maskz_loadu_ps(m, col + 2 * rows), m3 = _mm512_maskz_loadu_ps(m, col + 3 * rows);
                s[0][b] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
                s[1][b] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
            }
            for (int r = 0; r < 2; r++) {
                if (k == 2) {
                    if (pos[r][0] >= 0) store_output(s[r][0], pos[r][0], c0, m, bias, cout, y, e);
                    continue;
                }
                __m512 out[2] = {_mm512_add_ps(_mm512_add_ps(s[r][0], s[r][1]), s[r][2]),
                                 _mm512_sub_ps(_mm512_sub_ps(s[r][1], s[r][2]), s[r][3])};
                for (int c = 0; c < 2; c++)
                    if (pos[r][c] >= 0) store_output(out[c], pos[r][c], c0, m, bias, cout, y, e);
            }
        }
    }
}

void nl_winograd_conv(const nl_conv_shape *g, const float *x, ptrdiff_t first_tile, ptrdiff_t tiles, const float *packed,
                      ptrdiff_t cout, float *y, const nl_epilogue *epilogue) {
    const int k = kind(g), products = nl_winograd_products(g);
    const ptrdiff_t cin = g->cin, panels = (cout + NR - 1) / NR, ldm = panels * NR;
    const ptrdiff_t each = nl_gemm_packed_b_floats(cin, cout), block = nl_winograd_block(products, cin, cout);
    if (!k) abort();  // callers ask nl_winograd_applies first
    float *v = nl_gemm_thread_scratch(sizeof(float) * (size_t)(products * block * (cin + ldm)));
    float *mt = v + products * block * cin;
    for (ptrdiff_t first = first_tile, end = first_tile + tiles; first < end; first += block) {
        int count = (int)(end - first < block ? end - first : block);
        input_transform(g, k, x, first, count, block, v);
        // A partial block's micro-panel reads up to 14 rows: the rows past `count` are zeros
        // (left over, they could be denormals, which the FMA unit runs slowly).
        int padded = (count + MR - 1) / MR * MR;
        for (int xi = 0; xi < products && padded > count; xi++)
            zero_floats(v + (xi * block + count) * cin, (padded - count) * cin);
        for (int xi = 0; xi < products; xi++) {
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
        output_transform(g, k, first, count, block, mt, ldm, cout, y, epilogue);
    }
}
#pragma clang attribute pop
#else
void nl_winograd_conv(const nl_conv_shape *g, const float *x, ptrdiff_t first_tile, ptrdiff_t tiles, const float *packed,
                      ptrdiff_t cout, float *y, const nl_epilogue *epilogue) {
    abort();  // nl_winograd_applies() is 0 here
}
#endif
