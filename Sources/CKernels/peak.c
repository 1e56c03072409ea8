// The CPU's arithmetic peak on one thread (nl_kernels.h): a loop of independent multiply-adds
// on registers only, no memory traffic, so its rate is the core's FMA throughput. Each level
// is compiled with per-function target attributes and chosen at run time, as in kernels.c.
//
// Enough independent accumulators hide the instruction's latency: an FMA takes 4 cycles and
// two issue per cycle on a core with two 512-bit FMA units, so at least 8 chains must be in
// flight; 24 leaves room (and the 32 zmm registers hold them plus the two operands).
#include "nl_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// The multipliers are close to 1 and the accumulators start small, so no value grows to
// infinity or sinks to a denormal (a denormal would slow some CPUs) over billions of steps.
#define NL_PEAK_A 0.999999f
#define NL_PEAK_B 1e-7f

#if defined(__x86_64__)
// An empty asm that claims to read and write the 24 accumulators, once per iteration: the
// compiler can neither merge iterations nor move the chains out of registers.
#define NL_KEEP_ZMM24(acc)                                                                                          \
    do {                                                                                                            \
        __asm__ volatile("" : "+v"(acc[0]), "+v"(acc[1]), "+v"(acc[2]), "+v"(acc[3]), "+v"(acc[4]), "+v"(acc[5]),   \
                         "+v"(acc[6]), "+v"(acc[7]), "+v"(acc[8]), "+v"(acc[9]), "+v"(acc[10]), "+v"(acc[11]));    \
        __asm__ volatile("" : "+v"(acc[12]), "+v"(acc[13]), "+v"(acc[14]), "+v"(acc[15]), "+v"(acc[16]),            \
                         "+v"(acc[17]), "+v"(acc[18]), "+v"(acc[19]), "+v"(acc[20]), "+v"(acc[21]), "+v"(acc[22]),  \
                         "+v"(acc[23]));                                                                            \
    } while (0)

// Sums the accumulators into a volatile, so the loop's results are used.
__attribute__((target("avx512f"))) static void nl_sink_zmm24(const __m512 acc[24]) {
    __m512 sum = acc[0];
    for (int i = 1; i < 24; i++) sum = _mm512_add_ps(sum, acc[i]);
    volatile float sink = _mm512_reduce_add_ps(sum);
    (void)sink;
}

__attribute__((target("avx512f,fma"))) static double fma_peak_avx512(long iterations) {
    __m512 acc[24];
    for (int i = 0; i < 24; i++) acc[i] = _mm512_set1_ps((float)i * 1e-3f);
    const __m512 a = _mm512_set1_ps(NL_PEAK_A), b = _mm512_set1_ps(NL_PEAK_B);
    for (long n = 0; n < iterations; n++) {
        // 24 independent vfmadd231ps: acc = a·acc + b.
        for (int i = 0; i < 24; i++) acc[i] = _mm512_fmadd_ps(a, acc[i], b);
        NL_KEEP_ZMM24(acc);
    }
    nl_sink_zmm24(acc);
    return (double)iterations * 24 * 16 * 2;
}

// 12 ymm chains: AVX2 has 16 registers, and 2 FMA units × 4 cycles need 8.
__attribute__((target("avx2,fma"))) static double fma_peak_avx2(long iterations) {
    __m256 acc[12];
    for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps((float)i * 1e-3f);
    const __m256 a = _mm256_set1_ps(NL_PEAK_A), b = _mm256_set1_ps(NL_PEAK_B);
    for (long n = 0; n < iterations; n++) {
        for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(a, acc[i], b);
        __asm__ volatile("" : "+x"(acc[0]), "+x"(acc[1]), "+x"(acc[2]), "+x"(acc[3]), "+x"(acc[4]), "+x"(acc[5]),
                         "+x"(acc[6]), "+x"(acc[7]), "+x"(acc[8]), "+x"(acc[9]), "+x"(acc[10]), "+x"(acc[11]));
    }
    __m256 sum = acc[0];
    for (int i = 1; i < 12; i++) sum = _mm256_add_ps(sum, acc[i]);
    float lanes[8];
    _mm256_storeu_ps(lanes, sum);
    volatile float sink = lanes[0];
    (void)sink;
    return (double)iterations * 12 * 8 * 2;
}

// vdpbf16ps: each of 16 fp32 lanes adds the dot product of two bf16 pairs, 4 flops a lane.
__attribute__((target("avx512bf16,avx512f"))) static double bf16_peak_avx512(long iterations) {
    __m512 acc[24];
    for (int i = 0; i < 24; i++) acc[i] = _mm512_set1_ps((float)i * 1e-3f);
    // bf16 pairs of 1e-4 (0x38d1): small products, so the sums stay finite and normal.
    const __m512bh a = (__m512bh)_mm512_set1_epi16(0x38d1), b = (__m512bh)_mm512_set1_epi16(0x38d1);
    for (long n = 0; n < iterations; n++) {
        for (int i = 0; i < 24; i++) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
        NL_KEEP_ZMM24(acc);
    }
    nl_sink_zmm24(acc);
    return (double)iterations * 24 * 16 * 4;
}
#endif

// A vector register operand: "w" on arm64 (NEON), "x" on x86-64 (SSE).
#if defined(__aarch64__)
#define NL_VREG(v) "+w"(v)
#else
#define NL_VREG(v) "+x"(v)
#endif

// The compiler's default target: 8 chains of 4 floats (SSE2 on x86-64, NEON on arm64), as
// separate multiply and add where the target has no FMA.
static double fma_peak_baseline(long iterations) {
    typedef float f4 __attribute__((vector_size(16)));
    f4 acc[8];
    for (int i = 0; i < 8; i++) acc[i] = (f4){0, 0, 0, 0} + (float)i * 1e-3f;
    const f4 a = (f4){0, 0, 0, 0} + NL_PEAK_A, b = (f4){0, 0, 0, 0} + NL_PEAK_B;
    for (long n = 0; n < iterations; n++) {
        for (int i = 0; i < 8; i++) acc[i] = a * acc[i] + b;
        __asm__ volatile("" : NL_VREG(acc[0]), NL_VREG(acc[1]), NL_VREG(acc[2]), NL_VREG(acc[3]), NL_VREG(acc[4]),
                         NL_VREG(acc[5]), NL_VREG(acc[6]), NL_VREG(acc[7]));
    }
    f4 sum = acc[0];
    for (int i = 1; i < 8; i++) sum += acc[i];
    volatile float sink = sum[0];
    (void)sink;
    return (double)iterations * 8 * 4 * 2;
}

enum { level_baseline, level_avx2, level_avx512 };

static int level(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) return level_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return level_avx2;
#endif
    return level_baseline;
}

const char *nl_fma_peak_isa(void) {
    static const char *const names[] = {"baseline", "avx2", "avx512"};
    return names[level()];
}

double nl_fma_peak(long iterations) {
    switch (level()) {
#if defined(__x86_64__)
    case level_avx512: return fma_peak_avx512(iterations);
    case level_avx2: return fma_peak_avx2(iterations);
#endif
    default: return fma_peak_baseline(iterations);
    }
}

int nl_bf16_peak_available(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

double nl_bf16_peak(long iterations) {
#if defined(__x86_64__)
    if (nl_bf16_peak_available()) return bf16_peak_avx512(iterations);
#endif
    return 0;
}
