/// Direct convolution for inputs with few channels: the stem's conv1 on RGB (Cin = 3).
///
/// With Cin = 3, im2col copies every input value into kT·kH·kW/(sH·sW) patches on average
/// (about 61 for conv1's 5×7×7 taps at spatial stride 2; K = 735, 74 MB per 8×112² clip),
/// and the GEMM that follows has only Cout columns (8 to 64) over which to reuse each copied
/// value, so it runs at a fraction of its rate, bound by memory. Here each output row reads
/// the input rows it needs in place and keeps a register block of 8 output positions × 16
/// channels (8 channels when Cout is a multiple of 8 only: the width-8 models of the
/// ablations); the weight gradient keeps 8 taps × 16 (or 8) channels.
///
/// Shapes: x [N, T, H, W, Cin] is copied once with W zero-padded into rows of `rowLength`
/// floats, so the patch of output position w in input row (t, h) is the kW·Cin contiguous
/// floats from w·sW·Cin: tap j = kw·Cin + ci. Temporal and vertical padding are taps skipped.
struct DirectConv: @unchecked Sendable {
    let plan: ConvPlan

    /// Few input channels (where im2col's copies dominate), whole 8-channel output blocks,
    /// and taps one apart. Pointwise and temporal-only convs have no im2col to save.
    static func applies(to plan: ConvPlan) -> Bool {
        let g = plan.geometry
        return plan.cin <= 4 && plan.cout % 8 == 0 && g.dilation == [1, 1, 1]
            && !g.isPointwise && !g.isTemporalOnly
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
    /// Output positions (forward) or taps (weight gradient) per register block.
    let blockWidth = 8

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

    /// y [N·T'·H'·W', Cout] = conv(x, weight), then the epilogue, row by row of output.
    func forward(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                 epilogue: ConvEpilogue) {
        if plan.cout % 16 == 0 {
            forward(x, weight: weight, into: y, epilogue: epilogue, channels: SIMD16<Float>.self)
        } else {
            forward(x, weight: weight, into: y, epilogue: epilogue, channels: SIMD8<Float>.self)
        }
    }

    /// dW [kT·kH·kW·Cin, Cout] = Σ over output positions of patch ⊗ dy. Each part of the output
    /// rows sums into its own buffer (`Parallel.forEachChunk(summingInto:)`).
    func weightGradient(_ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, into dw: UnsafeMutablePointer<Float>) {
        if plan.cout % 16 == 0 {
            weightGradient(dy, x: x, into: dw, channels: SIMD16<Float>.self)
        } else {
            weightGradient(dy, x: x, into: dw, channels: SIMD8<Float>.self)
        }
    }

    /// The forward pass with channel blocks of V's width (inlined into each caller above, so
    /// that it is compiled for a concrete vector: generic SIMD code is many times slower).
    @inline(__always)
    private func forward<V: SIMD>(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                                  epilogue: ConvEpilogue, channels: V.Type) where V.Scalar == Float {
        let padded = paddedInput(x)
        defer { padded.deallocate() }
        let (pp, pw, py) = (SharedPointer(padded), SharedPointer(UnsafeMutablePointer(mutating: weight)), SharedPointer(y))
        let (wo, cout, length, taps, step) = (plan.wo, plan.cout, rowLength, rowTaps, positionStride)
        let outputRows = plan.n * plan.to * plan.ho
        Parallel.forEach(outputRows, grain: 4) { rows in
            for r in rows {
                for channel in stride(from: 0, to: cout, by: V.scalarCount) {
                    for w0 in stride(from: 0, to: wo, by: blockWidth) {
                        var acc = Block<V>()
                        inputRows(ofOutputRow: r) { inputRow, tapRow in
                            // Σ_j x[w0 + b, j] · W[j, channel…+V] for the 8 positions b.
                            acc.accumulate(x: pp + inputRow * length + w0 * step, lane: step, advance: 1,
                                           vector: pw + tapRow * taps * cout + channel, vectorAdvance: cout, steps: taps)
                        }
                        acc.store(py + (r * wo + w0) * cout + channel, stride: cout, count: min(blockWidth, wo - w0))
                    }
                }
            }
            epilogue.apply(py.base, first: rows.lowerBound * wo, count: rows.count * wo, width: cout)
        }
    }

    /// The weight gradient with channel blocks of V's width (inlined, as `forward`).
    @inline(__always)
    private func weightGradient<V: SIMD>(_ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, into dw: UnsafeMutablePointer<Float>,
                                         channels: V.Type) where V.Scalar == Float {
        let padded = paddedInput(x)
        defer { padded.deallocate() }
        let (wo, cout, length, taps, step) = (plan.wo, plan.cout, rowLength, rowTaps, positionStride)
        let outputRows = plan.n * plan.to * plan.ho
        let (pp, pdy) = (SharedPointer(padded), SharedPointer(UnsafeMutablePointer(mutating: dy)))
        Parallel.forEachChunk(outputRows, grain: 4, summingInto: dw, size: plan.k * cout) { rows, sum in
            let sum = sum!
            for r in rows {
                for channel in stride(from: 0, to: cout, by: V.scalarCount) {
                    inputRows(ofOutputRow: r) { inputRow, tapRow in
                        for j0 in stride(from: 0, to: taps, by: blockWidth) {
                            // Σ_w x[w, j0 + b] · dy[w, channel…+V] for the 8 taps b.
                            let target = sum + (tapRow * taps + j0) * cout + channel
                            let count = min(blockWidth, taps - j0)
                            var acc = Block<V>(loading: target, stride: cout, count: count)
                            acc.accumulate(x: pp + inputRow * length + j0, lane: 1, advance: step,
                                           vector: pdy + r * wo * cout + channel, vectorAdvance: cout, steps: wo)
                            acc.store(target, stride: cout, count: count)
                        }
                    }
                }
            }
        }
    }

    /// A register block: 8 vectors V of channels (8 output positions or 8 taps, × 16 or 8 channels).
    struct Block<V: SIMD> where V.Scalar == Float {
        var a0 = V(), a1 = V(), a2 = V(), a3 = V(), a4 = V(), a5 = V(), a6 = V(), a7 = V()

        @inline(__always) init() {}

        /// Lanes 0..<count from rows `stride` floats apart; the others zero.
        @inline(__always)
        init(loading p: UnsafePointer<Float>, stride: Int, count: Int) {
            for b in 0..<count { self[b] = UnsafeRawPointer(p + b * stride).loadUnaligned(as: V.self) }
        }

        @inline(__always)
        func store(_ p: UnsafeMutablePointer<Float>, stride: Int, count: Int) {
            for b in 0..<count { UnsafeMutableRawPointer(p + b * stride).storeBytes(of: self[b], as: V.self) }
        }

        @inline(__always)
        subscript(b: Int) -> V {
            get {
                switch b {
                case 0: a0
                case 1: a1
                case 2: a2
                case 3: a3
                case 4: a4
                case 5: a5
                case 6: a6
                default: a7
                }
            }
            set {
                switch b {
                case 0: a0 = newValue
                case 1: a1 = newValue
                case 2: a2 = newValue
                case 3: a3 = newValue
                case 4: a4 = newValue
                case 5: a5 = newValue
                case 6: a6 = newValue
                default: a7 = newValue
                }
            }
        }

        /// For each of `steps` steps s: lane b += x[s·advance + b·lane] · vector[s·vectorAdvance…+V].
        @inline(__always)
        mutating func accumulate(x: UnsafePointer<Float>, lane: Int, advance: Int,
                                 vector: UnsafePointer<Float>, vectorAdvance: Int, steps: Int) {
            var (a0, a1, a2, a3, a4, a5, a6, a7) = (self.a0, self.a1, self.a2, self.a3, self.a4, self.a5, self.a6, self.a7)
            var xs = x, vs = vector
            let (l1, l2, l3, l4, l5, l6, l7) = (lane, 2 * lane, 3 * lane, 4 * lane, 5 * lane, 6 * lane, 7 * lane)
            for _ in 0..<steps {
                let v = UnsafeRawPointer(vs).loadUnaligned(as: V.self)
                a0.addProduct(V(repeating: xs[0]), v)
                a1.addProduct(V(repeating: xs[l1]), v)
                a2.addProduct(V(repeating: xs[l2]), v)
                a3.addProduct(V(repeating: xs[l3]), v)
                a4.addProduct(V(repeating: xs[l4]), v)
                a5.addProduct(V(repeating: xs[l5]), v)
                a6.addProduct(V(repeating: xs[l6]), v)
                a7.addProduct(V(repeating: xs[l7]), v)
                xs += advance; vs += vectorAdvance
            }
            (self.a0, self.a1, self.a2, self.a3, self.a4, self.a5, self.a6, self.a7) = (a0, a1, a2, a3, a4, a5, a6, a7)
        }
    }
}
