// Row softmax for one instruction-set level, included by kernels.c with NL_VW, NL_VEC,
// NL_IVEC (the same width of int32) and NL_FN(name) defined.
//
// exp is a polynomial, NL_VW lanes at a time: Cody–Waite reduction to [−ln2/2, ln2/2],
// Taylor terms to f⁶/720, then × 2ⁿ through the exponent bits; within ~2 ulp of expf.

static void NL_FN(softmax_rows)(const float *x, float *y, ptrdiff_t rows, ptrdiff_t n) {
    const NL_VEC log2e = (NL_VEC){0} + 1.442695040888963f, ln2hi = (NL_VEC){0} + 0.693359375f,
                 ln2lo = (NL_VEC){0} + -2.12194440e-4f, lo = (NL_VEC){0} + -87.3f, hi = (NL_VEC){0} + 88.3f,
                 magic = (NL_VEC){0} + 12582912.0f;
    const NL_IVEC magic_bits = (NL_IVEC){0} + 0x4B400000;
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *xi = x + r * n;
        float *yi = y + r * n;
        ptrdiff_t j = 0;

        NL_VEC m = (NL_VEC){0} - __builtin_inff();
        for (; j + NL_VW <= n; j += NL_VW) m = __builtin_elementwise_max(m, *(const NL_VEC *)(xi + j));
        float shift = -__builtin_inff();
        for (int l = 0; l < NL_VW; l++) shift = m[l] > shift ? m[l] : shift;
        for (; j < n; j++) shift = xi[j] > shift ? xi[j] : shift;

        NL_VEC sum = (NL_VEC){0};
        for (j = 0; j + NL_VW <= n; j += NL_VW) {
            NL_VEC v = *(const NL_VEC *)(xi + j) - shift;
            v = __builtin_elementwise_min(__builtin_elementwise_max(v, lo), hi);
            // Round to nearest through the float format: adding 1.5·2²³ leaves the integer n
            // in the low mantissa bits.
            NL_VEC shifted = v * log2e + magic;
            NL_VEC k = shifted - magic;
            NL_VEC f = v - k * ln2hi - k * ln2lo;
            NL_VEC p = (NL_VEC){0} + 1.0f / 720;
            p = p * f + 1.0f / 120;
            p = p * f + 1.0f / 24;
            p = p * f + 1.0f / 6;
            p = p * f + 0.5f;
            p = p * f + 1;
            p = p * f + 1;
            NL_IVEC bits = (((NL_IVEC)shifted - magic_bits) + 127) << 23;
            NL_VEC e = p * (NL_VEC)bits;
            *(NL_VEC *)(yi + j) = e;
            sum += e;
        }
        float total = 0;
        for (int l = 0; l < NL_VW; l++) total += sum[l];
        for (; j < n; j++) { float e = expf(xi[j] - shift); yi[j] = e; total += e; }

        float inv = 1 / total;
        for (j = 0; j + NL_VW <= n; j += NL_VW) *(NL_VEC *)(yi + j) = *(const NL_VEC *)(yi + j) * inv;
        for (; j < n; j++) yi[j] *= inv;
    }
}
