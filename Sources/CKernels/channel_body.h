// Per-channel loops over channels-last rows ([rows, w] floats), for one instruction-set level:
// included by kernels.c with NL_FN(name) defined and the level's target attribute in force.
// They are plain loops over the channels j of a row, which the compiler vectorises at the
// level's width (restrict: no overlap between inputs and outputs); sums are per channel, so
// vectorising them does not reorder any one sum.

static void NL_FN(channel_sum)(const float *restrict x, ptrdiff_t rows, ptrdiff_t w, float *restrict first) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *restrict xr = x + r * w;
#pragma clang loop vectorize(enable)
        for (ptrdiff_t j = 0; j < w; j++) first[j] += xr[j];
    }
}

static void NL_FN(channel_squared_deviation)(const float *restrict x, const float *restrict mean, ptrdiff_t rows,
                                             ptrdiff_t w, float *restrict first) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *restrict xr = x + r * w;
#pragma clang loop vectorize(enable)
        for (ptrdiff_t j = 0; j < w; j++) {
            float d = xr[j] - mean[j];
            first[j] += d * d;
        }
    }
}

// BN's affine map x·scale + shift, one expression for the forward pass and for the backward
// pass's recomputed ReLU gate, so that both round (and contract to an FMA) alike: the gate
// then passes exactly the outputs the forward's ReLU kept.
static inline float NL_FN(bn_affine)(float x, float scale, float shift) { return x * scale + shift; }

static void NL_FN(batch_norm_apply)(const float *restrict x, const float *restrict scale, const float *restrict shift,
                                    const float *restrict residual, int relu, ptrdiff_t rows, ptrdiff_t w,
                                    float *restrict y) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *restrict xr = x + r * w;
        float *restrict yr = y + r * w;
        if (residual) {
            const float *restrict rr = residual + r * w;
#pragma clang loop vectorize(enable)
            for (ptrdiff_t j = 0; j < w; j++) yr[j] = NL_FN(bn_affine)(xr[j], scale[j], shift[j]) + rr[j];
        } else {
#pragma clang loop vectorize(enable)
            for (ptrdiff_t j = 0; j < w; j++) yr[j] = NL_FN(bn_affine)(xr[j], scale[j], shift[j]);
        }
        if (relu) {
#pragma clang loop vectorize(enable)
            for (ptrdiff_t j = 0; j < w; j++) yr[j] = yr[j] < 0 ? 0 : yr[j];
        }
    }
}

// The loop over a row's channels j with dz[j] = dy[j], or 0 where `blocked` (an expression in j)
// says the ReLU did not pass it; `body` uses d = dz[j]. One copy of the loop per kind of gate
// (see nl_relu_gate), so that each reads only the tensors its gate needs.
#ifndef NL_GATED_LOOP
#define NL_GATED_LOOP(gate, r, w, dyr, xr, body)                                                                   \
    do {                                                                                                        \
        if ((gate).y) {                                                                                         \
            const float *restrict yr_ = (gate).y + (r) * (w);                                                   \
            _Pragma("clang loop vectorize(enable)") for (ptrdiff_t j = 0; j < (w); j++) {                       \
                float d = yr_[j] <= 0 ? 0 : (dyr)[j];                                                           \
                body;                                                                                           \
            }                                                                                                   \
        } else if ((gate).scale) {                                                                              \
            const float *restrict s_ = (gate).scale, *restrict t_ = (gate).shift;                               \
            _Pragma("clang loop vectorize(enable)") for (ptrdiff_t j = 0; j < (w); j++) {                       \
                float d = NL_FN(bn_affine)((xr)[j], s_[j], t_[j]) <= 0 ? 0 : (dyr)[j];                          \
                body;                                                                                           \
            }                                                                                                   \
        } else {                                                                                                \
            _Pragma("clang loop vectorize(enable)") for (ptrdiff_t j = 0; j < (w); j++) {                       \
                float d = (dyr)[j];                                                                             \
                body;                                                                                           \
            }                                                                                                   \
        }                                                                                                       \
    } while (0)
#endif

static void NL_FN(batch_norm_backward_sums)(const float *restrict dy, nl_relu_gate gate, const float *restrict x,
                                            const float *restrict mean, const float *restrict inv_std,
                                            float *restrict dz, ptrdiff_t rows, ptrdiff_t w,
                                            float *restrict first, float *restrict second) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *restrict dyr = dy + r * w, *restrict xr = x + r * w;
        float *restrict dzr = dz ? dz + r * w : 0;
        NL_GATED_LOOP(gate, r, w, dyr, xr, {
            if (dzr) dzr[j] = d;
            first[j] += d;
            second[j] += d * ((xr[j] - mean[j]) * inv_std[j]);
        });
    }
}

static void NL_FN(batch_norm_backward_input)(const float *restrict dy, nl_relu_gate gate,
                                             const float *restrict x, const float *restrict a,
                                             const float *restrict k, const float *restrict b,
                                             const float *restrict mean, const float *restrict inv_std,
                                             ptrdiff_t rows, ptrdiff_t w, float *restrict dx) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        const float *restrict dyr = dy + r * w, *restrict xr = x + r * w;
        float *restrict dxr = dx + r * w;
        NL_GATED_LOOP(gate, r, w, dyr, xr, dxr[j] = a[j] * d + k[j] * ((xr[j] - mean[j]) * inv_std[j]) + b[j]);
    }
}

static void NL_FN(max_pool_tap)(const float *restrict src, float *restrict best, int *restrict arg, int row,
                                ptrdiff_t c) {
#pragma clang loop vectorize(enable)
    for (ptrdiff_t j = 0; j < c; j++) {
        // PyTorch's rule: a larger value or a NaN takes the place.
        int take = src[j] > best[j] || src[j] != src[j];
        best[j] = take ? src[j] : best[j];
        arg[j] = take ? row : arg[j];
    }
}

static void NL_FN(bias_residual_relu)(float *restrict y, const float *restrict bias, const float *restrict residual,
                                      int relu, ptrdiff_t rows, ptrdiff_t w) {
    for (ptrdiff_t r = 0; r < rows; r++) {
        float *restrict yr = y + r * w;
        if (bias) {
#pragma clang loop vectorize(enable)
            for (ptrdiff_t j = 0; j < w; j++) yr[j] += bias[j];
        }
        if (residual) {
            const float *restrict rr = residual + r * w;
#pragma clang loop vectorize(enable)
            for (ptrdiff_t j = 0; j < w; j++) yr[j] += rr[j];
        }
        if (relu) {
#pragma clang loop vectorize(enable)
            for (ptrdiff_t j = 0; j < w; j++) yr[j] = yr[j] < 0 ? 0 : yr[j];
        }
    }
}
