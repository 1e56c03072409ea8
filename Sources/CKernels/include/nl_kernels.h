// The project's compute kernels that need wide vectors (AVX-512, AVX2) to run at speed.
//
// Each is compiled several times, for AVX-512, AVX2+FMA and the baseline instruction set, with
// per-function target attributes, and the best one the CPU has is chosen at run time (once, on
// first use). So the package needs no `-march`/`-target-cpu` flags: a dependency built with
// plain `swift build` runs the AVX-512 code on a CPU that has it, and the baseline code on one
// that does not. NLNET_ISA=avx512|avx2|baseline picks a lower level (tests use it to run the
// other paths on an AVX-512 machine); a level above the CPU's is refused with a warning.
//
// Shapes are channels-last, as in NLTensor. All pointers may be unaligned.
#ifndef NL_KERNELS_H
#define NL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The instruction-set level in use: "avx512", "avx2" or "baseline".
const char *nl_kernels_isa(void);

/// 1 when this build has kernels for `isa` and the CPU can run them, else 0.
int nl_kernels_supports(const char *isa);

/// Direct convolution of one output row (see DirectConv.swift for the layout).
///
/// padded: input rows of `row_length` floats, W zero-padded, with slack past the end.
/// weight: [taps_per_row_group · pairs…, cout]: tap row t starts at weight + t·taps·cout.
/// For each of the `pairs` (input_rows[p], tap_rows[p]) and each output position w < wo:
///   y[w, c] = Σ_p Σ_s<taps padded[input_rows[p]·row_length + w·step + s] · weight[(tap_rows[p]·taps + s)·cout + c]
/// y: the output row, [wo, cout]. cout must be a multiple of 8.
void nl_direct_conv_forward_row(const float *padded, ptrdiff_t row_length, const float *weight,
                                const int *input_rows, const int *tap_rows, int pairs,
                                int taps, int cout, int wo, int step, float *y);

/// The weight gradient's share of one output row, added into sum [tap rows · taps, cout]:
///   sum[(tap_rows[p]·taps + j)·cout + c] += Σ_w padded[input_rows[p]·row_length + j + w·step] · dy[w, c]
/// dy: the output row's gradient, [wo, cout]. cout must be a multiple of 8.
void nl_direct_conv_weight_grad_row(const float *padded, ptrdiff_t row_length, const float *dy,
                                    const int *input_rows, const int *tap_rows, int pairs,
                                    int taps, int cout, int wo, int step, float *sum);

/// y = softmax(x) over each of `rows` rows of n floats (in place when x == y).
void nl_softmax_rows(const float *x, float *y, ptrdiff_t rows, ptrdiff_t n);

/// Per-channel loops over `rows` channels-last rows of w floats.
/// first[j] += Σ_r x[r·w + j]
void nl_channel_sum(const float *x, ptrdiff_t rows, ptrdiff_t w, float *first);
/// first[j] += Σ_r (x[r·w + j] − mean[j])²
void nl_channel_squared_deviation(const float *x, const float *mean, ptrdiff_t rows, ptrdiff_t w, float *first);
/// y = relu?(x·scale + shift (+ residual when not null)), per channel j.
void nl_batch_norm_apply(const float *x, const float *scale, const float *shift, const float *residual, int relu,
                         ptrdiff_t rows, ptrdiff_t w, float *y);
/// Which outputs a BN's ReLU passed, for its backward pass: y > 0 read from `y` (the ReLU's
/// output; needed after a residual add), or x·scale + shift > 0 recomputed from x with the
/// forward's per-channel scale and shift (no residual: one tensor less to read), or every
/// output when all three are null (no ReLU).
typedef struct {
    const float *y, *scale, *shift;
} nl_relu_gate;
/// dz = dy where the gate passed, else 0; stored in dz when not null;
/// first[j] += Σ dz, second[j] += Σ dz·(x − mean)·inv_std.
void nl_batch_norm_backward_sums(const float *dy, nl_relu_gate gate, const float *x, const float *mean,
                                 const float *inv_std, float *dz, ptrdiff_t rows, ptrdiff_t w, float *first,
                                 float *second);
/// dx = a·dz + k·(x − mean)·inv_std + b, dz as above.
void nl_batch_norm_backward_input(const float *dy, nl_relu_gate gate, const float *x, const float *a, const float *k,
                                  const float *b, const float *mean, const float *inv_std, ptrdiff_t rows,
                                  ptrdiff_t w, float *dx);
/// One tap of max pooling over c channels: where src > best or src is NaN, best = src and
/// arg = row.
void nl_max_pool_tap(const float *src, float *best, int *arg, int row, ptrdiff_t c);

/// A convolution's epilogue on `rows` rows of w channels, in place: y = relu?(y + bias +
/// residual), bias [w] and residual [rows, w] each skipped when null.
void nl_bias_residual_relu(float *y, const float *bias, const float *residual, int relu, ptrdiff_t rows, ptrdiff_t w);

// The own GEMM (gemm.c), for convolutions: y = conv(x, B) with B (the weight as a k×n matrix)
// packed beforehand into panels of NL_GEMM_NR columns. Computes the panels
// first_panel ..< first_panel + panel_count (callers split a conv over threads by rows or by
// panels). AVX-512 only: callers check
// nl_gemm_available() (fp32) and nl_gemm_bf16_available() (bf16: AVX512_BF16) first.
#define NL_GEMM_MR 14
#define NL_GEMM_NR 32
int nl_gemm_available(void);
int nl_gemm_bf16_available(void);
/// Floats of B (k×n) packed for nl_gemm_f32.
ptrdiff_t nl_gemm_packed_b_floats(ptrdiff_t k, ptrdiff_t n);
/// 32-bit words of B (k×n) packed for nl_gemm_bf16 (bf16 pairs along k).
ptrdiff_t nl_gemm_packed_b_bf16_words(ptrdiff_t k, ptrdiff_t n);
void nl_gemm_pack_b(const float *b, ptrdiff_t ldb, ptrdiff_t k, ptrdiff_t n, float *packed);
void nl_gemm_pack_b_bf16(const float *b, ptrdiff_t ldb, ptrdiff_t k, ptrdiff_t n, uint32_t *packed);
/// f rounded to the nearest bfloat16 (ties to even), as a float.
float nl_bf16_round(float f);
/// A convolution for nl_conv_gemm: input x [N, t, h, w, cin] channels-last, output positions
/// [N, to, ho, wo]; kernel, stride, padding and dilation as [T, H, W].
typedef struct {
    ptrdiff_t t, h, w, cin;
    ptrdiff_t to, ho, wo;
    ptrdiff_t kernel[3], stride[3], padding[3], dilation[3];
} nl_conv_shape;
/// A convolution's epilogue for nl_conv_gemm, run on each block of y as it leaves the
/// registers: y = relu?(y + bias[col] + residual[row, col]); bias and residual may be null, and
/// residual's rows are aligned with y's (same row stride ldc, the same first row). With
/// accumulate, y already holds the residual (in place: the conv adds to it, and `residual`
/// should be null).
typedef struct {
    const float *bias;
    const float *residual;
    int relu;
    int accumulate;
} nl_epilogue;
/// y rows first_row ..< first_row + rows (output positions over all images; row stride ldc),
/// columns of panels first_panel ..< first_panel + panel_count, = the conv of x with B (the
/// weight [kT·kH·kW·Cin, n], packed: fp32, or bf16 when bf16 != 0): each position's patch is
/// gathered from x as A is packed (implicit im2col; a pointwise conv reads x in place),
/// then `epilogue` (may be null) on each block.
void nl_conv_gemm(const nl_conv_shape *shape, const float *x, ptrdiff_t first_row, ptrdiff_t rows, int bf16,
                  const void *packed_b, ptrdiff_t n, ptrdiff_t first_panel, ptrdiff_t panel_count, float *y, ptrdiff_t ldc,
                  const nl_epilogue *epilogue);
/// 1 when nl_conv_gemm reads this conv's input in place by output rows (an fp32 1×kH×kW conv
/// at least 14 outputs wide): callers then give it whole output rows (multiples of shape->wo) where they
/// can, as a row split between two calls costs a partial micro-panel on each side.
int nl_conv_gemm_rows_aligned(const nl_conv_shape *shape, int bf16);
// Winograd (winograd.c) for fp32 convs of stride 1 that keep the frame size: F(2×2, 3×3) for
// 1×3×3 kernels with padding (0, 1, 1), the output in tiles of 2×2 positions; F(2, 3) along time
// for 3×1×1 kernels with padding (1, 0, 0), tiles of one position in two frames. Tiles are
// numbered over all images and frames in memory order.
/// 1 when nl_winograd_conv can run this conv (and the CPU has the own GEMM).
int nl_winograd_applies(const nl_conv_shape *shape);
/// The products per tile: 16 (F(2×2, 3×3)), 4 (F(2, 3)), 0 where Winograd does not apply.
int nl_winograd_products(const nl_conv_shape *shape);
/// Tiles of one image's output: to·⌈ho/2⌉·⌈wo/2⌉, or ⌈to/2⌉·ho·wo.
ptrdiff_t nl_winograd_tiles(const nl_conv_shape *shape);
/// Tiles nl_winograd_conv takes through its three steps at once (V and M in about 1 MB of L2),
/// a multiple of NL_GEMM_MR: each transformed weight panel is read once per block.
ptrdiff_t nl_winograd_block(int products, ptrdiff_t cin, ptrdiff_t cout);
/// Floats of a weight transformed and packed by nl_winograd_pack_weight.
ptrdiff_t nl_winograd_packed_floats(int products, ptrdiff_t cin, ptrdiff_t cout);
/// weight [1, 3, 3, cin, cout] (16 products) or [3, 1, 1, cin, cout] (4) → U = G g Gᵀ or G g,
/// `products` matrices cin×cout, each packed into panels as nl_gemm_pack_b does.
void nl_winograd_pack_weight(const float *weight, int products, ptrdiff_t cin, ptrdiff_t cout, float *packed);
/// The output tiles first_tile ..< first_tile + tiles of the conv of x with the packed weight:
/// y is the whole output (rows of cout floats, one per position), epilogue (may be null) as
/// for nl_conv_gemm with its residual aligned with y's first row.
void nl_winograd_conv(const nl_conv_shape *shape, const float *x, ptrdiff_t first_tile, ptrdiff_t tiles,
                      const float *packed, ptrdiff_t cout, float *y, const nl_epilogue *epilogue);
// The arithmetic peak (peak.c): one thread's register-only loop of independent multiply-adds,
// no memory traffic. Run on every core at once it gives the machine's fp32 (bf16) peak.
/// The level nl_fma_peak runs: "avx512" (24 zmm chains of vfmadd231ps), "avx2" (12 ymm) or
/// "baseline" (the compiler's default vectors).
const char *nl_fma_peak_isa(void);
/// Runs `iterations` steps of the loop on the calling thread; returns the flops done (2 a lane
/// of each FMA).
double nl_fma_peak(long iterations);
/// 1 when the CPU has AVX512_BF16 (vdpbf16ps), else 0.
int nl_bf16_peak_available(void);
/// As nl_fma_peak with vdpbf16ps on 24 zmm chains (64 flops each: 16 lanes, 2 bf16 pairs);
/// 0 where nl_bf16_peak_available() is 0.
double nl_bf16_peak(long iterations);

#ifdef __cplusplus
}
#endif

#endif
