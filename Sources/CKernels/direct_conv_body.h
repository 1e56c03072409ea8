// Direct convolution kernels for one vector width, included by kernels.c once per
// instruction-set level and width with NL_VW (channels per vector), NL_VEC (its vector type)
// and NL_FN(name) (the name with the level's suffix) defined.
//
// A register block is 8 vectors: 8 output positions (forward) or 8 taps (weight gradient),
// each × NL_VW output channels; with 8 broadcast scalars per loaded weight vector the loop does
// 8 fused multiply-adds per load.

static void NL_FN(forward_row)(const float *padded, ptrdiff_t row_length, const float *weight,
                               const int *input_rows, const int *tap_rows, int pairs,
                               int taps, int cout, int wo, int step, float *y) {
    for (int c = 0; c < cout; c += NL_VW) {
        for (int w0 = 0; w0 < wo; w0 += 8) {
            NL_VEC a[8];
            for (int b = 0; b < 8; b++) a[b] = (NL_VEC){0};
            for (int p = 0; p < pairs; p++) {
                // Output positions w0…w0+7 read taps s of input row p at (w0 + b)·step + s.
                const float *x = padded + input_rows[p] * row_length + (ptrdiff_t)w0 * step;
                const float *v = weight + (ptrdiff_t)tap_rows[p] * taps * cout + c;
                for (int s = 0; s < taps; s++, x++, v += cout) {
                    NL_VEC wv = *(const NL_VEC *)v;
                    for (int b = 0; b < 8; b++) a[b] += x[b * step] * wv;
                }
            }
            int count = wo - w0 < 8 ? wo - w0 : 8;
            for (int b = 0; b < count; b++) *(NL_VEC *)(y + (ptrdiff_t)(w0 + b) * cout + c) = a[b];
        }
    }
}

static void NL_FN(weight_grad_row)(const float *padded, ptrdiff_t row_length, const float *dy,
                                   const int *input_rows, const int *tap_rows, int pairs,
                                   int taps, int cout, int wo, int step, float *sum) {
    for (int c = 0; c < cout; c += NL_VW) {
        for (int p = 0; p < pairs; p++) {
            const float *row = padded + input_rows[p] * row_length;
            float *target = sum + (ptrdiff_t)tap_rows[p] * taps * cout + c;
            for (int j0 = 0; j0 < taps; j0 += 8) {
                int count = taps - j0 < 8 ? taps - j0 : 8;
                NL_VEC a[8];
                for (int b = 0; b < 8; b++)
                    a[b] = b < count ? *(const NL_VEC *)(target + (ptrdiff_t)(j0 + b) * cout) : (NL_VEC){0};
                // Taps j0…j0+7 meet output position w at w·step + j0 + b (the lanes past
                // `count` read the row's zero slack and are not stored).
                const float *x = row + j0, *g = dy + c;
                for (int w = 0; w < wo; w++, x += step, g += cout) {
                    NL_VEC gv = *(const NL_VEC *)g;
                    for (int b = 0; b < 8; b++) a[b] += x[b] * gv;
                }
                for (int b = 0; b < count; b++) *(NL_VEC *)(target + (ptrdiff_t)(j0 + b) * cout) = a[b];
            }
        }
    }
}
