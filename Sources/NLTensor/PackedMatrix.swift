import CKernels
import Foundation

/// A GEMM's right operand B (k×n, a convolution's weight matrix), packed once for the project's
/// own AVX-512 GEMM (Sources/CKernels/gemm.c): panels of 32 columns, in fp32 or as bfloat16
/// pairs along k. Inference packs each folded conv weight once per model and precision.
public final class PackedMatrix: @unchecked Sendable {
    /// Rows (the GEMM's depth) and columns of B.
    public let k: Int, n: Int
    /// fp32 panels, or bf16 pairs (weights rounded to nearest even).
    public let precision: Precision
    private let storage: UnsafeMutableRawPointer

    /// Packs b (k×n, row-major). Needs `nl_gemm_available()`, and AVX512_BF16 for `.bf16`
    /// (check `Precision.unsupportedReason`).
    public init(_ b: UnsafePointer<Float>, k: Int, n: Int, precision: Precision) {
        require(PackedMatrix.isAvailable, "PackedMatrix: the own GEMM needs the AVX-512 kernels")
        require(precision.unsupportedReason == nil, "PackedMatrix: \(precision.unsupportedReason ?? "")")
        self.k = k; self.n = n; self.precision = precision
        switch precision {
        case .fp32:
            storage = UnsafeMutableRawPointer.allocate(byteCount: 4 * max(1, nl_gemm_packed_b_floats(k, n)), alignment: 64)
            nl_gemm_pack_b(b, n, k, n, storage.assumingMemoryBound(to: Float.self))
        case .bf16:
            storage = UnsafeMutableRawPointer.allocate(byteCount: 4 * max(1, nl_gemm_packed_b_bf16_words(k, n)), alignment: 64)
            nl_gemm_pack_b_bf16(b, n, k, n, storage.assumingMemoryBound(to: UInt32.self))
        }
    }

    deinit { storage.deallocate() }

    /// Whether this CPU (and NLNET_ISA) has the own GEMM at all.
    public static var isAvailable: Bool { nl_gemm_available() != 0 }

    /// Panels of NL_GEMM_NR columns.
    var panels: Int { (n + Int(NL_GEMM_NR) - 1) / Int(NL_GEMM_NR) }

    /// C (m×n, row stride ldc) = A (m×k, row stride lda) · B, split over the cores by rows (or
    /// by column panels when m is small) when the product is large enough.
    func multiply(m: Int, a: UnsafePointer<Float>, lda: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0 else { return }
        let parts = m * n * k >= GEMMSplit.leastWork ? Parallel.cores : 1
        if parts == 1 { run(m: m, a: a, lda: lda, panels: 0..<panels, c: c, ldc: ldc); return }
        let (pa, pc) = (SharedPointer(UnsafeMutablePointer(mutating: a)), SharedPointer(c))
        // Row blocks of the kernel's MC = 16·MR rows keep every part's A packing whole.
        let block = 16 * Int(NL_GEMM_MR)
        if m >= 2 * block * parts || panels < parts {
            let blocks = (m + block - 1) / block
            Parallel.forEachChunk(parts) { p, _ in
                let lo = min(m, blocks * p / parts * block), hi = min(m, blocks * (p + 1) / parts * block)
                if lo < hi { self.run(m: hi - lo, a: pa + lo * lda, lda: lda, panels: 0..<self.panels, c: pc + lo * ldc, ldc: ldc) }
            }
        } else {
            Parallel.forEachChunk(parts) { p, _ in
                let range = (self.panels * p / parts)..<(self.panels * (p + 1) / parts)
                if !range.isEmpty { self.run(m: m, a: pa.base, lda: lda, panels: range, c: pc.base, ldc: ldc) }
            }
        }
    }

    /// y = conv(x) for the convolution `plan` with this matrix as its weight [kT·kH·kW·Cin, Cout],
    /// each output position's patch gathered from x as A is packed (no im2col matrix; a temporal
    /// conv's taps in one product). Split over the cores by blocks of output rows, then the
    /// epilogue on each block while it is in cache; by column panels when the rows are few.
    func convolve(_ plan: ConvPlan, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, epilogue: ConvEpilogue) {
        let g = plan.geometry
        let shape = nl_conv_shape(t: plan.t, h: plan.h, w: plan.w, cin: plan.cin, to: plan.to, ho: plan.ho, wo: plan.wo,
                                  kernel: (g.kernel[0], g.kernel[1], g.kernel[2]), stride: (g.stride[0], g.stride[1], g.stride[2]),
                                  padding: (g.padding[0], g.padding[1], g.padding[2]),
                                  dilation: (g.dilation[0], g.dilation[1], g.dilation[2]))
        let total = plan.n * plan.rows, cores = Parallel.cores, bf16: Int32 = precision == .bf16 ? 1 : 0
        let (px, py) = (SharedPointer(UnsafeMutablePointer(mutating: x)), SharedPointer(y))
        let storage = SharedPointer(self.storage.assumingMemoryBound(to: UInt32.self))
        let block = 16 * Int(NL_GEMM_MR)
        if total >= 2 * block * cores || panels < cores {
            // Tasks of whole 224-row blocks, about four per core so uneven ones balance.
            let chunk = max(block, total / (4 * cores) / block * block), tasks = (total + chunk - 1) / chunk
            Parallel.forEachTask(tasks) { task in
                let first = task * chunk, count = min(chunk, total - first)
                withUnsafePointer(to: shape) { s in
                    nl_conv_gemm(s, px.base, first, count, bf16, storage.base, self.n, 0, self.panels, py + first * self.n, self.n)
                }
                epilogue.apply(py.base, first: first, count: count, width: self.n)
            }
        } else {
            Parallel.forEachChunk(cores) { p, _ in
                let range = (self.panels * p / cores)..<(self.panels * (p + 1) / cores)
                guard !range.isEmpty else { return }
                withUnsafePointer(to: shape) { s in
                    nl_conv_gemm(s, px.base, 0, total, bf16, storage.base, self.n, range.lowerBound, range.count, py.base, self.n)
                }
            }
            epilogue.apply(y, first: 0, count: total, width: n)
        }
    }

    private func run(m: Int, a: UnsafePointer<Float>, lda: Int, panels: Range<Int>, c: UnsafeMutablePointer<Float>, ldc: Int) {
        switch precision {
        case .fp32:
            nl_gemm_f32(m, n, k, a, lda, storage.assumingMemoryBound(to: Float.self), panels.lowerBound, panels.count, c, ldc)
        case .bf16:
            nl_gemm_bf16(m, n, k, a, lda, storage.assumingMemoryBound(to: UInt32.self), panels.lowerBound, panels.count, c, ldc)
        }
    }
}

/// A convolution's weight [kT, kH, kW, Cin, Cout] packed for the own GEMM as one
/// K×Cout matrix (K = kT·kH·kW·Cin, the patch order of `nl_conv_gemm`).
public struct PackedConvWeight: @unchecked Sendable {
    let matrix: PackedMatrix
    /// The precision the weights were packed in.
    public var precision: Precision { matrix.precision }

    /// Packs `weight`.
    public init(_ weight: Tensor, precision: Precision) {
        let cout = weight.shape[4]
        matrix = PackedMatrix(weight.pointer, k: weight.count / cout, n: cout, precision: precision)
    }

    /// Whether the own GEMM should run a conv of this weight shape [kT, kH, kW, Cin, Cout] and
    /// geometry in `precision`: always for bf16 (OpenBLAS has none). For fp32, where it beat
    /// OpenBLAS in `nlnet bench kernels` (same rounds, 2-core Xeon): every im2col conv, whose
    /// patches it gathers as it packs (the 1×3×3 convs of NL-I3D R50: 241–306 against 196–243
    /// GFLOP/s), and pointwise convs of at most 64 outputs. Temporal-only convs stay on
    /// OpenBLAS, one product per tap: those skip the taps that fall in the padding, which the
    /// gathered patches multiply as zeros. NLNET_GEMM=openblas turns the own GEMM off for fp32.
    public static func wanted(weight: [Int], stride: [Int], padding: [Int], precision: Precision) -> Bool {
        guard PackedMatrix.isAvailable, weight.count == 5 else { return false }
        let geometry = ConvGeometry(kernel: Array(weight.prefix(3)), stride: stride, padding: padding)
        // The stem's direct conv has no GEMM to run.
        if DirectConv.applies(cin: weight[3], cout: weight[4], geometry: geometry) { return false }
        if precision == .bf16 { return true }
        let im2col = !geometry.isPointwise && !geometry.isTemporalOnly
        return ownFP32 && (im2col || (geometry.isPointwise && weight[4] <= 64))
    }

    private static let ownFP32 = ProcessInfo.processInfo.environment["NLNET_GEMM"] != "openblas"
}
