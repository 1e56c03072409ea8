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

    /// y = conv(x) for the convolution `plan` with this matrix as its weight [kT·kH·kW·Cin, Cout],
    /// each output position's patch gathered from x as A is packed (no im2col matrix; a temporal
    /// conv's taps in one product; a pointwise conv's rows read in place), and the epilogue run
    /// on each block of y as it leaves the registers. Split over the cores by blocks of output
    /// rows, or by column panels when the rows are few and the panels many.
    func convolve(_ plan: ConvPlan, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, epilogue: ConvEpilogue) {
        let shape = plan.kernelShape
        let total = plan.n * plan.rows, cores = Parallel.cores, bf16: Int32 = precision == .bf16 ? 1 : 0
        let (px, py) = (SharedPointer(UnsafeMutablePointer(mutating: x)), SharedPointer(y))
        let storage = SharedPointer(self.storage.assumingMemoryBound(to: UInt32.self))
        let mr = Int(NL_GEMM_MR), block = 16 * mr
        // How the cores share the rows (output positions): `chunk` rows per task. Many rows: one
        // task per 224-row block, taken as the cores free up (a few large tasks, res2's 24200 rows
        // in 9, left one core idle while the other finished the last). Fewer, at most 8 panels
        // wide: one even share per core (res4's 784 rows in two 392s: 300–330 against 200–290
        // GFLOP/s split by panels for its 1×3×3 conv, bench in the closing note of issue 19).
        // Otherwise (res5's 196 rows × 16 panels) each core takes half the panels of every row.
        // A conv read in place by output rows (nl_conv_gemm_rows_aligned) gets whole output rows
        // per task where it can: a row split between two tasks costs a partial micro-panel each.
        let rowAligned = withUnsafePointer(to: shape) { nl_conv_gemm_rows_aligned($0, bf16) } != 0
        let unit = rowAligned ? plan.wo : mr
        let chunk: Int?
        if total >= 2 * block * cores || panels < cores {
            chunk = max(unit, (block + unit / 2) / unit * unit)
        } else if panels <= 8 && total >= 7 * mr * cores {
            chunk = ((total + cores - 1) / cores + unit - 1) / unit * unit
        } else {
            chunk = nil
        }
        if let chunk {
            Parallel.forEachTask((total + chunk - 1) / chunk) { task in
                let first = task * chunk, count = min(chunk, total - first)
                var rows = epilogue.rows(from: first, width: self.n)
                withUnsafePointer(to: shape) { s in
                    nl_conv_gemm(s, px.base, first, count, bf16, storage.base, self.n, 0, self.panels, py + first * self.n,
                                 self.n, &rows)
                }
            }
        } else {
            Parallel.forEachChunk(cores) { p, _ in
                let range = (self.panels * p / cores)..<(self.panels * (p + 1) / cores)
                guard !range.isEmpty else { return }
                var rows = epilogue.rows(from: 0, width: self.n)
                withUnsafePointer(to: shape) { s in
                    nl_conv_gemm(s, px.base, 0, total, bf16, storage.base, self.n, range.lowerBound, range.count, py.base,
                                 self.n, &rows)
                }
            }
        }
    }
}

/// A convolution's weight [kT, kH, kW, Cin, Cout] packed for the own GEMM as one
/// K×Cout matrix (K = kT·kH·kW·Cin, the patch order of `nl_conv_gemm`).
public struct PackedConvWeight: @unchecked Sendable {
    let matrix: PackedMatrix
    /// The weight transformed for Winograd, for an fp32 1×3×3 or 3×1×1 conv of stride 1 that
    /// keeps the size (`WinogradWeight.wanted`), which then runs there.
    let winograd: WinogradWeight?
    /// The precision the weights were packed in.
    public var precision: Precision { matrix.precision }
    /// Whether convs of this weight run by Winograd.
    public var usesWinograd: Bool { winograd != nil }

    /// Packs `weight`; with the `geometry` it runs in, also for Winograd where that applies.
    public init(_ weight: Tensor, precision: Precision, geometry: ConvGeometry? = nil) {
        let cout = weight.shape[4]
        matrix = PackedMatrix(weight.pointer, k: weight.count / cout, n: cout, precision: precision)
        winograd = precision == .fp32 && geometry.map { WinogradWeight.wanted(weight: weight.shape, geometry: $0) } == true
            ? WinogradWeight(weight) : nil
    }

    /// y = conv(x) for `plan`, the epilogue fused: by Winograd where the weight was transformed
    /// for it, else by the own GEMM.
    func convolve(_ plan: ConvPlan, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, epilogue: ConvEpilogue) {
        if let winograd, winograd.runs(plan) {
            winograd.convolve(plan, x: x, y: y, epilogue: epilogue)
        } else {
            matrix.convolve(plan, x: x, y: y, epilogue: epilogue)
        }
    }

    /// Whether the own GEMM should run a conv of this weight shape [kT, kH, kW, Cin, Cout] and
    /// geometry in `precision`: every conv but the stem's direct one. bf16 has no other path
    /// (OpenBLAS has none); in fp32 the own GEMM fuses the epilogue into its stores, gathers
    /// im2col patches as it packs and skips a clip's padded temporal taps. `nlnet bench kernels`
    /// measured it above OpenBLAS on NL-I3D R50's conv shapes, by up to 40% on the 1×3×3 convs,
    /// except res5's 196-row ones (3–6% below, before counting the epilogue pass it saves;
    /// numbers in the README, "The project's own GEMM"). NLNET_GEMM=openblas turns it off for fp32.
    public static func wanted(weight: [Int], stride: [Int], padding: [Int], precision: Precision) -> Bool {
        guard PackedMatrix.isAvailable, weight.count == 5 else { return false }
        let geometry = ConvGeometry(kernel: Array(weight.prefix(3)), stride: stride, padding: padding)
        // The stem's direct conv has no GEMM to run.
        if DirectConv.applies(cin: weight[3], cout: weight[4], geometry: geometry) { return false }
        return precision == .bf16 || ownFP32
    }

    /// The weight packed for one fp32 product (training, or unfused inference, where weights
    /// change between calls; Winograd's transform too where it applies: Cin·Cout sums against
    /// the conv's 9·rows·Cin·Cout), when the own GEMM should run it and the product is long enough
    /// to pay for packing: at least 1024 output rows, so that copying the k×n weight costs
    /// under a few percent of the k×n×rows multiply-adds.
    static func perCall(_ weight: Tensor, input: [Int], geometry: ConvGeometry) -> PackedConvWeight? {
        guard weight.rank == 5, input.count == 5,
              wanted(weight: weight.shape, stride: geometry.stride, padding: geometry.padding, precision: .fp32) else { return nil }
        let plan = ConvPlan(input: input, weight: weight.shape, geometry: geometry)
        return plan.n * plan.rows >= 1024 ? PackedConvWeight(weight, precision: .fp32, geometry: geometry) : nil
    }

    private static let ownFP32 = ProcessInfo.processInfo.environment["NLNET_GEMM"] != "openblas"
}
