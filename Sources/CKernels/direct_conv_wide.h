// The direct convolution's wide register blocks for AVX-512 (16-float vectors), included by
// kernels.c inside its AVX-512 target region. NL_DIRECT_WIDE(suffix, V, B) defines
// forward_row_<suffix> and weight_grad_row_<suffix> for output-channel counts that are a
// multiple of 16·V, with the arguments of direct_conv_body.h's kernels.
//
// A block holds B output positions (forward) or B taps (weight gradient) × V vectors of 16
// channels, so that each step's V weight (or dy) vectors and B broadcast inputs feed B·V FMAs:
// 6 × 4 (the stem's 64 channels), 12 × 2 (32) and 12 × 1 (16). direct_conv_body.h's 8 × 1 block
// feeds 8 FMAs from 9 loads and leaves no slack over the FMA latency; 24 positions of one
// vector ran out of general registers for the 24 input pointers. In a harness against the 8 × 1
// blocks (same binary build, alternating, 2 threads, 4 clips of 8×112²): forward 228–230 against
// 118–203 GFLOP/s at 16 channels, 267–297 against 172–206 at 32; the weight gradient 260–265
// against 189–250 at 16 and 265–276 against 250–256 at 64. The loops over a block have constant
// bounds and are unrolled whole, and every store is guarded by a constant index, so that the
// accumulators stay in registers. Positions or taps past the last read the padded row's slack
// (DirectConv.swift's rowLength) and are not stored.
#define NL_DIRECT_WIDE(suffix, V, B)                                                                             \
    static void forward_row_##suffix(const float *padded, ptrdiff_t row_length, const float *weight,            \
                                     const int *input_rows, const int *tap_rows, int pairs, int taps, int cout,  \
                                     int wo, int step, float *y) {                                               \
        for (int c = 0; c < cout; c += 16 * (V)) {                                                              \
            for (int w0 = 0; w0 < wo; w0 += (B)) {                                                              \
                nl_f16 acc[B][V];                                                                               \
                _Pragma("clang loop unroll(full)") for (int b = 0; b < (B); b++)                                 \
                    _Pragma("clang loop unroll(full)") for (int v = 0; v < (V); v++) acc[b][v] = (nl_f16){0};    \
                for (int p = 0; p < pairs; p++) {                                                               \
                    /* Positions w0 + b read tap s of input row p at (w0 + b)·step + s. */                      \
                    const float *x = padded + input_rows[p] * row_length + (ptrdiff_t)w0 * step;                \
                    const float *w = weight + (ptrdiff_t)tap_rows[p] * taps * cout + c;                         \
                    for (int s = 0; s < taps; s++, x++, w += cout) {                                            \
                        nl_f16 wv[V];                                                                           \
                        _Pragma("clang loop unroll(full)") for (int v = 0; v < (V); v++)                         \
                            wv[v] = *(const nl_f16 *)(w + 16 * v);                                               \
                        _Pragma("clang loop unroll(full)") for (int b = 0; b < (B); b++) {                       \
                            float xb = x[b * step];                                                             \
                            _Pragma("clang loop unroll(full)") for (int v = 0; v < (V); v++)                     \
                                acc[b][v] += xb * wv[v];                                                         \
                        }                                                                                       \
                    }                                                                                           \
                }                                                                                               \
                int count = wo - w0 < (B) ? wo - w0 : (B);                                                      \
                _Pragma("clang loop unroll(full)") for (int b = 0; b < (B); b++)                                 \
                    _Pragma("clang loop unroll(full)") for (int v = 0; v < (V); v++) if (b < count)              \
                        *(nl_f16 *)(y + (ptrdiff_t)(w0 + b) * cout + c + 16 * v) = acc[b][v];                     \
            }                                                                                                   \
        }                                                                                                       \
    }                                                                                                           \
                                                                                                                \
    static void weight_grad_row_##suffix(const float *padded, ptrdiff_t row_length, const float *dy,            \
                                         const int *input_rows, const int *tap_rows, int pairs, int taps,        \
                                         int cout, int wo, int step, float *sum) {                               \
        for (int c = 0; c < cout; c += 16 * (V)) {                                                              \
            for (int p = 0; p < pairs; p++) {                                                                   \
                const float *row = padded + input_rows[p] * row_length;                                         \
                float *target = sum + (ptrdiff_t)tap_rows[p] * taps * cout + c;                                 \
                for (int j0 = 0; j0 < taps; j0 += (B)) {                                                        \
                    int count = taps - j0 < (B) ? taps - j0 : (B);                                              \
                    nl_f16 acc[B][V];                                                                           \
                    _Pragma("clang loop unroll(full)") for (int b = 0; b < (B); b++)                             \
                        _Pragma("clang loop unroll(full)") for (int v = 0; v < (V); v++)                         \
                            acc[b][v] = b < count ? *(const nl_f16 *)(target + (ptrdiff_t)(j0 + b) * cout + 16 * v) \
                                                  : (nl_f16){0};                                                \
                    /* Taps j0 + b meet output position w at w·step + j0 + b. */                                \
                    const float *x = row + j0, *g = dy + c;                                                     \
                    for (int w = 0; w < wo; w++, x += step, g += cout) {                                        \
                        nl_f16 gv[V];                                                                           \
                        _Pragma("clang loop unroll(full)") for (int v = 0; v < (V); v++)                         \
                            gv[v] = *(const nl_f16 *)(g + 16 * v);                                               \
                        _Pragma("clang loop unroll(full)") for (int b = 0; b < (B); b++) {                       \
                            float xb = x[b];                                                                    \
                            _Pragma("clang loop unroll(full)") for (int v = 0; v < (V); v++)                     \
                                acc[b][v] += xb * gv[v];                                                         \
                        }                                                                                       \
                    }                                                                                           \
                    _Pragma("clang loop unroll(full)") for (int b = 0; b < (B); b++)                             \
                        _Pragma("clang loop unroll(full)") for (int v = 0; v < (V); v++) if (b < count)          \
                            *(nl_f16 *)(target + (ptrdiff_t)(j0 + b) * cout + 16 * v) = acc[b][v];               \
                }                                                                                               \
            }                                                                                                   \
        }                                                                                                       \
    }

NL_DIRECT_WIDE(avx512_64, 4, 6)
NL_DIRECT_WIDE(avx512_32, 2, 12)
NL_DIRECT_WIDE(avx512_16, 1, 12)
