// The project's own GEMM for AVX-512: C (m×n, row-major) = A (m×k, row-major) · B (k×n), in
// fp32 (vfmadd231ps) and in bfloat16 with fp32 accumulation (AVX512_BF16 vdpbf16ps).
//
// Why its own: Debian's OpenBLAS has no bf16 GEMM at all, and its fp32 kernel runs the skinny
// products of a video ResNet (N = 64…256 columns, M = tens of thousands of rows) at half its
// square-matrix rate. Layout, as in the BLIS papers (Van Zee & van de Geijn, 2015): B is packed
// once into panels of NR = 32 columns (a conv weight: once per model, not per call); A is packed
// per block of MC rows × KC depth into micro-panels of MR = 14 rows, unless its rows already lie
// at a fixed stride in memory (a pointwise or temporal conv's input), where they are read in
// place; a micro-kernel keeps a 14×32 block of C in 28 zmm registers and streams one A
// micro-panel (L2) against one B panel (L1), and runs the conv's epilogue as it stores C. bf16 works on pairs of k: each 32-bit lane of vdpbf16ps multiplies two bf16 pairs and
// adds both products to an fp32 accumulator, so packed operands hold (k, k+1) side by side.
//
// Everything here needs AVX-512 (and AVX512_BF16 for the bf16 half); the functions are compiled
// with per-function target attributes, and callers ask nl_gemm_available() /
// nl_gemm_bf16_available() first (the Swift side falls back to OpenBLAS for fp32, and refuses
// bf16 with a message, on a CPU without them).
#include "nl_kernels.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#ifndef NL_KC
#define NL_KC 256
#endif
#ifndef NL_APAD
#define NL_APAD 16
#endif
enum { MR = NL_GEMM_MR, NR = NL_GEMM_NR, KC = NL_KC, MC = MR * 16, LDA = KC + NL_APAD };

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

// The rows of A read in order, one at a time: a row of the matrix, or the conv patch of one
// output position. For a conv the cursor keeps the position (image, ot, oh, ow) and the first
// tap of the depth slice, so gathering a row takes no division (a division per tap cost more
// than the row's multiply-adds for a 64-channel 1×3×3 conv).
typedef struct {
    const a_source *s;
    ptrdiff_t row;                 // relative to the source's first row
    ptrdiff_t p0;                  // first depth of the slice
    ptrdiff_t image, ot, oh, ow;   // conv: output position of `row`
    ptrdiff_t ta, tb, tc, ci;      // conv: tap (kT, kH, kW index) and channel at depth p0
} a_cursor;

static a_cursor a_cursor_start(const a_source *s, ptrdiff_t row, ptrdiff_t p0) {
    a_cursor c = {s, row, p0, 0, 0, 0, 0, 0, 0, 0, 0};
    const nl_conv_shape *g = s->conv;
    if (!g) return c;
    ptrdiff_t r = s->first_row + row, plane = g->ho * g->wo, per_image = g->to * plane;
    c.image = r / per_image;
    ptrdiff_t q = r % per_image;
    c.ot = q / plane; c.oh = (q / g->wo) % g->ho; c.ow = q % g->wo;
    ptrdiff_t tap = p0 / g->cin;
    c.ci = p0 % g->cin;
    c.ta = tap / (g->kernel[1] * g->kernel[2]); c.tb = (tap / g->kernel[2]) % g->kernel[1]; c.tc = tap % g->kernel[2];
    return c;
}

static void a_cursor_next(a_cursor *c) {
    c->row++;
    const nl_conv_shape *g = c->s->conv;
    if (!g || ++c->ow < g->wo) return;
    c->ow = 0;
    if (++c->oh < g->ho) return;
    c->oh = 0;
    if (++c->ot < g->to) return;
    c->ot = 0;
    c->image++;
}

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma"))), apply_to = function)

#include "gemm_micro.h"

// The cursor's row, depth [p0, p0 + kc): in place for a matrix; for a conv gathered into `dst`
// (kc floats) as runs of at most Cin floats in the weight's order (kT, kH, kW, Cin), zeros for
// taps outside x.
static const float *a_cursor_row(const a_cursor *c, int kc, float *dst) {
    const a_source *s = c->s;
    const nl_conv_shape *g = s->conv;
    if (!g) return s->a + c->row * s->lda + c->p0;
    const float *image = s->a + c->image * g->t * g->h * g->w * g->cin;
    ptrdiff_t t0 = c->ot * g->stride[0] - g->padding[0], h0 = c->oh * g->stride[1] - g->padding[1];
    ptrdiff_t w0 = c->ow * g->stride[2] - g->padding[2];
    ptrdiff_t ta = c->ta, tb = c->tb, tc = c->tc, ci = c->ci;
    for (ptrdiff_t j = 0; j < kc;) {
        ptrdiff_t run = g->cin - ci < kc - j ? g->cin - ci : kc - j;
        ptrdiff_t it = t0 + ta * g->dilation[0], ih = h0 + tb * g->dilation[1], iw = w0 + tc * g->dilation[2];
        if (it >= 0 && it < g->t && ih >= 0 && ih < g->h && iw >= 0 && iw < g->w)
            copy_floats(dst + j, image + ((it * g->h + ih) * g->w + iw) * g->cin + ci, run);
        else
            zero_floats(dst + j, run);
        j += run;
        ci = 0;
        if (++tc == g->kernel[2]) {
            tc = 0;
            if (++tb == g->kernel[1]) { tb = 0; ta++; }
        }
    }
    return dst;
}

// A block (rows row0 … row0+rows−1, depth p0 … p0+kc−1) → micro-panels [rows/MR][MR][KC],
// zero rows past the end. A conv's patch is gathered straight into its packed row.
static void pack_a_f32(const a_source *s, ptrdiff_t row0, int rows, ptrdiff_t p0, int kc, float *restrict packed) {
    int padded = (rows + MR - 1) / MR * MR;
    a_cursor cursor = a_cursor_start(s, row0, p0);
    for (int i = 0; i < padded; i++, a_cursor_next(&cursor)) {
        float *dst = packed + (ptrdiff_t)i * LDA;
        if (i >= rows) { zero_floats(dst, kc); continue; }
        const float *src = a_cursor_row(&cursor, kc, dst);
        if (src != dst) copy_floats(dst, src, kc);
    }
}
#pragma clang attribute pop

#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx512bf16,fma"))), apply_to = function)

// C block (+)= A micro-panel [MR][KC] of bf16 pairs (2·KC deep) · B panel [kc/2][NR] pairs.
static void micro_bf16(int pairs, const uint32_t *restrict a, ptrdiff_t lda, const uint32_t *restrict b, const tile_out *t) {
    NL_ROWS(NL_DECLARE)
    NL_A_BASES(uint32_t, a, lda * (ptrdiff_t)sizeof(uint32_t))
    for (int p = 0; p < pairs; p++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(b), b1 = (__m512bh)_mm512_loadu_si512(b + 16);
#define NL_DOT(i, value)                                                                                         \
    {                                                                                                           \
        __m512bh ai = (__m512bh)_mm512_set1_epi32((int)(value));                                                \
        c##i##0 = _mm512_dpbf16_ps(c##i##0, ai, b0);                                                            \
        c##i##1 = _mm512_dpbf16_ps(c##i##1, ai, b1);                                                            \
    }
        NL_A_ROWS(uint32_t, NL_DOT)
#undef NL_DOT
        NL_A_NEXT(uint32_t)
        b += NR;
    }
    __m512 acc[MR][2];
    NL_ROWS(NL_GATHER)
    NL_STORE_BLOCK(acc, t);
}

// A block (rows × kc floats from p0, kc even except at the end of k) → micro-panels
// [rows/MR][MR][KC] of bf16 pairs, zero rows past the end and a zero partner for an odd last
// k. `scratch` holds one gathered conv patch (2·KC floats).
static void pack_a_bf16(const a_source *s, ptrdiff_t row0, int rows, ptrdiff_t p0, int kc, uint32_t *restrict packed,
                        float *scratch) {
    int pairs = (kc + 1) / 2, padded = (rows + MR - 1) / MR * MR;
    a_cursor cursor = a_cursor_start(s, row0, p0);
    for (int i = 0; i < padded; i++, a_cursor_next(&cursor)) {
        uint32_t *dst = packed + (ptrdiff_t)i * LDA;
        if (i >= rows) { memset(dst, 0, (size_t)pairs * sizeof(uint32_t)); continue; }
        const float *src = a_cursor_row(&cursor, kc, scratch);
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
    void (*micro)(int units, const void *a, ptrdiff_t lda, const void *b, const tile_out *t);
    int in_place;  // A's rows can be read where they are (fp32: no conversion as they are packed)
} gemm_format;

static void pack_a_f32_any(const a_source *s, ptrdiff_t row0, int rows, ptrdiff_t p0, int kc, void *packed, float *scratch) {
    (void)scratch;
    pack_a_f32(s, row0, rows, p0, kc, packed);
}
static void micro_f32_any(int units, const void *a, ptrdiff_t lda, const void *b, const tile_out *t) {
    micro_f32(1, NULL, units, a, lda, b, t);
}
static void pack_a_bf16_any(const a_source *s, ptrdiff_t row0, int rows, ptrdiff_t p0, int kc, void *packed, float *scratch) {
    pack_a_bf16(s, row0, rows, p0, kc, packed, scratch);
}
static void micro_bf16_any(int units, const void *a, ptrdiff_t lda, const void *b, const tile_out *t) {
    micro_bf16(units, a, lda, b, t);
}

static const gemm_format format_f32 = {1, pack_a_f32_any, micro_f32_any, 1};
static const gemm_format format_bf16 = {2, pack_a_bf16_any, micro_bf16_any, 0};

// Where rows row … row+rows−1 of A, depth [p0, p0 + kc), already lie `*lda` floats apart in
// memory: a matrix's rows, or (one temporal tap of a kT×1×1 conv with stride 1, no spatial
// padding and as many output as input frames) the input rows one tap away, when all of them
// are inside x and in one image. Returns the first row's depth p0, or NULL (pack them).
static const float *a_in_place(const a_source *s, ptrdiff_t row, int rows, ptrdiff_t p0, int kc, ptrdiff_t *lda) {
    const nl_conv_shape *g = s->conv;
    if (!g) { *lda = s->lda; return s->a + row * s->lda + p0; }
    if (g->kernel[1] != 1 || g->kernel[2] != 1 || g->stride[0] != 1 || g->stride[1] != 1 || g->stride[2] != 1 ||
        g->padding[1] != 0 || g->padding[2] != 0 || g->to != g->t)
        return NULL;
    ptrdiff_t tap = p0 / g->cin;
    if ((p0 + kc - 1) / g->cin != tap) return NULL;
    ptrdiff_t plane = g->h * g->w, per_image = g->t * plane, r = s->first_row + row, last = r + rows - 1;
    if (r / per_image != last / per_image) return NULL;
    ptrdiff_t shift = tap * g->dilation[0] - g->padding[0];
    ptrdiff_t first_frame = (r % per_image) / plane + shift, last_frame = (last % per_image) / plane + shift;
    if (first_frame < 0 || last_frame >= g->t) return NULL;
    *lda = g->cin;
    return s->a + (r + shift * plane) * g->cin + (p0 - tap * g->cin);
}

// Each thread's scratch: the packed path's A block and patch (MC·LDA + 2·KC units, 250 KB), or
// the spatial path's padded input rows (about 1 MB); one thread runs one product at a time, so
// one buffer serves both. Kept per thread, grown as needed, freed when the thread exits:
// allocating it per call (each conv runs one call per 224-row block) cost 6–9% of a pointwise
// conv in page faults.
typedef struct {
    size_t bytes;
    void *memory;
} scratch_buffer;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static void free_scratch(void *p) {
    free(((scratch_buffer *)p)->memory);
    free(p);
}
static void make_scratch_key(void) { pthread_key_create(&scratch_key, free_scratch); }

void *nl_gemm_thread_scratch(size_t bytes) {
    pthread_once(&scratch_once, make_scratch_key);
    scratch_buffer *b = pthread_getspecific(scratch_key);
    if (!b) {
        if (!(b = calloc(1, sizeof *b))) abort();
        pthread_setspecific(scratch_key, b);
    }
    if (b->bytes < bytes) {
        free(b->memory);
        b->bytes = (bytes + 63) / 64 * 64;
        if (!(b->memory = aligned_alloc(64, b->bytes))) abort();
    }
    return b->memory;
}

// The loop nest: blocks of MC rows of A (packed once per block and depth slice, kept in L2),
// slices of KC units of depth over [k_begin, k_end) of B's k rows, then each B panel (KC×NR,
// in L1) against every MR-row micro-panel of the block. C is overwritten by the first slice
// (added to when the epilogue says it holds a residual); the epilogue (bias, residual aligned
// with C's rows, ReLU) runs on the last.
static void gemm_blocked(const gemm_format *f, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, ptrdiff_t k_begin, ptrdiff_t k_end,
                         const a_source *a, const uint32_t *packed_b, ptrdiff_t first_panel, ptrdiff_t panel_count,
                         float *c, ptrdiff_t ldc, const nl_epilogue *epilogue) {
    ptrdiff_t depth = KC * f->step, units = (k + f->step - 1) / f->step;
    uint32_t *ap = nl_gemm_thread_scratch(sizeof(uint32_t) * (MC * LDA + 2 * KC));
    float *scratch = (float *)(ap + MC * LDA);
    for (ptrdiff_t i0 = 0; i0 < m; i0 += MC) {
        int mc = m - i0 < MC ? (int)(m - i0) : MC;
        for (ptrdiff_t p0 = k_begin; p0 < k_end; p0 += depth) {
            int kc = k_end - p0 < depth ? (int)(k_end - p0) : (int)depth, kc_units = (kc + f->step - 1) / f->step;
            int last = p0 + depth >= k_end;
            // Rows already in memory at a fixed stride are read in place (a pointwise or temporal
            // conv's input; 15–20% faster than packing them for 64 output channels); only a
            // last partial micro-panel, whose 14-row reach would pass the block, is packed.
            ptrdiff_t in_place_lda = 0;
            const float *in_place = f->in_place ? a_in_place(a, i0, mc, p0, kc, &in_place_lda) : NULL;
            int whole = in_place ? mc / MR * MR : 0;
            if (whole < mc) f->pack_a(a, i0 + whole, mc - whole, p0, kc, ap + (ptrdiff_t)whole * LDA, scratch);
            for (ptrdiff_t jp = first_panel; jp < first_panel + panel_count; jp++) {
                const uint32_t *bp = packed_b + (jp * units + p0 / f->step) * NR;
                int accumulate = p0 > k_begin || (epilogue && epilogue->accumulate);
                tile_out t = {NULL, ldc, 0, n - jp * NR < NR ? (int)(n - jp * NR) : NR, accumulate, 0, NULL, NULL};
                if (last && epilogue) {
                    t.relu = epilogue->relu;
                    t.bias = epilogue->bias ? epilogue->bias + jp * NR : NULL;
                }
                // The next B slice (the next panel, or the first panel of the next depth slice) is
                // fetched into L2 a share per micro-kernel call, while this one computes: in a
                // forward the weights are cold (L3 or DRAM), and each slice's first call otherwise
                // waited for its 32 KB.
                const char *next_b = NULL;
                if (jp + 1 < first_panel + panel_count) next_b = (const char *)(bp + units * NR);
                else if (p0 + depth < k_end) next_b = (const char *)(packed_b + (first_panel * units + (p0 + depth) / f->step) * NR);
                ptrdiff_t b_lines = (ptrdiff_t)kc_units * NR * 4 / 64, calls = (mc + MR - 1) / MR;
                ptrdiff_t share = (b_lines + calls - 1) / calls;
                for (int ir = 0; ir < mc; ir += MR) {
                    if (next_b) {
                        ptrdiff_t line = (ir / MR) * share, stop = line + share < b_lines ? line + share : b_lines;
                        for (; line < stop; line++) __builtin_prefetch(next_b + line * 64, 0, 2);
                    }
                    t.rows = mc - ir < MR ? mc - ir : MR;
                    t.c = c + (i0 + ir) * ldc + jp * NR;
                    if (last && epilogue && epilogue->residual) t.residual = epilogue->residual + (i0 + ir) * ldc + jp * NR;
                    if (ir < whole) f->micro(kc_units, in_place + ir * in_place_lda, in_place_lda, bp, &t);
                    else f->micro(kc_units, ap + (ptrdiff_t)ir * LDA, LDA, bp, &t);
                }
            }
        }
    }
}

// A 1×kH×kW conv at least 14 outputs wide (a ResNet's 1×3×3 conv): its A is read in place, not
// gathered. Each micro-panel is at most 14 positions of one output row, so for a tap (i, j) its
// rows are 14 input pixels of one row, stride·Cin floats apart, at a fixed offset from the tap
// (0, 0) pixel: the micro-kernel reads all taps of a depth slice from there. The input rows a
// group of output rows reads are first copied, zero-padded on every side, into a per-thread
// buffer (L2), so border taps need no special case. The gather this replaces wrote each input
// pixel kH·kW times (16% of res2's 64-channel conv in perf).
static int spatial_in_place(const nl_conv_shape *g, int bf16) {
    return !bf16 && g->kernel[0] == 1 && g->padding[0] == 0 && g->stride[0] == 1 && g->kernel[1] * g->kernel[2] > 1 &&
           g->to == g->t && g->dilation[1] == 1 && g->dilation[2] == 1 && g->wo >= MR;
}

int nl_conv_gemm_rows_aligned(const nl_conv_shape *shape, int bf16) {
    return nl_gemm_available() && spatial_in_place(shape, bf16);
}

#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma"))), apply_to = function)
static void conv_spatial_in_place(const nl_conv_shape *g, const float *x, ptrdiff_t first_row, ptrdiff_t rows,
                                  const float *packed_b, ptrdiff_t n, ptrdiff_t first_panel, ptrdiff_t panel_count, float *y,
                                  ptrdiff_t ldc, const nl_epilogue *epilogue) {
    const ptrdiff_t kh = g->kernel[1], kw = g->kernel[2], cin = g->cin, taps = kh * kw, k = taps * cin;
    const ptrdiff_t wo = g->wo, plane = g->ho * wo, ph = g->padding[1], pw = g->padding[2];
    const ptrdiff_t sh = g->stride[1], sw = g->stride[2];
    const ptrdiff_t wp = (wo - 1) * sw + kw;  // a padded row: input columns −pw … (wo − 1)·sw − pw + kw − 1
    // Depth slices of at most SPATIAL_KC: whole taps when Cin ≤ SPATIAL_KC (as many per slice as
    // fit, spread evenly), else each tap in even channel chunks. Slices much deeper than the
    // packed path's KC = 256: every slice ends by storing the 14×32 block and the next reloads
    // it, and B streams well enough from L2 (9 bytes a cycle at full FMA rate). A 1×3×3 conv of
    // up to 512 channels is one slice. Harness, 2 threads, against KC = 256: res4's 256-channel
    // conv 2.74–2.76 against 2.93–3.08 ms, res2's 64-channel 5.81–5.85 against 5.89–6.68.
    enum { SPATIAL_KC = 4608 };
    ptrdiff_t slice_taps = 1, chunk = cin;
    if (cin <= SPATIAL_KC) {
        ptrdiff_t slices = (taps + SPATIAL_KC / cin - 1) / (SPATIAL_KC / cin);
        slice_taps = (taps + slices - 1) / slices;
    } else {
        ptrdiff_t pieces = (cin + SPATIAL_KC - 1) / SPATIAL_KC;
        chunk = (cin + pieces - 1) / pieces;
    }
    ptrdiff_t offsets[taps];
    for (ptrdiff_t i = 0; i < kh; i++)
        for (ptrdiff_t j = 0; j < kw; j++) offsets[i * kw + j] = (i * wp + j) * cin;
    // A group of output positions is padded and multiplied at once, so B is read once per group:
    // up to 16 frames, whose padded input rows (each frame's zero-padded on its own) stay within
    // about 1 MB (L2). One group held a single frame at first, and res4's tasks of two frames
    // read its 2.4 MB weight twice.
    enum { GROUP_FRAMES = 16 };
    // margin: a micro-panel's rows past its output row read up to MR·sw + kW pixels on.
    const ptrdiff_t row_floats = wp * cin, budget = 262144, margin = (MR * sw + kw) * cin;
    float *xp = nl_gemm_thread_scratch(sizeof(float) * (size_t)((budget > kh * row_floats ? budget : kh * row_floats) + margin));
    ptrdiff_t left = pw < wp ? pw : wp, inside = g->w < wp - left ? g->w : wp - left;
    for (ptrdiff_t r = first_row, end = first_row + rows; r < end;) {
        ptrdiff_t start[GROUP_FRAMES + 1], first_h[GROUP_FRAMES], offset[GROUP_FRAMES], used = 0;
        int frames = 0;
        for (ptrdiff_t p = r; p < end && frames < GROUP_FRAMES;) {
            ptrdiff_t frame = p / plane, h0 = (p % plane) / wo, room = (budget - used) / row_floats;
            ptrdiff_t out_rows = room >= kh ? (room - kh) / sh + 1 : 0;
            if (out_rows < 1) {
                if (frames) break;
                out_rows = 1;
            }
            ptrdiff_t stop = frame * plane + (h0 + out_rows) * wo;
            if (stop > (frame + 1) * plane) stop = (frame + 1) * plane;
            if (stop > end) stop = end;
            ptrdiff_t h1 = ((stop - 1) % plane) / wo + 1, padded_rows = (h1 - h0 - 1) * sh + kh;
            const float *frame_x = x + frame * g->h * g->w * cin;
            for (ptrdiff_t i = 0; i < padded_rows; i++) {
                float *row = xp + used + i * row_floats;
                ptrdiff_t ih = h0 * sh + i - ph;
                if (ih < 0 || ih >= g->h) { zero_floats(row, row_floats); continue; }
                zero_floats(row, left * cin);
                copy_floats(row + left * cin, frame_x + ih * g->w * cin, inside * cin);
                zero_floats(row + (left + inside) * cin, (wp - left - inside) * cin);
            }
            start[frames] = p;
            first_h[frames] = h0;
            offset[frames++] = used;
            used += padded_rows * row_floats;
            p = stop;
            start[frames] = p;
        }
        zero_floats(xp + used, margin);
        for (ptrdiff_t s0 = 0; s0 < taps; s0 += slice_taps) {
            int segments = (int)(taps - s0 < slice_taps ? taps - s0 : slice_taps);
            for (ptrdiff_t c0 = 0; c0 < cin; c0 += chunk) {
                int kc = (int)(cin - c0 < chunk ? cin - c0 : chunk);
                int first = s0 == 0 && c0 == 0, last = s0 + segments >= taps && c0 + kc >= cin;
                for (ptrdiff_t jp = first_panel; jp < first_panel + panel_count; jp++) {
                    const float *bp = packed_b + (jp * k + s0 * cin + c0) * NR;
                    tile_out t = {NULL, ldc, 0, n - jp * NR < NR ? (int)(n - jp * NR) : NR,
                                  !first || (epilogue && epilogue->accumulate), 0, NULL, NULL};
                    if (last && epilogue) {
                        t.relu = epilogue->relu;
                        t.bias = epilogue->bias ? epilogue->bias + jp * NR : NULL;
                    }
                    for (int f = 0; f < frames; f++) {
                        const float *block = xp + offset[f] + c0;
                        for (ptrdiff_t p = start[f]; p < start[f + 1];) {
                            ptrdiff_t h = (p % plane) / wo, w0 = p % wo, row_end = p - w0 + wo;
                            t.rows = (int)((row_end < start[f + 1] ? row_end : start[f + 1]) - p);
                            if (t.rows > MR) t.rows = MR;
                            t.c = y + (p - first_row) * ldc + jp * NR;
                            if (last && epilogue && epilogue->residual) t.residual = epilogue->residual + (p - first_row) * ldc + jp * NR;
                            micro_f32(segments, offsets + s0, kc, block + ((h - first_h[f]) * sh * wp + w0 * sw) * cin, sw * cin, bp, &t);
                            p += t.rows;
                        }
                    }
                }
            }
        }
        r = start[frames];
    }
}
#pragma clang attribute pop

// The taps of kernel[0] that read inside x for output frame ot: [*lo, *hi].
static void temporal_taps(const nl_conv_shape *g, ptrdiff_t ot, ptrdiff_t *lo, ptrdiff_t *hi) {
    *lo = g->kernel[0];
    *hi = -1;
    for (ptrdiff_t a = 0; a < g->kernel[0]; a++) {
        ptrdiff_t it = ot * g->stride[0] - g->padding[0] + a * g->dilation[0];
        if (it < 0 || it >= g->t) continue;
        if (a < *lo) *lo = a;
        *hi = a;
    }
}

void nl_conv_gemm(const nl_conv_shape *shape, const float *x, ptrdiff_t first_row, ptrdiff_t rows, int bf16,
                  const void *packed_b, ptrdiff_t n, ptrdiff_t first_panel, ptrdiff_t panel_count, float *y, ptrdiff_t ldc,
                  const nl_epilogue *epilogue) {
    const nl_conv_shape *g = shape;
    if (spatial_in_place(g, bf16)) {
        conv_spatial_in_place(g, x, first_row, rows, packed_b, n, first_panel, panel_count, y, ldc, epilogue);
        return;
    }
    const gemm_format *f = bf16 ? &format_bf16 : &format_f32;
    ptrdiff_t tap_depth = g->kernel[1] * g->kernel[2] * g->cin, k = g->kernel[0] * tap_depth;
    int pointwise = k == g->cin && g->stride[0] == 1 && g->stride[1] == 1 && g->stride[2] == 1 &&
                    g->padding[0] == 0 && g->padding[1] == 0 && g->padding[2] == 0;
    if (pointwise) {
        // Rows of x are A's rows in place: nothing to gather.
        a_source source = {x + first_row * g->cin, g->cin, NULL, 0};
        gemm_blocked(f, rows, n, k, 0, k, &source, packed_b, first_panel, panel_count, y, ldc, epilogue);
        return;
    }
    // Rows in runs of output frames that read the same temporal taps: a run near the clip's ends
    // multiplies only the taps inside x (the depth range of those taps, contiguous in B's k
    // order kT, kH, kW, Cin) instead of gathered zeros.
    ptrdiff_t plane = g->ho * g->wo;
    for (ptrdiff_t r = first_row, end = first_row + rows; r < end;) {
        ptrdiff_t lo, hi, next_lo, next_hi, stop = r;
        temporal_taps(g, (r / plane) % g->to, &lo, &hi);
        do {
            stop = (stop / plane + 1) * plane;
            if (stop >= end) break;
            temporal_taps(g, (stop / plane) % g->to, &next_lo, &next_hi);
        } while (next_lo == lo && next_hi == hi);
        if (stop > end) stop = end;
        ptrdiff_t k_begin = lo * tap_depth, k_end = (hi + 1) * tap_depth;
        if (hi < lo || k_begin % f->step != 0) { k_begin = 0; k_end = k; }  // no tap inside x, or a split bf16 pair
        nl_epilogue shifted = epilogue ? *epilogue : (nl_epilogue){NULL, NULL, 0, 0};
        if (shifted.residual) shifted.residual += (r - first_row) * ldc;
        a_source source = {x, 0, g, r};
        gemm_blocked(f, stop - r, n, k, k_begin, k_end, &source, packed_b, first_panel, panel_count,
                     y + (r - first_row) * ldc, ldc, epilogue ? &shifted : NULL);
        r = stop;
    }
}
#else
int nl_conv_gemm_rows_aligned(const nl_conv_shape *shape, int bf16) { return 0; }
void nl_conv_gemm(const nl_conv_shape *shape, const float *x, ptrdiff_t first_row, ptrdiff_t rows, int bf16,
                  const void *packed_b, ptrdiff_t n, ptrdiff_t first_panel, ptrdiff_t panel_count, float *y, ptrdiff_t ldc,
                  const nl_epilogue *epilogue) {
    abort();  // nl_gemm_available() is 0 here
}
#endif
