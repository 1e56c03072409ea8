// The project's own GEMM for AVX-512: C (m×n, row-major) = A (m×k, row-major) · B (k×n), in
// fp32 (vfmadd231ps) and in bfloat16 with fp32 accumulation (AVX512_BF16 vdpbf16ps).
//
// Why its own: Debian's OpenBLAS has no bf16 GEMM at all, and its fp32 kernel runs the skinny
// products of a video ResNet (N = 64…256 columns, M = tens of thousands of rows) at half its
// square-matrix rate. Layout, as in the BLIS papers (Van Zee & van de Geijn, 2015): B is packed
// once into panels of NR = 32 columns (a conv weight: once per model, not per call); A is packed
// per block of MC rows × KC depth into micro-panels of MR = 14 rows; a micro-kernel keeps a
// 14×32 block of C in 28 zmm registers and streams one A micro-panel (L2) against one B panel
// (L1). bf16 works on pairs of k: each 32-bit lane of vdpbf16ps multiplies two bf16 pairs and
// adds both products to an fp32 accumulator, so packed operands hold (k, k+1) side by side.
//
// Everything here needs AVX-512 (and AVX512_BF16 for the bf16 half); the functions are compiled
// with per-function target attributes, and callers ask nl_gemm_available() /
// nl_gemm_bf16_available() first (the Swift side falls back to OpenBLAS for fp32, and refuses
// bf16 with a message, on a CPU without them).
#include "nl_kernels.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#ifndef NL_KC
#define NL_KC 256
#endif
enum { MR = NL_GEMM_MR, NR = NL_GEMM_NR, KC = NL_KC, MC = MR * 16 };

static int cpu_has_avx512(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#else
    return 0;
#endif
}

int nl_gemm_available(void) {
    // NLNET_ISA below avx512 turns the own GEMM off too, so the fallback paths stay testable.
    const char *isa = nl_kernels_isa();
    return cpu_has_avx512() && strcmp(isa, "avx512") == 0;
}

int nl_gemm_bf16_available(void) {
#if defined(__x86_64__)
    return nl_gemm_available() && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

ptrdiff_t nl_gemm_packed_b_floats(ptrdiff_t k, ptrdiff_t n) { return ((n + NR - 1) / NR) * k * NR; }

ptrdiff_t nl_gemm_packed_b_bf16_words(ptrdiff_t k, ptrdiff_t n) {
    // Words of 32 bits, each a (k, k+1) pair of bf16; an odd k gets a zero partner.
    return ((n + NR - 1) / NR) * ((k + 1) / 2) * NR;
}

// B (k×n, row stride ldb) → panels [n/NR][k][NR], zero-padded past n.
void nl_gemm_pack_b(const float *b, ptrdiff_t ldb, ptrdiff_t k, ptrdiff_t n, float *packed) {
    ptrdiff_t panels = (n + NR - 1) / NR;
    for (ptrdiff_t jp = 0; jp < panels; jp++) {
        ptrdiff_t j0 = jp * NR, cols = n - j0 < NR ? n - j0 : NR;
        float *dst = packed + jp * k * NR;
        for (ptrdiff_t p = 0; p < k; p++) {
            memcpy(dst + p * NR, b + p * ldb + j0, (size_t)cols * sizeof(float));
            if (cols < NR) memset(dst + p * NR + cols, 0, (size_t)(NR - cols) * sizeof(float));
        }
    }
}

// Round to nearest even, as vcvtneps2bf16 does (NaN stays NaN).
static inline uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

float nl_bf16_round(float f) {
    uint32_t u = (uint32_t)to_bf16(f) << 16;
    float r;
    memcpy(&r, &u, 4);
    return r;
}

// B (k×n) → panels [n/NR][k/2][NR] of 32-bit words (bf16 of row 2p in the low half, of row
// 2p+1 in the high half), zero-padded past n and past an odd k.
void nl_gemm_pack_b_bf16(const float *b, ptrdiff_t ldb, ptrdiff_t k, ptrdiff_t n, uint32_t *packed) {
    ptrdiff_t panels = (n + NR - 1) / NR, pairs = (k + 1) / 2;
    for (ptrdiff_t jp = 0; jp < panels; jp++) {
        ptrdiff_t j0 = jp * NR;
        uint32_t *dst = packed + jp * pairs * NR;
        for (ptrdiff_t p = 0; p < pairs; p++) {
            for (ptrdiff_t j = 0; j < NR; j++) {
                ptrdiff_t col = j0 + j;
                uint32_t lo = 0, hi = 0;
                if (col < n) {
                    lo = to_bf16(b[2 * p * ldb + col]);
                    if (2 * p + 1 < k) hi = to_bf16(b[(2 * p + 1) * ldb + col]);
                }
                dst[p * NR + j] = lo | (hi << 16);
            }
        }
    }
}

// Where the rows of A come from: a matrix (row stride lda), or a convolution's input, each row
// the patch of one output position gathered as it is packed (implicit im2col: no patch matrix
// is written, and a temporal conv's taps are one product instead of one per tap).
typedef struct {
    const float *a;
    ptrdiff_t lda;
    const nl_conv_shape *conv;  // non-null: a is the conv's input x, rows are output positions
    ptrdiff_t first_row;
} a_source;

// Conv patch of output position r (over all images), depth range [p0, p0 + kc) in the weight's
// order (kT, kH, kW, Cin), into dst: runs of at most Cin floats, zeros for taps outside x.
static void gather_patch(const nl_conv_shape *g, const float *x, ptrdiff_t r, ptrdiff_t p0, int kc, float *dst) {
    ptrdiff_t plane = g->ho * g->wo, per_image = g->to * plane;
    ptrdiff_t image = r / per_image, q = r % per_image;
    ptrdiff_t ot = q / plane, oh = (q / g->wo) % g->ho, ow = q % g->wo;
    for (ptrdiff_t j = p0, end = p0 + kc; j < end;) {
        ptrdiff_t tap = j / g->cin, ci = j % g->cin, run = g->cin - ci < end - j ? g->cin - ci : end - j;
        ptrdiff_t a = tap / (g->kernel[1] * g->kernel[2]), b = (tap / g->kernel[2]) % g->kernel[1], c = tap % g->kernel[2];
        ptrdiff_t it = ot * g->stride[0] - g->padding[0] + a * g->dilation[0];
        ptrdiff_t ih = oh * g->stride[1] - g->padding[1] + b * g->dilation[1];
        ptrdiff_t iw = ow * g->stride[2] - g->padding[2] + c * g->dilation[2];
        float *d = dst + (j - p0);
        if (it >= 0 && it < g->t && ih >= 0 && ih < g->h && iw >= 0 && iw < g->w)
            memcpy(d, x + (((image * g->t + it) * g->h + ih) * g->w + iw) * g->cin + ci, (size_t)run * sizeof(float));
        else
            memset(d, 0, (size_t)run * sizeof(float));
        j += run;
    }
}

// Row `row` of A (relative to the block), depth [p0, p0 + kc): in place for a matrix; gathered
// into `scratch` (kc floats) for a conv.
static const float *a_row(const a_source *s, ptrdiff_t row, ptrdiff_t p0, int kc, float *scratch) {
    if (!s->conv) return s->a + row * s->lda + p0;
    gather_patch(s->conv, s->a, s->first_row + row, p0, kc, scratch);
    return scratch;
}

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma"))), apply_to = function)

// Masks for the two 16-column halves of a panel with `cols` valid columns.
static inline __mmask16 half_mask(int cols, int half) {
    int c = cols - 16 * half;
    return c >= 16 ? (__mmask16)0xffff : c <= 0 ? (__mmask16)0 : (__mmask16)((1u << c) - 1);
}

// Stores a 14×32 accumulator block into C (rows × cols valid), adding C's values when accumulate.
#define NL_STORE_BLOCK(acc, c, ldc, rows, cols, accumulate)                                                     \
    do {                                                                                                        \
        __mmask16 m0 = half_mask(cols, 0), m1 = half_mask(cols, 1);                                            \
        for (int i = 0; i < MR; i++) {                                                                          \
            if (i >= rows) break;                                                                               \
            float *ci = (c) + i * (ldc);                                                                        \
            __m512 v0 = acc[i][0], v1 = acc[i][1];                                                              \
            if (accumulate) {                                                                                   \
                v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, ci));                                           \
                v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, ci + 16));                                      \
            }                                                                                                   \
            _mm512_mask_storeu_ps(ci, m0, v0);                                                                  \
            _mm512_mask_storeu_ps(ci + 16, m1, v1);                                                             \
        }                                                                                                       \
    } while (0)

// The 14 rows of a micro-kernel, spelt out: as an array of vectors indexed in a loop, clang
// keeps the accumulators in memory (4 FMAs in the loop, not 28 in registers).
#define NL_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)
#define NL_DECLARE(i) __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = _mm512_setzero_ps();
#define NL_GATHER(i) acc[i][0] = c##i##0; acc[i][1] = c##i##1;

// C[rows×cols] (+)= A micro-panel [MR][KC] (rows of a fixed stride, so each row's element is
// one displacement from a moving pointer: no transposed packing) · B panel [kc][NR].
static void micro_f32(int kc, const float *restrict a, const float *restrict b, float *c, ptrdiff_t ldc,
                      int rows, int cols, int accumulate) {
    NL_ROWS(NL_DECLARE)
    for (int p = 0; p < kc; p++) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#define NL_FMA(i)                                                                                                \
    {                                                                                                           \
        __m512 ai = _mm512_set1_ps(a[i * KC]);                                                                  \
        c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);                                                             \
        c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1);                                                             \
    }
        NL_ROWS(NL_FMA)
#undef NL_FMA
        a += 1;
        b += NR;
    }
    __m512 acc[MR][2];
    NL_ROWS(NL_GATHER)
    NL_STORE_BLOCK(acc, c, ldc, rows, cols, accumulate);
}

// A block (rows row0 … row0+rows−1, depth p0 … p0+kc−1) → micro-panels [rows/MR][MR][KC],
// zero rows past the end. A conv's patch is gathered straight into its packed row.
static void pack_a_f32(const a_source *s, ptrdiff_t row0, int rows, ptrdiff_t p0, int kc, float *restrict packed) {
    int padded = (rows + MR - 1) / MR * MR;
    for (int i = 0; i < padded; i++) {
        float *dst = packed + (ptrdiff_t)i * KC;
        if (i >= rows) { memset(dst, 0, (size_t)kc * sizeof(float)); continue; }
        const float *src = a_row(s, row0 + i, p0, kc, dst);
        if (src != dst) memcpy(dst, src, (size_t)kc * sizeof(float));
    }
}
#pragma clang attribute pop

#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx512bf16,fma"))), apply_to = function)

// C[rows×cols] (+)= A micro-panel [MR][KC] of bf16 pairs (2·KC deep) · B panel [kc/2][NR] pairs.
static void micro_bf16(int pairs, const uint32_t *restrict a, const uint32_t *restrict b, float *c, ptrdiff_t ldc,
                       int rows, int cols, int accumulate) {
    NL_ROWS(NL_DECLARE)
    for (int p = 0; p < pairs; p++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(b), b1 = (__m512bh)_mm512_loadu_si512(b + 16);
#define NL_DOT(i)                                                                                                \
    {                                                                                                           \
        __m512bh ai = (__m512bh)_mm512_set1_epi32((int)a[i * KC]);                                                   \
        c##i##0 = _mm512_dpbf16_ps(c##i##0, ai, b0);                                                            \
        c##i##1 = _mm512_dpbf16_ps(c##i##1, ai, b1);                                                            \
    }
        NL_ROWS(NL_DOT)
#undef NL_DOT
        a += 1;
        b += NR;
    }
    __m512 acc[MR][2];
    NL_ROWS(NL_GATHER)
    NL_STORE_BLOCK(acc, c, ldc, rows, cols, accumulate);
}

// A block (rows × kc floats from p0, kc even except at the end of k) → micro-panels
// [rows/MR][MR][KC] of bf16 pairs, zero rows past the end and a zero partner for an odd last
// k. `scratch` holds one gathered conv patch (2·KC floats).
static void pack_a_bf16(const a_source *s, ptrdiff_t row0, int rows, ptrdiff_t p0, int kc, uint32_t *restrict packed,
                        float *scratch) {
    int pairs = (kc + 1) / 2, padded = (rows + MR - 1) / MR * MR;
    for (int i = 0; i < padded; i++) {
        uint32_t *dst = packed + (ptrdiff_t)i * KC;
        if (i >= rows) { memset(dst, 0, (size_t)pairs * sizeof(uint32_t)); continue; }
        const float *src = a_row(s, row0 + i, p0, kc, scratch);
        int p = 0;
        // 32 floats → 16 pairs (vcvtne2ps2bf16 puts its second operand in the low half).
        for (; 2 * p + 32 <= kc; p += 16)
            _mm512_storeu_si512(dst + p, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + 2 * p + 16),
                                                                    _mm512_loadu_ps(src + 2 * p)));
        for (; p < pairs; p++)
            dst[p] = to_bf16(src[2 * p]) | (2 * p + 1 < kc ? (uint32_t)to_bf16(src[2 * p + 1]) << 16 : 0u);
    }
}

#pragma clang attribute pop

// One element format's kernels for the shared loop nest below. Both formats pack 4-byte
// units (a float, or a pair of bf16), `step` values of k per unit.
typedef struct {
    int step;
    void (*pack_a)(const a_source *s, ptrdiff_t row0, int rows, ptrdiff_t p0, int kc, void *packed, float *scratch);
    void (*micro)(int units, const void *a, const void *b, float *c, ptrdiff_t ldc, int rows, int cols, int accumulate);
} gemm_format;

static void pack_a_f32_any(const a_source *s, ptrdiff_t row0, int rows, ptrdiff_t p0, int kc, void *packed, float *scratch) {
    (void)scratch;
    pack_a_f32(s, row0, rows, p0, kc, packed);
}
static void micro_f32_any(int units, const void *a, const void *b, float *c, ptrdiff_t ldc, int rows, int cols, int acc) {
    micro_f32(units, a, b, c, ldc, rows, cols, acc);
}
static void pack_a_bf16_any(const a_source *s, ptrdiff_t row0, int rows, ptrdiff_t p0, int kc, void *packed, float *scratch) {
    pack_a_bf16(s, row0, rows, p0, kc, packed, scratch);
}
static void micro_bf16_any(int units, const void *a, const void *b, float *c, ptrdiff_t ldc, int rows, int cols, int acc) {
    micro_bf16(units, a, b, c, ldc, rows, cols, acc);
}

static const gemm_format format_f32 = {1, pack_a_f32_any, micro_f32_any};
static const gemm_format format_bf16 = {2, pack_a_bf16_any, micro_bf16_any};

// The loop nest: blocks of MC rows of A (packed once per block and depth slice, kept in L2),
// slices of KC units of depth, then each B panel (KC×NR, in L1) against every MR-row
// micro-panel of the block. C is overwritten by the first slice.
static void gemm_blocked(const gemm_format *f, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const a_source *a,
                         const uint32_t *packed_b, ptrdiff_t first_panel, ptrdiff_t panel_count, float *c, ptrdiff_t ldc) {
    ptrdiff_t depth = KC * f->step, units = (k + f->step - 1) / f->step;
    uint32_t *ap = aligned_alloc(64, sizeof(uint32_t) * MC * KC);
    float *scratch = aligned_alloc(64, sizeof(float) * 2 * KC);
    for (ptrdiff_t i0 = 0; i0 < m; i0 += MC) {
        int mc = m - i0 < MC ? (int)(m - i0) : MC;
        for (ptrdiff_t p0 = 0; p0 < k; p0 += depth) {
            int kc = k - p0 < depth ? (int)(k - p0) : (int)depth, kc_units = (kc + f->step - 1) / f->step;
            f->pack_a(a, i0, mc, p0, kc, ap, scratch);
            int acc = p0 > 0;  // later depth slices add to the first's
            for (ptrdiff_t jp = first_panel; jp < first_panel + panel_count; jp++) {
                const uint32_t *bp = packed_b + (jp * units + p0 / f->step) * NR;
                int cols = n - jp * NR < NR ? (int)(n - jp * NR) : NR;
                for (int ir = 0; ir < mc; ir += MR) {
                    int rows = mc - ir < MR ? mc - ir : MR;
                    f->micro(kc_units, ap + (ptrdiff_t)ir * KC, bp, c + (i0 + ir) * ldc + jp * NR, ldc, rows, cols, acc);
                }
            }
        }
    }
    free(scratch);
    free(ap);
}

void nl_gemm_f32(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a, ptrdiff_t lda, const float *packed_b,
                 ptrdiff_t first_panel, ptrdiff_t panel_count, float *c, ptrdiff_t ldc) {
    a_source source = {a, lda, NULL, 0};
    gemm_blocked(&format_f32, m, n, k, &source, (const uint32_t *)packed_b, first_panel, panel_count, c, ldc);
}

void nl_gemm_bf16(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a, ptrdiff_t lda, const uint32_t *packed_b,
                  ptrdiff_t first_panel, ptrdiff_t panel_count, float *c, ptrdiff_t ldc) {
    a_source source = {a, lda, NULL, 0};
    gemm_blocked(&format_bf16, m, n, k, &source, packed_b, first_panel, panel_count, c, ldc);
}

void nl_conv_gemm(const nl_conv_shape *shape, const float *x, ptrdiff_t first_row, ptrdiff_t rows, int bf16,
                  const void *packed_b, ptrdiff_t n, ptrdiff_t first_panel, ptrdiff_t panel_count, float *y, ptrdiff_t ldc) {
    ptrdiff_t k = shape->kernel[0] * shape->kernel[1] * shape->kernel[2] * shape->cin;
    a_source source = {x, 0, shape, first_row};
    gemm_blocked(bf16 ? &format_bf16 : &format_f32, rows, n, k, &source, packed_b, first_panel, panel_count, y, ldc);
}
#else
void nl_gemm_f32(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a, ptrdiff_t lda, const float *packed_b,
                 ptrdiff_t first_panel, ptrdiff_t panel_count, float *c, ptrdiff_t ldc) {
    abort();  // nl_gemm_available() is 0 here
}
void nl_gemm_bf16(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a, ptrdiff_t lda, const uint32_t *packed_b,
                  ptrdiff_t first_panel, ptrdiff_t panel_count, float *c, ptrdiff_t ldc) {
    abort();
}
void nl_conv_gemm(const nl_conv_shape *shape, const float *x, ptrdiff_t first_row, ptrdiff_t rows, int bf16,
                  const void *packed_b, ptrdiff_t n, ptrdiff_t first_panel, ptrdiff_t panel_count, float *y, ptrdiff_t ldc) {
    abort();
}
#endif
