import CKernels

/// Direct convolution for inputs with few channels: the stem's conv1 on RGB (Cin = 3).
///
/// With Cin = 3, im2col copies every input value into kT·kH·kW/(sH·sW) patches on average
/// (about 61 for conv1's 5×7×7 taps at spatial stride 2; K = 735, 74 MB per 8×112² clip),
/// and the GEMM that follows has only Cout columns (8 to 64) over which to reuse each copied
/// value, so it runs at a fraction of its rate, bound by memory. Here each output row reads
/// the input rows it needs in place and keeps a register block of output positions × channels
/// (with AVX-512: 6 × 64, 12 × 32 or 12 × 16 by Cout, direct_conv_wide.h; else 8 × one
/// vector, and 8 × 8 channels when Cout is a multiple of 8 only: the width-8 models of the
/// ablations); the weight gradient keeps taps × channels alike. Those loops are C
/// (Sources/CKernels/direct_conv_wide.h and direct_conv_body.h), compiled per instruction set
/// and chosen at run time.
///
/// Shapes: x [N, T, H, W, Cin] is copied once with W zero-padded into rows of `rowLength`
/// floats, so the patch of output position w in input row (t, h) is the kW·Cin contiguous
/// floats from w·sW·Cin: tap j = kw·Cin + ci. Temporal and vertical padding are taps skipped.
package struct DirectConv: @unchecked Sendable {
    let plan: ConvPlan

    /// Few input channels (where im2col's copies dominate), whole 8-channel output blocks,
    /// and taps one apart. Pointwise and temporal-only convs have no im2col to save.
    static func applies(to plan: ConvPlan) -> Bool {
        applies(cin: plan.cin, cout: plan.cout, geometry: plan.geometry)
    }

    /// The same test from the weight's channel counts and the geometry alone.
    package static func applies(cin: Int, cout: Int, geometry g: ConvGeometry) -> Bool {
        cin <= 4 && cout % 8 == 0 && g.dilation == [1, 1, 1] && !g.isPointwise && !g.isTemporalOnly
    }

    /// Floats of one output position's patch within an input row (kW·Cin) and the distance
    /// between neighbouring output positions (sW·Cin).
    var rowTaps: Int { plan.geometry.kernel[2] * plan.cin }
    var positionStride: Int { plan.geometry.stride[2] * plan.cin }
    /// A padded input row, with slack for the register blocks that run past the last output
    /// position (forward) or the last tap (weight gradient): they read zeros there, and those
    /// lanes are never stored.
    var rowLength: Int {
        (plan.w + 2 * plan.geometry.padding[2]) * plan.cin + blockWidth * positionStride + blockWidth
    }
    /// The most output positions (forward) or taps (weight gradient) a register block spans:
    /// 12 in the 16- and 32-channel kernels of direct_conv_wide.h.
    let blockWidth = 12

    /// x with W zero-padded: [N·T·H, rowLength].
    func paddedInput(_ x: UnsafePointer<Float>) -> UnsafeMutablePointer<Float> {
        let rows = plan.n * plan.t * plan.h, length = rowLength
        let row = plan.w * plan.cin, lead = plan.geometry.padding[2] * plan.cin
        let padded = UnsafeMutablePointer<Float>.allocate(capacity: rows * length)
        let (px, pp) = (SharedPointer(UnsafeMutablePointer(mutating: x)), SharedPointer(padded))
        Parallel.forEach(rows, grain: 64) { range in
            for r in range {
                let dst = pp + r * length
                dst.update(repeating: 0, count: lead)
                (dst + lead).update(from: px + r * row, count: row)
                (dst + lead + row).update(repeating: 0, count: length - lead - row)
            }
        }
        return padded
    }

    /// The input rows that output row r (image, ot, oh of the N·T'·H' rows) reads, with their
    /// weight tap row: the (kt, kh) pairs inside the input.
    func inputRows(ofOutputRow r: Int, _ body: (_ inputRow: Int, _ tapRow: Int) -> Void) {
        let oh = r % plan.ho, ot = (r / plan.ho) % plan.to, image = r / (plan.ho * plan.to)
        let g = plan.geometry
        for kt in 0..<g.kernel[0] {
            let ti = ot * g.stride[0] - g.padding[0] + kt
            guard ti >= 0 && ti < plan.t else { continue }
            for kh in 0..<g.kernel[1] {
                let hi = oh * g.stride[1] - g.padding[1] + kh
                guard hi >= 0 && hi < plan.h else { continue }
                body((image * plan.t + ti) * plan.h + hi, kt * g.kernel[1] + kh)
            }
        }
    }

    /// The input rows output row r reads and their tap rows, as two arrays for the C kernels.
    func inputRowPairs(ofOutputRow r: Int) -> (inputRows: [Int32], tapRows: [Int32]) {
        var input: [Int32] = [], tap: [Int32] = []
        input.reserveCapacity(plan.geometry.kernel[0] * plan.geometry.kernel[1])
        tap.reserveCapacity(input.capacity)
        inputRows(ofOutputRow: r) { inputRow, tapRow in
            input.append(Int32(inputRow)); tap.append(Int32(tapRow))
        }
        return (input, tap)
    }

    /// y [N·T'·H'·W', Cout] = conv(x, weight), then the epilogue, row by row of output. The
    /// register-blocked loops are C (CKernels), compiled for each instruction set and chosen
    /// at run time.
    func forward(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                 epilogue: ConvEpilogue) {
        let padded = paddedInput(x)
        defer { padded.deallocate() }
        let (pp, pw, py) = (SharedPointer(padded), SharedPointer(UnsafeMutablePointer(mutating: weight)), SharedPointer(y))
        let (wo, cout, length, taps, step) = (plan.wo, plan.cout, rowLength, rowTaps, positionStride)
        Parallel.forEach(plan.n * plan.to * plan.ho, grain: 4) { rows in
            for r in rows {
                let (inputRows, tapRows) = inputRowPairs(ofOutputRow: r)
                nl_direct_conv_forward_row(pp.base, length, pw.base, inputRows, tapRows, Int32(inputRows.count),
                                           Int32(taps), Int32(cout), Int32(wo), Int32(step), py + r * wo * cout)
            }
            epilogue.apply(py.base, first: rows.lowerBound * wo, count: rows.count * wo, width: cout)
        }
    }

    /// dW [kT·kH·kW·Cin, Cout] = Σ over output positions of patch ⊗ dy. Each part of the output
    /// rows sums into its own buffer (`Parallel.forEachChunk(summingInto:)`).
    func weightGradient(_ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, into dw: UnsafeMutablePointer<Float>) {
        let padded = paddedInput(x)
        defer { padded.deallocate() }
        let (wo, cout, length, taps, step) = (plan.wo, plan.cout, rowLength, rowTaps, positionStride)
        let (pp, pdy) = (SharedPointer(padded), SharedPointer(UnsafeMutablePointer(mutating: dy)))
        Parallel.forEachChunk(plan.n * plan.to * plan.ho, grain: 4, summingInto: dw, size: plan.k * cout) { rows, sum in
            for r in rows {
                let (inputRows, tapRows) = inputRowPairs(ofOutputRow: r)
                nl_direct_conv_weight_grad_row(pp.base, length, pdy + r * wo * cout, inputRows, tapRows, Int32(inputRows.count),
                                               Int32(taps), Int32(cout), Int32(wo), Int32(step), sum!)
            }
        }
    }
}
