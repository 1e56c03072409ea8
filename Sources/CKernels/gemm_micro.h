// The own GEMM's fp32 micro-kernel and what it stores through, shared by gemm.c (products and
// convolutions) and winograd.c (the 16 products of a Winograd conv). Included inside an
// AVX-512 target region (`#pragma clang attribute push`), after nl_kernels.h and immintrin.h,
// with MR = NL_GEMM_MR and NR = NL_GEMM_NR in scope.
#ifndef NL_GEMM_MICRO_H
#define NL_GEMM_MICRO_H

// The calling thread's scratch buffer of at least `bytes` (gemm.c): grown as needed, kept until
// the thread exits; one product at a time uses it.
__attribute__((visibility("hidden"))) void *nl_gemm_thread_scratch(size_t bytes);

// n floats from src to dst, and n zeros to dst, inline: a conv's runs are short (64 floats in
// res2), one call into libc each otherwise (no speed difference was measurable either way).
static inline void copy_floats(float *dst, const float *src, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_loadu_ps(src + i));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(dst + i, m, _mm512_maskz_loadu_ps(m, src + i));
    }
}

static inline void zero_floats(float *dst, ptrdiff_t n) {
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_setzero_ps());
    if (i < n) _mm512_mask_storeu_ps(dst + i, (__mmask16)((1u << (n - i)) - 1), _mm512_setzero_ps());
}

// Masks for the two 16-column halves of a panel with `cols` valid columns.
static inline __mmask16 half_mask(int cols, int half) {
    int c = cols - 16 * half;
    return c >= 16 ? (__mmask16)0xffff : c <= 0 ? (__mmask16)0 : (__mmask16)((1u << c) - 1);
}

// Where a micro-kernel's 14×32 block goes: rows × cols of C (row stride ldc), added to C's
// values when accumulate (a later depth slice). On the last slice the convolution's epilogue
// runs on the block while it is in registers: + bias[col], + residual[row, col] (rows of the
// same stride as C), ReLU; each field is null/0 on earlier slices or when the conv has none.
typedef struct {
    float *c;
    ptrdiff_t ldc;
    int rows, cols, accumulate, relu;
    const float *bias, *residual;
} tile_out;

#define NL_STORE_BLOCK(acc, t)                                                                                  \
    do {                                                                                                        \
        __mmask16 m0 = half_mask((t)->cols, 0), m1 = half_mask((t)->cols, 1);                                   \
        __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps(), zero = _mm512_setzero_ps();           \
        if ((t)->bias) {                                                                                        \
            bias0 = _mm512_maskz_loadu_ps(m0, (t)->bias);                                                       \
            bias1 = _mm512_maskz_loadu_ps(m1, (t)->bias + 16);                                                  \
        }                                                                                                       \
        for (int i = 0; i < MR; i++) {                                                                          \
            if (i >= (t)->rows) break;                                                                          \
            float *ci = (t)->c + i * (t)->ldc;                                                                  \
            __m512 v0 = _mm512_add_ps(acc[i][0], bias0), v1 = _mm512_add_ps(acc[i][1], bias1);                  \
            if ((t)->accumulate) {                                                                              \
                v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, ci));                                           \
                v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, ci + 16));                                      \
            }                                                                                                   \
            if ((t)->residual) {                                                                                \
                const float *ri = (t)->residual + i * (t)->ldc;                                                 \
                v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, ri));                                           \
                v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, ri + 16));                                      \
            }                                                                                                   \
            if ((t)->relu) {                                                                                    \
                v0 = _mm512_max_ps(v0, zero);                                                                   \
                v1 = _mm512_max_ps(v1, zero);                                                                   \
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
// Row i of an A micro-panel whose rows are `stride` bytes apart, as base + {1,2,4,8}·stride
// from five row pointers (rows 0, 3, 6, 9, 12), so 14 rows cost 6 registers; a runtime stride
// lets the kernel read a conv's input rows in place (stride Cin) as well as packed rows.
#define NL_A_BASES(type, a, stride)                                                                             \
    const char *r0 = (const char *)(a), *r3 = r0 + 3 * (stride), *r6 = r0 + 6 * (stride);                     \
    const char *r9 = r0 + 9 * (stride), *r12 = r0 + 12 * (stride);                                            \
    const ptrdiff_t rs = (stride);
#define NL_A(type, base, k) (*(const type *)((base) + (k) * rs))
#define NL_A_ROWS(type, X)                                                                                      \
    X(0, NL_A(type, r0, 0)) X(1, NL_A(type, r0, 1)) X(2, NL_A(type, r0, 2)) X(3, NL_A(type, r3, 0))            \
    X(4, NL_A(type, r0, 4)) X(5, NL_A(type, r3, 2)) X(6, NL_A(type, r6, 0)) X(7, NL_A(type, r3, 4))            \
    X(8, NL_A(type, r0, 8)) X(9, NL_A(type, r9, 0)) X(10, NL_A(type, r6, 4)) X(11, NL_A(type, r3, 8))          \
    X(12, NL_A(type, r12, 0)) X(13, NL_A(type, r12, 1))
#define NL_A_NEXT(type)                                                                                         \
    r0 += sizeof(type); r3 += sizeof(type); r6 += sizeof(type); r9 += sizeof(type); r12 += sizeof(type);

// C block (+)= A micro-panel (14 rows `lda` floats apart: packed rows, or a conv's input rows
// in place) · B panel [segments·kc][NR]. The depth is `segments` runs of kc, run s starting
// offsets[s] floats past a (the taps of a spatial conv read in place; one run at a when
// offsets is null), each row's run at the same place in its row, B's rows consecutive.
static void micro_f32(int segments, const ptrdiff_t *offsets, int kc, const float *restrict a, ptrdiff_t lda,
                      const float *restrict b, const tile_out *t) {
    NL_ROWS(NL_DECLARE)
    for (int s = 0; s < segments; s++) {
        NL_A_BASES(float, a + (offsets ? offsets[s] : 0), lda * (ptrdiff_t)sizeof(float))
        for (int p = 0; p < kc; p++) {
            __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#define NL_FMA(i, value)                                                                                         \
    {                                                                                                           \
        __m512 ai = _mm512_set1_ps(value);                                                                      \
        c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);                                                             \
        c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1);                                                             \
    }
            NL_A_ROWS(float, NL_FMA)
#undef NL_FMA
            NL_A_NEXT(float)
            b += NR;
        }
    }
    __m512 acc[MR][2];
    NL_ROWS(NL_GATHER)
    NL_STORE_BLOCK(acc, t);
}

#endif
