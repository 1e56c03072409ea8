import CKernels
/// 3D convolution on channels-last tensors.
///
/// Shapes: x [N, T, H, W, Cin], weight [kT, kH, kW, Cin, Cout] (the GEMM's K×Cout matrix,
/// K = kT·kH·kW·Cin), bias [Cout], y [N, T', H', W', Cout].
/// A pointwise conv (1×1×1, stride 1, no padding) is one GEMM on x as it is. Any other conv
/// copies patches of contiguous Cin-vectors into a bounded scratch matrix (im2col), one tile
/// of output rows at a time, and multiplies each tile by the weight.

/// A 3D convolution's (or pool's) kernel, stride, padding and dilation, each as [T, H, W].
public struct ConvGeometry: Sendable, Equatable, CustomStringConvertible {
    /// Kernel size [kT, kH, kW].
    public var kernel: [Int]
    /// Step between output positions [T, H, W].
    public var stride: [Int]
    /// Zero padding on each side [T, H, W].
    public var padding: [Int]
    /// Spacing between kernel taps [T, H, W] (1: dense).
    public var dilation: [Int]

    /// A geometry; traps unless each array has 3 entries, kernel/stride/dilation ≥ 1 and padding ≥ 0.
    public init(kernel: [Int], stride: [Int] = [1, 1, 1], padding: [Int] = [0, 0, 0],
                dilation: [Int] = [1, 1, 1]) {
        require(kernel.count == 3 && stride.count == 3 && padding.count == 3 && dilation.count == 3,
                     "conv3d geometry needs 3 values (T, H, W) each: kernel \(kernel), stride \(stride), padding \(padding), dilation \(dilation)")
        require(kernel.allSatisfy { $0 >= 1 } && stride.allSatisfy { $0 >= 1 }
                     && dilation.allSatisfy { $0 >= 1 } && padding.allSatisfy { $0 >= 0 },
                     "conv3d geometry out of range: kernel \(kernel), stride \(stride), padding \(padding), dilation \(dilation)")
        self.kernel = kernel; self.stride = stride; self.padding = padding; self.dilation = dilation
    }

    /// Output T, H, W for input T, H, W (floor, as PyTorch and Caffe2 with these pads).
    public func outputSize(_ input: [Int]) -> [Int] {
        (0..<3).map { d in
            (input[d] + 2 * padding[d] - dilation[d] * (kernel[d] - 1) - 1) / stride[d] + 1
        }
    }

    var isPointwise: Bool {
        kernel == [1, 1, 1] && stride == [1, 1, 1] && padding == [0, 0, 0]
    }

    /// A kT×1×1 conv with no spatial stride or padding and temporal stride 1 (I3D's
    /// inflated 3×1×1): each temporal tap reads a contiguous block of rows of x, so the conv
    /// is kT GEMMs accumulated into y with no im2col.
    var isTemporalOnly: Bool {
        kernel[1] == 1 && kernel[2] == 1 && stride == [1, 1, 1] && padding[1] == 0 && padding[2] == 0
    }

    /// "kernel 3×1×1 stride [1, 1, 1] pad [1, 0, 0]" (dilation only when not 1).
    public var description: String {
        "kernel \(kernel.map(String.init).joined(separator: "×")) stride \(stride) pad \(padding)"
            + (dilation == [1, 1, 1] ? "" : " dilation \(dilation)")
    }
}

/// Everything about one convolution call that the kernels need.
struct ConvPlan: @unchecked Sendable {
    let n: Int, t: Int, h: Int, w: Int, cin: Int
    let cout: Int
    let geometry: ConvGeometry
    let to: Int, ho: Int, wo: Int
    /// Rows (output positions) per image and the GEMM depth.
    var rows: Int { to * ho * wo }
    var k: Int { geometry.kernel.reduce(1, *) * cin }
    /// Output rows per im2col tile: the scratch matrix stays at most ~`tileBytes`.
    static let tileBytes = 4 << 20

    init(input: [Int], weight: [Int], geometry: ConvGeometry) {
        require(input.count == 5, "conv3d: input must be [N, T, H, W, C], got \(input)")
        require(weight.count == 5, "conv3d: weight must be [kT, kH, kW, Cin, Cout], got \(weight)")
        require(Array(weight.prefix(3)) == geometry.kernel,
                     "conv3d: weight \(weight) does not match kernel \(geometry.kernel)")
        require(weight[3] == input[4],
                     "conv3d: input \(input) has \(input[4]) channels but weight \(weight) expects \(weight[3])")
        n = input[0]; t = input[1]; h = input[2]; w = input[3]; cin = input[4]
        cout = weight[4]
        self.geometry = geometry
        let out = geometry.outputSize([t, h, w])
        require(out.allSatisfy { $0 >= 1 },
                     "conv3d: input \(input) is too small for \(geometry) (output would be \(out))")
        to = out[0]; ho = out[1]; wo = out[2]
    }

    var outputShape: [Int] { [n, to, ho, wo, cout] }

    /// The conv as the C kernels take it (one image's geometry; images are consecutive).
    var kernelShape: nl_conv_shape {
        let g = geometry
        return nl_conv_shape(t: t, h: h, w: w, cin: cin, to: to, ho: ho, wo: wo,
                             kernel: (g.kernel[0], g.kernel[1], g.kernel[2]), stride: (g.stride[0], g.stride[1], g.stride[2]),
                             padding: (g.padding[0], g.padding[1], g.padding[2]),
                             dilation: (g.dilation[0], g.dilation[1], g.dilation[2]))
    }

    /// Tiles of equal size, so no tile is a sliver that runs the GEMM at a poor rate.
    var tileRows: Int { tileRows(bytes: ConvPlan.tileBytes) }

    /// Tiles one thread works through on its own: im2col's output stays in the core's L2 cache
    /// for the GEMM that reads it.
    static let threadTileBytes = 512 << 10

    func tileRows(bytes: Int) -> Int {
        let most = max(64, bytes / (4 * max(k, 1)))
        let tiles = (rows + most - 1) / most
        return (rows + tiles - 1) / max(tiles, 1)
    }

    /// For a temporal-only conv: for tap `kt`, the output frames that read an input frame,
    /// and the input frame that output frame `first` reads.
    func temporalTap(_ kt: Int) -> (outputs: Range<Int>, firstInput: Int)? {
        let shift = kt * geometry.dilation[0] - geometry.padding[0]
        let lo = max(0, -shift), hi = min(to, t - shift)
        return lo < hi ? (lo..<hi, lo + shift) : nil
    }

    /// A temporal tap that reads every input frame into every output frame (the centre tap of
    /// a "same" conv): accumulating it first with β = 0 saves zero-filling y (and dx).
    var fullTemporalTap: Int? {
        guard to == t else { return nil }
        return (0..<geometry.kernel[0]).first { temporalTap($0)?.outputs == 0..<to }
    }

    /// Temporal taps in accumulation order: the full tap first, when there is one.
    var temporalTapOrder: [Int] {
        let all = Array(0..<geometry.kernel[0])
        guard let full = fullTemporalTap else { return all }
        return [full] + all.filter { $0 != full }
    }

    /// Copies the patches of output rows `first..<first+count` of image `image` into `cols`
    /// (count × K, row-major, patch order kT, kH, kW, Cin). Out-of-range taps are zeros.
    func im2col(_ x: UnsafePointer<Float>, image: Int, first: Int, count: Int, into cols: UnsafeMutablePointer<Float>) {
        let g = geometry
        let xs = SharedPointer(UnsafeMutablePointer(mutating: x)), cs = SharedPointer(cols)
        let grain = max(1, 4096 / max(k, 1))
        let total = n * t * h * w * cin
        Parallel.forEach(count, grain: grain) { range in
            let xEnd = xs + total
            for r in range {
                let p = first + r
                let ot = p / (ho * wo), oh = (p / wo) % ho, ow = p % wo
                var dst = cs + r * k
                let rowEnd = cs + (r + 1) * k   // overshoot stays in this row: the next row may be another thread's
                for kt in 0..<g.kernel[0] {
                    let it = ot * g.stride[0] - g.padding[0] + kt * g.dilation[0]
                    for kh in 0..<g.kernel[1] {
                        let ih = oh * g.stride[1] - g.padding[1] + kh * g.dilation[1]
                        let rowLen = g.kernel[2] * cin
                        guard it >= 0, it < t, ih >= 0, ih < h else {
                            dst.update(repeating: 0, count: rowLen); dst += rowLen; continue
                        }
                        let src = xs + (((image * t + it) * h + ih) * w) * cin
                        let iw0 = ow * g.stride[2] - g.padding[2]
                        if g.dilation[2] == 1 && iw0 >= 0 && iw0 + g.kernel[2] <= w {
                            // The whole kW×Cin run is contiguous in x.
                            copyRun(dst, src + iw0 * cin, rowLen, dstLimit: rowEnd, srcLimit: xEnd)
                            dst += rowLen
                            continue
                        }
                        for kw in 0..<g.kernel[2] {
                            let iw = iw0 + kw * g.dilation[2]
                            if iw >= 0 && iw < w { copyRun(dst, src + iw * cin, cin, dstLimit: rowEnd, srcLimit: xEnd) }
                            else { dst.update(repeating: 0, count: cin) }
                            dst += cin
                        }
                    }
                }
            }
        }
    }

    /// Adds the patch gradients `cols` (count × K) of output rows `first..<first+count` back
    /// into dx, the inverse of `im2col`. Workers split the channels, so no two write one place.
    func col2im(_ cols: UnsafePointer<Float>, image: Int, first: Int, count: Int, into dx: UnsafeMutablePointer<Float>) {
        let (kT, kH, kW) = (geometry.kernel[0], geometry.kernel[1], geometry.kernel[2])
        let (sT, sH, sW) = (geometry.stride[0], geometry.stride[1], geometry.stride[2])
        let (pT, pH, pW) = (geometry.padding[0], geometry.padding[1], geometry.padding[2])
        let (dT, dH, dW) = (geometry.dilation[0], geometry.dilation[1], geometry.dilation[2])
        let ds = SharedPointer(dx), cs = SharedPointer(UnsafeMutablePointer(mutating: cols))
        Parallel.forEach(cin, grain: 16) { channels in
            let c0 = channels.lowerBound, width = channels.count, whole = width == cin
            for r in 0..<count {
                let p = first + r
                let ot = p / (ho * wo), oh = (p / wo) % ho, ow = p % wo
                var src = cs + r * k
                for kt in 0..<kT {
                    let it = ot * sT - pT + kt * dT
                    for kh in 0..<kH {
                        let ih = oh * sH - pH + kh * dH
                        guard it >= 0 && it < t && ih >= 0 && ih < h else { src += kW * cin; continue }
                        let row = ds + (((image * t + it) * h + ih) * w) * cin
                        let iw0 = ow * sW - pW
                        if whole && dW == 1 && iw0 >= 0 && iw0 + kW <= w {
                            // The kW×Cin run is contiguous in dx as in the patch.
                            addRun(row + iw0 * cin, src, kW * cin)
                            src += kW * cin
                            continue
                        }
                        for kw in 0..<kW {
                            let iw = iw0 + kw * dW
                            if iw >= 0 && iw < w { addRun(row + iw * cin + c0, src + c0, width) }
                            src += cin
                        }
                    }
                }
            }
        }
    }
}

/// Copies n floats into dst, possibly also writing up to 15 floats past them (garbage that the
/// next copy overwrites) when that stays below `dstLimit` and the source read below `srcLimit`.
/// The runs im2col copies are short (kW·Cin: 21 floats for conv1's 1×7 rows of RGB, 48 for a
/// 1×3×3 conv on 16 channels), where a call to memmove, or an exact-length tail, cost more than
/// the copy: whole 16-wide vectors instead.
@inline(__always)
private func copyRun(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int,
                     dstLimit: UnsafeMutablePointer<Float>, srcLimit: UnsafePointer<Float>) {
    if n >= 1024 { dst.update(from: src, count: n); return }
    let rounded = (n + 15) & ~15
    let overshoot = dst + rounded <= dstLimit && src + rounded <= srcLimit
    let vectors = overshoot ? rounded : n & ~15
    let d = UnsafeMutableRawPointer(dst), s = UnsafeRawPointer(src)
    for i in stride(from: 0, to: vectors, by: 16) {
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self), toByteOffset: 4 * i, as: SIMD16<Float>.self)
    }
    for i in vectors..<max(n, vectors) { dst[i] = src[i] }
}

/// What happens to each output tile right after its GEMM, while it is in cache:
/// y = relu?(y + bias + residual).
struct ConvEpilogue: @unchecked Sendable {
    var bias: UnsafePointer<Float>?
    var residual: UnsafePointer<Float>?
    var relu = false
    /// y already holds the residual (the own GEMM adds the conv to it in place).
    var accumulate = false

    var isEmpty: Bool { bias == nil && residual == nil && !relu }

    /// The epilogue for the own GEMM's blocks from flat row `first` on (rows of `width`).
    func rows(from first: Int, width: Int) -> nl_epilogue {
        nl_epilogue(bias: bias, residual: residual.map { $0 + first * width }, relu: relu ? 1 : 0, accumulate: accumulate ? 1 : 0)
    }

    /// Applies to `count` rows of width `width` starting at flat row `first`.
    func apply(_ y: UnsafeMutablePointer<Float>, first: Int, count: Int, width: Int) {
        guard !isEmpty else { return }
        let ys = SharedPointer(y), b = bias.map { SharedPointer(UnsafeMutablePointer(mutating: $0)) }
        let res = residual.map { SharedPointer(UnsafeMutablePointer(mutating: $0)) }
        let relu = relu
        Parallel.forEach(count, grain: max(1, 8192 / width)) { range in
            let at = (first + range.lowerBound) * width
            nl_bias_residual_relu(ys + at, b?.base, res.map { $0 + at }, relu ? 1 : 0, range.count, width)
        }
    }
}

/// y = conv(x, weight) (+ bias) with the epilogue fused in; no tape. With `packed` (the same
/// weight, packed for the own GEMM), its GEMMs run there, in the packed precision.
func conv3dForward(_ x: Tensor, weight: Tensor, geometry: ConvGeometry, epilogue: ConvEpilogue,
                   packed: PackedConvWeight? = nil) -> Tensor {
    let plan = ConvPlan(input: x.shape, weight: weight.shape, geometry: geometry)
    let y = Tensor(uninitialized: plan.outputShape)
    let (k, cout) = (plan.k, plan.cout)
    if let packed, !DirectConv.applies(to: plan) {
        // The own GEMM gathers each output position's patch as it packs A (no im2col matrix; a
        // temporal conv's taps are one product) and runs the epilogue on each block it computes.
        packed.convolve(plan, x: x.pointer, y: y.pointer, epilogue: epilogue)
        return y
    }
    if geometry.isPointwise {
        // Rows of all images are contiguous: one GEMM per tile over N·T·H·W rows.
        let total = plan.n * plan.rows
        let tile = max(256, min(total, (2 << 20) / (4 * cout)))
        for first in stride(from: 0, to: total, by: tile) {
            let count = min(tile, total - first)
            sgemm(m: count, n: cout, k: k, a: x.pointer + first * k, lda: k, b: weight.pointer, ldb: cout,
                  c: y.pointer + first * cout, ldc: cout)
            epilogue.apply(y.pointer, first: first, count: count, width: cout)
        }
        return y
    }
    if geometry.isTemporalOnly {
        // y[t] = Σ_kt x[t + kt·d − p] · W[kt]: frames are contiguous row blocks of H·W·Cin.
        let frame = plan.h * plan.w, cin = plan.cin
        let full = plan.fullTemporalTap
        if full == nil { y.pointer.update(repeating: 0, count: y.count) }
        for image in 0..<plan.n {
            for kt in plan.temporalTapOrder {
                guard let tap = plan.temporalTap(kt) else { continue }
                let a = x.pointer + ((image * plan.t + tap.firstInput) * frame) * cin
                let c = y.pointer + ((image * plan.to + tap.outputs.lowerBound) * frame) * cout
                sgemm(m: tap.outputs.count * frame, n: cout, k: cin, a: a, lda: cin,
                      b: weight.pointer + kt * cin * cout, ldb: cout, beta: kt == full ? 0 : 1, c: c, ldc: cout)
            }
            epilogue.apply(y.pointer, first: image * plan.rows, count: plan.rows, width: cout)
        }
        return y
    }
    if DirectConv.applies(to: plan) {
        DirectConv(plan: plan).forward(x.pointer, weight: weight.pointer, into: y.pointer, epilogue: epilogue)
        return y
    }
    // Tiles of output rows as tasks: each thread copies its tile's patches (im2col) and
    // multiplies them by the weight, with the patches still in its cache.
    let tile = plan.tileRows(bytes: ConvPlan.threadTileBytes)
    let tilesPerImage = (plan.rows + tile - 1) / tile
    let (px, pw, py) = (SharedPointer(x.pointer), SharedPointer(weight.pointer), SharedPointer(y.pointer))
    let tasks = plan.n * tilesPerImage
    Parallel.forEachTask(tasks) { task in
        let image = task / tilesPerImage, first = (task % tilesPerImage) * tile
        let count = min(tile, plan.rows - first)
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: count * k)
        defer { cols.deallocate() }
        plan.im2col(px.base, image: image, first: first, count: count, into: cols)
        let row0 = image * plan.rows + first
        sgemm(m: count, n: cout, k: k, a: cols, lda: k, b: pw.base, ldb: cout, c: py + row0 * cout, ldc: cout,
              split: tasks == 1)
        epilogue.apply(py.base, first: row0, count: count, width: cout)
    }
    return y
}

/// Gradients of a convolution: dx = col2im(dy · Wᵀ), dW = Σ colsᵀ · dy, db = Σ_rows dy.
func conv3dBackward(_ dy: Tensor, x: Tensor, weight: Tensor, geometry: ConvGeometry,
                    wantInput: Bool, wantWeight: Bool) -> (dx: Tensor?, dw: Tensor?) {
    let plan = ConvPlan(input: x.shape, weight: weight.shape, geometry: geometry)
    if wantWeight && DirectConv.applies(to: plan) {
        let dw = Tensor(zeros: weight.shape)
        DirectConv(plan: plan).weightGradient(dy.pointer, x: x.pointer, into: dw.pointer)
        let dx = wantInput ? conv3dBackward(dy, x: x, weight: weight, geometry: geometry,
                                            wantInput: true, wantWeight: false).dx : nil
        return (dx, dw)
    }
    let (k, cout) = (plan.k, plan.cout)
    let dw = wantWeight ? Tensor(zeros: weight.shape) : nil
    if geometry.isPointwise {
        let total = plan.n * plan.rows
        var dx: Tensor?
        if wantInput {
            dx = Tensor(uninitialized: x.shape)
            sgemm(transB: true, m: total, n: k, k: cout, a: dy.pointer, lda: cout, b: weight.pointer, ldb: cout,
                  c: dx!.pointer, ldc: k)
        }
        if let dw {
            sgemm(transA: true, m: k, n: cout, k: total, a: x.pointer, lda: k, b: dy.pointer, ldb: cout,
                  c: dw.pointer, ldc: cout)
        }
        return (dx, dw)
    }
    if geometry.isTemporalOnly {
        // Per tap kt: dx[t_in] += dy[t_out] · W[kt]ᵀ and dW[kt] += x[t_in]ᵀ · dy[t_out].
        let frame = plan.h * plan.w, cin = plan.cin
        let full = plan.fullTemporalTap
        let dx = wantInput ? (full == nil ? Tensor(zeros: x.shape) : Tensor(uninitialized: x.shape)) : nil
        for image in 0..<plan.n {
            for kt in plan.temporalTapOrder {
                guard let tap = plan.temporalTap(kt) else { continue }
                let rows = tap.outputs.count * frame
                let xRows = (image * plan.t + tap.firstInput) * frame * cin
                let dyRows = (image * plan.to + tap.outputs.lowerBound) * frame * cout
                if let dx {
                    sgemm(transB: true, m: rows, n: cin, k: cout, a: dy.pointer + dyRows, lda: cout,
                          b: weight.pointer + kt * cin * cout, ldb: cout, beta: kt == full ? 0 : 1, c: dx.pointer + xRows, ldc: cin)
                }
                if let dw {
                    sgemm(transA: true, m: cin, n: cout, k: rows, a: x.pointer + xRows, lda: cin,
                          b: dy.pointer + dyRows, ldb: cout, beta: 1, c: dw.pointer + kt * cin * cout, ldc: cout)
                }
            }
        }
        return (dx, dw)
    }
    let winogradDx = wantInput ? inputGradientByWinograd(dy, weight: weight, geometry: geometry) : nil
    // Images as the unit of parallel work: each image's dx is its own region, so col2im needs
    // no locks, and each part sums its dW in its own buffer. Tiles are sized for the thread's
    // cache. With one part (a single clip), the loops inside run in parallel instead.
    let dx = wantInput && winogradDx == nil ? Tensor(zeros: x.shape) : nil
    let parts = Parallel.chunkCount(plan.n, grain: 1)
    let tile = plan.tileRows(bytes: parts > 1 ? ConvPlan.threadTileBytes : ConvPlan.tileBytes)
    let (px, pw, pdy) = (SharedPointer(x.pointer), SharedPointer(weight.pointer), SharedPointer(dy.pointer))
    let pdx = dx.map { SharedPointer($0.pointer) }
    Parallel.forEachChunk(plan.n, grain: 1, summingInto: dw?.pointer, size: k * cout) { images, dwSum in
        let cols = UnsafeMutablePointer<Float>.allocate(capacity: tile * k)
        defer { cols.deallocate() }
        for image in images {
            for first in stride(from: 0, to: plan.rows, by: tile) {
                let count = min(tile, plan.rows - first)
                let dyTile = pdy + (image * plan.rows + first) * cout
                if let dwSum {
                    plan.im2col(px.base, image: image, first: first, count: count, into: cols)
                    sgemm(transA: true, m: k, n: cout, k: count, a: cols, lda: k, b: dyTile, ldb: cout,
                          beta: 1, c: dwSum, ldc: cout, split: parts == 1)
                }
                if let pdx {
                    sgemm(transB: true, m: count, n: k, k: cout, a: dyTile, lda: cout, b: pw.base, ldb: cout,
                          c: cols, ldc: k, split: parts == 1)
                    plan.col2im(cols, image: image, first: first, count: count, into: pdx.base)
                }
            }
        }
    }
    return (winogradDx ?? dx, dw)
}

/// dx of a 1×3×3 conv of stride 1 and padding (0, 1, 1) by Winograd, where it runs the forward
/// conv (`PackedConvWeight.perCall`): the same conv of dy with the kernel turned 180° in H, W
/// and its channels swapped, W'[0, i, j, co, ci] = W[0, 2 − i, 2 − j, ci, co]. Else nil.
private func inputGradientByWinograd(_ dy: Tensor, weight: Tensor, geometry: ConvGeometry) -> Tensor? {
    guard weight.rank == 5, Array(weight.shape.prefix(3)) == [1, 3, 3],
          WinogradWeight.wanted(weight: [1, 3, 3, weight.shape[4], weight.shape[3]], geometry: geometry) else { return nil }
    let (cin, cout) = (weight.shape[3], weight.shape[4])
    var turned = Tensor(uninitialized: [1, 3, 3, cout, cin])
    weight.withUnsafeBufferPointer { w in
        turned.withUnsafeMutableBufferPointer { t in
            for tap in 0..<9 {
                let from = (8 - tap) * cin * cout, to = tap * cout * cin
                for ci in 0..<cin { for co in 0..<cout { t[to + co * cin + ci] = w[from + ci * cout + co] } }
            }
        }
    }
    guard let packed = PackedConvWeight.perCall(turned, input: dy.shape, geometry: geometry), packed.usesWinograd else { return nil }
    return conv3dForward(dy, weight: turned, geometry: geometry, epilogue: ConvEpilogue(), packed: packed)
}

/// Sums rows of a [..., C] tensor into [C] (the gradient of a per-channel bias or shift).
func sumRows(_ g: Tensor) -> Tensor {
    Tensor(shape: [g.shape.last ?? 1], scalars: channelSums(g).map { Float($0) })
}

/// Per-channel sums of a [..., C] tensor, in Double.
func channelSums(_ g: Tensor) -> [Double] {
    let c = max(g.shape.last ?? 1, 1)
    let pg = SharedPointer(g.pointer)
    return Parallel.channelSums(rows: g.count / c, channels: c, grain: max(1, 16384 / c)) { rows, first, _ in
        nl_channel_sum(pg + rows.lowerBound * c, rows.count, c, first)
    }.first
}

/// 3D convolution, channels-last: x [N, T, H, W, Cin] ⊛ weight [kT, kH, kW, Cin, Cout]
/// (+ bias [Cout]) → [N, T', H', W', Cout]. Differentiable in x, weight and bias.
public func conv3d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: [Int] = [1, 1, 1],
                   padding: [Int] = [0, 0, 0], dilation: [Int] = [1, 1, 1]) -> Tensor {
    let geometry = ConvGeometry(kernel: Array(weight.shape.prefix(3)), stride: stride, padding: padding,
                                dilation: dilation)
    if let bias {
        require(bias.shape == [weight.shape.last ?? 0],
                     "conv3d: bias \(bias.shape) does not match weight \(weight.shape) (needs [\(weight.shape.last ?? 0)])")
    }
    let y = conv3dForward(x, weight: weight, geometry: geometry, epilogue: ConvEpilogue(bias: bias.map { UnsafePointer($0.pointer) }),
                          packed: PackedConvWeight.perCall(weight, input: x.shape, geometry: geometry))
    let inputs = [x, weight] + (bias.map { [$0] } ?? [])
    return y.recorded(inputs: inputs) { dy in
        let (dx, dw) = conv3dBackward(dy, x: x, weight: weight, geometry: geometry,
                                      wantInput: x.requiresGradient, wantWeight: weight.requiresGradient)
        return [dx, dw] + (bias.map { $0.requiresGradient ? [sumRows(dy)] : [nil] } ?? [])
    }
}

/// Inference convolution with the bias, a residual add and ReLU fused after each GEMM tile:
/// relu?(conv(x) + bias + residual). No gradients. `packed`: the weight packed for the own
/// GEMM (`PackedConvWeight`, fp32 or bf16), which then runs the products.
public func conv3dFused(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: [Int] = [1, 1, 1],
                        padding: [Int] = [0, 0, 0], dilation: [Int] = [1, 1, 1],
                        residual: Tensor? = nil, relu: Bool = false, packed: PackedConvWeight? = nil) -> Tensor {
    let geometry = ConvGeometry(kernel: Array(weight.shape.prefix(3)), stride: stride, padding: padding,
                                dilation: dilation)
    let plan = ConvPlan(input: x.shape, weight: weight.shape, geometry: geometry)
    if let residual {
        require(residual.shape == plan.outputShape,
                     "conv3dFused: residual \(residual.shape) does not match output \(plan.outputShape)")
    }
    let epilogue = ConvEpilogue(bias: bias.map { UnsafePointer($0.pointer) },
                                residual: residual.map { UnsafePointer($0.pointer) }, relu: relu)
    return withExtendedLifetime((bias, residual)) {
        conv3dForward(x, weight: weight, geometry: geometry, epilogue: epilogue, packed: packed)
    }
}

/// relu?(conv(x) + bias + residual) written over `residual`'s storage, when `residual` is the
/// only reference to it and the own GEMM runs the conv: the GEMM starts from the residual and
/// adds to it, so the output needs no memory of its own and the residual is not read from one
/// buffer while the output is written to another (res2's 1×1×1 conv into 256 channels: 3.1 against
/// 3.3–3.7 ms in a 2-thread harness). The result then shares that storage; `residual` must not
/// be used again. Anywhere else it is `conv3dFused(…, residual:)`. No gradients.
public func conv3dFused(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: [Int] = [1, 1, 1],
                        padding: [Int] = [0, 0, 0], accumulatingInto residual: inout Tensor, relu: Bool = false,
                        packed: PackedConvWeight?) -> Tensor {
    let geometry = ConvGeometry(kernel: Array(weight.shape.prefix(3)), stride: stride, padding: padding)
    let plan = ConvPlan(input: x.shape, weight: weight.shape, geometry: geometry)
    guard let packed, !DirectConv.applies(to: plan), residual.shape == plan.outputShape, residual.tape == nil,
          isKnownUniquelyReferenced(&residual.storage) else {
        return conv3dFused(x, weight: weight, bias: bias, stride: stride, padding: padding, residual: residual, relu: relu,
                           packed: packed)
    }
    let epilogue = ConvEpilogue(bias: bias.map { UnsafePointer($0.pointer) }, relu: relu, accumulate: true)
    withExtendedLifetime(bias) {
        packed.convolve(plan, x: x.pointer, y: residual.pointer, epilogue: epilogue)
    }
    return residual
}

/// A PyTorch/Caffe2 conv weight (O, I, kT, kH, kW) in this project's layout (kT, kH, kW, I, O).
public func convWeight(fromPyTorch w: Tensor) -> Tensor {
    require(w.rank == 5, "convWeight(fromPyTorch:): expected (O, I, kT, kH, kW), got \(w.shape)")
    return w.permuted([2, 3, 4, 1, 0])
}
