// Run-time choice among the kernels compiled for each instruction-set level (nl_kernels.h).
#include "nl_kernels.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Unaligned vectors of 4, 8 and 16 floats (and int32s for the exponent bits).
typedef float nl_f4 __attribute__((vector_size(16), aligned(4)));
typedef float nl_f8 __attribute__((vector_size(32), aligned(4)));
typedef float nl_f16 __attribute__((vector_size(64), aligned(4)));
typedef int nl_i4 __attribute__((vector_size(16), aligned(4)));
typedef int nl_i8 __attribute__((vector_size(32), aligned(4)));
typedef int nl_i16 __attribute__((vector_size(64), aligned(4)));

// The baseline: whatever the compiler targets by default (SSE2 on x86-64, NEON on arm64).
#define NL_VW 4
#define NL_VEC nl_f4
#define NL_IVEC nl_i4
#define NL_FN(name) name##_baseline
#include "direct_conv_body.h"
#include "softmax_body.h"
#include "channel_body.h"
#undef NL_VW
#undef NL_VEC
#undef NL_IVEC
#undef NL_FN

#if defined(__x86_64__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define NL_VW 8
#define NL_VEC nl_f8
#define NL_IVEC nl_i8
#define NL_FN(name) name##_avx2
#include "direct_conv_body.h"
#include "softmax_body.h"
#include "channel_body.h"
#undef NL_VW
#undef NL_VEC
#undef NL_IVEC
#undef NL_FN
#pragma clang attribute pop

#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma"))), apply_to = function)
#define NL_VW 16
#define NL_VEC nl_f16
#define NL_IVEC nl_i16
#define NL_FN(name) name##_avx512
// (No direct_conv_body.h at 16 lanes: direct_conv_wide.h below has the blocks for multiples of
// 16 channels.)
#include "softmax_body.h"
#include "channel_body.h"
#undef NL_VW
#undef NL_VEC
#undef NL_FN
// Output-channel counts that are a multiple of 8 but not of 16 (the width-8 models) take
// 8-channel blocks, in 256-bit registers.
#define NL_VW 8
#define NL_VEC nl_f8
#define NL_FN(name) name##_avx512_8
#include "direct_conv_body.h"
#undef NL_VW
#undef NL_VEC
#undef NL_IVEC
#undef NL_FN

#include "direct_conv_wide.h"

static void forward_row_avx512_any(const float *padded, ptrdiff_t row_length, const float *weight,
                                   const int *input_rows, const int *tap_rows, int pairs,
                                   int taps, int cout, int wo, int step, float *y) {
    (cout % 64 == 0   ? forward_row_avx512_64
     : cout % 32 == 0 ? forward_row_avx512_32
     : cout % 16 == 0 ? forward_row_avx512_16
                      : forward_row_avx512_8)(padded, row_length, weight, input_rows, tap_rows, pairs, taps, cout, wo,
                                              step, y);
}

static void weight_grad_row_avx512_any(const float *padded, ptrdiff_t row_length, const float *dy,
                                       const int *input_rows, const int *tap_rows, int pairs,
                                       int taps, int cout, int wo, int step, float *sum) {
    (cout % 64 == 0   ? weight_grad_row_avx512_64
     : cout % 32 == 0 ? weight_grad_row_avx512_32
     : cout % 16 == 0 ? weight_grad_row_avx512_16
                      : weight_grad_row_avx512_8)(padded, row_length, dy, input_rows, tap_rows, pairs, taps, cout, wo,
                                                  step, sum);
}
#pragma clang attribute pop
#endif

typedef struct {
    const char *isa;
    void (*forward_row)(const float *, ptrdiff_t, const float *, const int *, const int *, int, int, int, int, int, float *);
    void (*weight_grad_row)(const float *, ptrdiff_t, const float *, const int *, const int *, int, int, int, int, int, float *);
    void (*softmax_rows)(const float *, float *, ptrdiff_t, ptrdiff_t);
    void (*channel_sum)(const float *, ptrdiff_t, ptrdiff_t, float *);
    void (*channel_squared_deviation)(const float *, const float *, ptrdiff_t, ptrdiff_t, float *);
    void (*batch_norm_apply)(const float *, const float *, const float *, const float *, int, ptrdiff_t, ptrdiff_t, float *);
    void (*batch_norm_backward_sums)(const float *, nl_relu_gate, const float *, const float *, const float *, float *,
                                     ptrdiff_t, ptrdiff_t, float *, float *);
    void (*batch_norm_backward_input)(const float *, nl_relu_gate, const float *, const float *, const float *,
                                      const float *, const float *, const float *, ptrdiff_t, ptrdiff_t, float *);
    void (*max_pool_tap)(const float *, float *, int *, int, ptrdiff_t);
    void (*bias_residual_relu)(float *, const float *, const float *, int, ptrdiff_t, ptrdiff_t);
} kernel_table;

#define NL_LEVEL(isa, direct_forward, direct_weight_grad, suffix)                                                   \
    {isa, direct_forward, direct_weight_grad, softmax_rows_##suffix, channel_sum_##suffix,                         \
     channel_squared_deviation_##suffix, batch_norm_apply_##suffix, batch_norm_backward_sums_##suffix,              \
     batch_norm_backward_input_##suffix, max_pool_tap_##suffix, bias_residual_relu_##suffix}

// Ordered best first.
static const kernel_table levels[] = {
#if defined(__x86_64__)
    NL_LEVEL("avx512", forward_row_avx512_any, weight_grad_row_avx512_any, avx512),
    NL_LEVEL("avx2", forward_row_avx2, weight_grad_row_avx2, avx2),
#endif
    NL_LEVEL("baseline", forward_row_baseline, weight_grad_row_baseline, baseline),
};
enum { level_count = sizeof levels / sizeof levels[0] };

static int supported(const char *isa) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (strcmp(isa, "avx512") == 0)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("fma");
    if (strcmp(isa, "avx2") == 0) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return strcmp(isa, "baseline") == 0;
}

// The best supported level, or NLNET_ISA's when the CPU has it.
static const kernel_table *choose(void) {
    int best = level_count - 1;
    for (int i = 0; i < level_count; i++)
        if (supported(levels[i].isa)) { best = i; break; }
    const char *wanted = getenv("NLNET_ISA");
    if (wanted && *wanted) {
        for (int i = 0; i < level_count; i++) {
            if (strcmp(levels[i].isa, wanted) != 0) continue;
            if (i >= best) return &levels[i];
            fprintf(stderr, "nlnet: NLNET_ISA=%s: this CPU lacks it; using %s\n", wanted, levels[best].isa);
            return &levels[best];
        }
        fprintf(stderr, "nlnet: NLNET_ISA=%s is not one of avx512, avx2, baseline; using %s\n", wanted, levels[best].isa);
    }
    return &levels[best];
}

static const kernel_table *table(void) {
    static _Atomic(const kernel_table *) chosen;
    const kernel_table *t = atomic_load_explicit(&chosen, memory_order_acquire);
    if (!t) {
        // Two threads may both choose; they choose the same.
        t = choose();
        atomic_store_explicit(&chosen, t, memory_order_release);
    }
    return t;
}

const char *nl_kernels_isa(void) { return table()->isa; }

int nl_kernels_supports(const char *isa) {
    for (int i = 0; i < level_count; i++)
        if (strcmp(levels[i].isa, isa) == 0) return supported(isa);
    return 0;
}

void nl_direct_conv_forward_row(const float *padded, ptrdiff_t row_length, const float *weight,
                                const int *input_rows, const int *tap_rows, int pairs,
                                int taps, int cout, int wo, int step, float *y) {
    table()->forward_row(padded, row_length, weight, input_rows, tap_rows, pairs, taps, cout, wo, step, y);
}

void nl_direct_conv_weight_grad_row(const float *padded, ptrdiff_t row_length, const float *dy,
                                    const int *input_rows, const int *tap_rows, int pairs,
                                    int taps, int cout, int wo, int step, float *sum) {
    table()->weight_grad_row(padded, row_length, dy, input_rows, tap_rows, pairs, taps, cout, wo, step, sum);
}

void nl_softmax_rows(const float *x, float *y, ptrdiff_t rows, ptrdiff_t n) { table()->softmax_rows(x, y, rows, n); }

void nl_channel_sum(const float *x, ptrdiff_t rows, ptrdiff_t w, float *first) { table()->channel_sum(x, rows, w, first); }

void nl_channel_squared_deviation(const float *x, const float *mean, ptrdiff_t rows, ptrdiff_t w, float *first) {
    table()->channel_squared_deviation(x, mean, rows, w, first);
}

void nl_batch_norm_apply(const float *x, const float *scale, const float *shift, const float *residual, int relu,
                         ptrdiff_t rows, ptrdiff_t w, float *y) {
    table()->batch_norm_apply(x, scale, shift, residual, relu, rows, w, y);
}

void nl_batch_norm_backward_sums(const float *dy, nl_relu_gate gate, const float *x, const float *mean,
                                 const float *inv_std, float *dz, ptrdiff_t rows, ptrdiff_t w, float *first,
                                 float *second) {
    table()->batch_norm_backward_sums(dy, gate, x, mean, inv_std, dz, rows, w, first, second);
}

void nl_batch_norm_backward_input(const float *dy, nl_relu_gate gate, const float *x, const float *a, const float *k,
                                  const float *b, const float *mean, const float *inv_std, ptrdiff_t rows,
                                  ptrdiff_t w, float *dx) {
    table()->batch_norm_backward_input(dy, gate, x, a, k, b, mean, inv_std, rows, w, dx);
}

void nl_max_pool_tap(const float *src, float *best, int *arg, int row, ptrdiff_t c) {
    table()->max_pool_tap(src, best, arg, row, c);
}

void nl_bias_residual_relu(float *y, const float *bias, const float *residual, int relu, ptrdiff_t rows, ptrdiff_t w) {
    table()->bias_residual_relu(y, bias, residual, relu, rows, w);
}
