import NLTensor
import Testing

/// The own GEMM (Sources/CKernels/gemm.c) inside convolutions: fp32 against PyTorch's conv3d
/// cases, and bf16 against fp32 on the same bf16-rounded operands.
@Suite("Own GEMM in convolutions")
struct PackedGEMMTests {
    static let available = PackedMatrix.isAvailable
    static let bf16 = Precision.bf16.unsupportedReason == nil

    /// conv3dFused through a packed weight, with the fixture's geometry (Winograd where it applies).
    func fused(_ x: Tensor, _ w: Tensor, _ b: Tensor?, _ c: OpFixtures.Case, _ precision: Precision) -> Tensor {
        let geometry = ConvGeometry(kernel: Array(w.shape.prefix(3)), stride: c.params.stride!, padding: c.params.padding!,
                                    dilation: c.params.dilation!)
        let packed = PackedConvWeight(w, precision: precision, geometry: geometry)
        if c.name.contains("winograd") && precision == .fp32 { #expect(packed.usesWinograd, "\(c.name)") }
        return conv3dFused(x, weight: w, bias: b, stride: c.params.stride!, padding: c.params.padding!,
                           dilation: c.params.dilation!, packed: packed)
    }

    @Test(.enabled(if: available), arguments: OpFixtures.cases("conv3d"))
    func fp32MatchesPyTorch(_ c: OpFixtures.Case) {
        let f = OpFixtures.shared
        let x = f.tensor(c, "x"), w = convWeight(fromPyTorch: f.tensor(c, "w")), b = f.optional(c, "b")
        expectClose(fused(x, w, b, c, .fp32), f.tensor(c, "y"), Tolerance.forward, "\(c.name) own fp32 GEMM")
    }

    /// bf16 rounds x and W, then sums exactly as fp32 would: equal to the fp32 conv of the
    /// rounded operands up to summation order; and within bf16's rounding of PyTorch's fp32 y.
    @Test(.enabled(if: bf16), arguments: OpFixtures.cases("conv3d"))
    func bf16MatchesFP32OnRoundedOperands(_ c: OpFixtures.Case) {
        let f = OpFixtures.shared
        let x = f.tensor(c, "x"), w = convWeight(fromPyTorch: f.tensor(c, "w")), b = f.optional(c, "b")
        let y = fused(x, w, b, c, .bf16)
        let rounded = conv3d(x.bf16Rounded, weight: w.bf16Rounded, bias: b, stride: c.params.stride!,
                             padding: c.params.padding!, dilation: c.params.dilation!)
        // The stem's direct conv (≤ 4 input channels) has no GEMM and stays fp32.
        let geometry = ConvGeometry(kernel: Array(w.shape.prefix(3)), stride: c.params.stride!, padding: c.params.padding!,
                                    dilation: c.params.dilation!)
        let exact = DirectConv.applies(cin: w.shape[3], cout: w.shape[4], geometry: geometry) ? f.tensor(c, "y") : rounded
        expectClose(y, exact, Tolerance.forward, "\(c.name) bf16 vs fp32 on rounded operands")
        expectClose(y, f.tensor(c, "y"), 2e-2, "\(c.name) bf16 vs PyTorch fp32")
    }

    /// Edge shapes the fixtures do not reach, with the whole epilogue (bias, residual, ReLU)
    /// fused into the GEMM's stores: columns not a multiple of 32 (one partial panel, fewer
    /// than 16), rows not a multiple of 14, odd depth (bf16's zero partner), a product small in
    /// rows but wide enough that the cores split it by panels, temporal taps (the frames at a
    /// clip's ends multiply only the taps inside it; with padding 3 the middle frame of a
    /// one-frame clip has no tap inside at all, only the epilogue), a strided and a 3×3×3 conv,
    /// and input rows read in place (256 channels: a temporal conv over two images of 25-row
    /// frames, one of 300 channels whose second depth slice straddles two taps, a pointwise
    /// conv of 147 rows), and spatial convs read in place by output rows (below); against the
    /// OpenBLAS path.
    @Test(.enabled(if: available), arguments: [
        ([1, 3, 5, 7, 5], 40, [1, 1, 1], [1, 1, 1], [0, 0, 0]),
        ([1, 2, 3, 5, 12], 8, [1, 3, 3], [1, 1, 1], [0, 1, 1]),
        ([2, 4, 6, 6, 16], 300, [3, 1, 1], [1, 1, 1], [1, 0, 0]),
        ([1, 1, 10, 10, 512], 96, [1, 1, 1], [1, 1, 1], [0, 0, 0]),
        ([1, 4, 9, 9, 33], 64, [1, 3, 3], [1, 1, 1], [0, 1, 1]),
        ([2, 1, 4, 4, 8], 24, [3, 1, 1], [1, 1, 1], [3, 0, 0]),
        ([1, 5, 7, 7, 20], 48, [3, 1, 1], [2, 1, 1], [1, 0, 0]),
        ([1, 4, 6, 6, 10], 40, [3, 3, 3], [1, 2, 2], [1, 1, 1]),
        ([1, 3, 8, 8, 64], 72, [1, 1, 1], [1, 2, 2], [0, 0, 0]),
        ([2, 3, 5, 5, 256], 40, [3, 1, 1], [1, 1, 1], [1, 0, 0]),
        ([1, 3, 7, 7, 300], 72, [3, 1, 1], [1, 1, 1], [1, 0, 0]),
        ([1, 3, 7, 7, 256], 72, [1, 1, 1], [1, 1, 1], [0, 0, 0]),
        // 1×kH×kW convs at least 14 wide, read in place by output rows: tasks of whole rows over
        // two images (17 wide: a partial micro-panel per row); all rows at once, the cores taking
        // panels (300 columns); 300 channels, all rows at once (the 1 MB of padded rows ends
        // mid-frame); a valid conv exactly 14 wide; 25 taps; a 1×1×3 kernel; padding past the
        // kernel's reach on every side; strided (rows 2·Cin apart), and in height only; 520
        // channels (two depth slices, of 5 and 4 taps); 4700 channels (each tap in two chunks).
        ([2, 3, 15, 17, 64], 40, [1, 3, 3], [1, 1, 1], [0, 1, 1]),
        ([1, 2, 15, 17, 64], 300, [1, 3, 3], [1, 1, 1], [0, 1, 1]),
        ([1, 2, 14, 30, 300], 300, [1, 3, 3], [1, 1, 1], [0, 1, 1]),
        ([1, 2, 8, 16, 128], 64, [1, 3, 3], [1, 1, 1], [0, 0, 0]),
        ([1, 1, 6, 14, 24], 32, [1, 5, 5], [1, 1, 1], [0, 2, 2]),
        ([1, 2, 5, 16, 8], 16, [1, 1, 3], [1, 1, 1], [0, 0, 1]),
        ([1, 1, 4, 14, 16], 16, [1, 3, 3], [1, 1, 1], [0, 2, 2]),
        ([1, 2, 10, 31, 64], 40, [1, 3, 3], [1, 2, 2], [0, 1, 1]),
        ([1, 1, 9, 29, 130], 72, [1, 3, 3], [1, 2, 1], [0, 1, 1]),
        ([1, 1, 4, 15, 520], 40, [1, 3, 3], [1, 1, 1], [0, 1, 1]),
        ([1, 1, 2, 14, 4700], 16, [1, 1, 3], [1, 1, 1], [0, 0, 1]),
    ])
    func edgeShapesMatchOpenBLAS(_ shape: [Int], _ cout: Int, _ kernel: [Int], _ stride: [Int], _ padding: [Int]) {
        let x = randomTensor(shape, seed: 11), w = randomTensor(kernel + [shape[4], cout], seed: 12, scale: 0.2)
        let b = randomTensor([cout], seed: 13)
        let frames: [Int] = (0..<3).map { (d: Int) -> Int in (shape[d + 1] + 2 * padding[d] - kernel[d]) / stride[d] + 1 }
        let output: [Int] = [shape[0]] + frames + [cout]
        let residual = randomTensor(output, seed: 14)
        func run(_ x: Tensor, _ w: Tensor, _ packed: PackedConvWeight?) -> Tensor {
            conv3dFused(x, weight: w, bias: b, stride: stride, padding: padding, residual: residual, relu: true, packed: packed)
        }
        let reference = run(x, w, nil)
        for precision in Precision.allCases where precision.unsupportedReason == nil {
            let y = run(x, w, PackedConvWeight(w, precision: precision))
            let expected = precision == .fp32 ? reference : run(x.bf16Rounded, w.bf16Rounded, nil)
            expectClose(y, expected, Tolerance.forward, "\(shape) → \(cout) \(kernel) \(stride) \(padding) \(precision)")
        }
    }
}

/// The stem's direct convolution (≤ 4 input channels) in its register blocks: 6 positions × 64
/// channels where Cout is a multiple of 64, else 8 × 16 or 8 × 8. Reference: the same conv with
/// the input padded to 5 zero channels, which takes the im2col + GEMM path (checked against
/// PyTorch in OpParityTests).
@Suite("Direct convolution blocks")
struct DirectConvBlockTests {
    @Test(arguments: [(64, 21), (128, 13), (48, 9), (8, 6)])
    func directConvMatchesIm2col(_ cout: Int, _ width: Int) {
        let x = randomTensor([1, 3, 9, width, 3], seed: 21), w = randomTensor([3, 3, 5, 3, cout], seed: 22, scale: 0.3)
        let b = randomTensor([cout], seed: 23)
        let stride = [1, 2, 2], padding = [1, 1, 2]
        let direct = conv3d(x, weight: w, bias: b, stride: stride, padding: padding)
        let zeros = Tensor(zeros: [1, 3, 9, width, 2]), zeroTaps = Tensor(zeros: [3, 3, 5, 2, cout])
        let reference = conv3d(concat([x, zeros], axis: 4), weight: concat([w, zeroTaps], axis: 3), bias: b,
                               stride: stride, padding: padding)
        expectClose(direct, reference, Tolerance.forward, "direct conv, Cout \(cout), width \(width)")
    }
}

/// Training's forward convolutions on the own GEMM: a product of at least 1024 output rows
/// packs its weight per call. Reference: the same batch one image at a time (144 rows each,
/// the OpenBLAS path that OpParityTests checks against PyTorch), forward and gradients.
@Suite("Own GEMM in training")
struct TrainingGEMMTests {
    @Test(.enabled(if: PackedMatrix.isAvailable), arguments: [
        ([1, 3, 3], [1, 1, 1], [0, 1, 1], [1, 1, 1]),
        ([3, 1, 1], [1, 1, 1], [1, 0, 0], [1, 1, 1]),
        ([1, 1, 1], [1, 1, 1], [0, 0, 0], [1, 1, 1]),
        ([3, 3, 3], [1, 1, 1], [2, 2, 2], [2, 2, 2]),
        ([3, 3, 3], [1, 1, 1], [0, 1, 0], [1, 1, 1]),
        ([1, 3, 3], [1, 2, 2], [0, 1, 1], [1, 1, 1]),
    ])
    func batchEqualsOneImageAtATime(_ kernel: [Int], _ stride: [Int], _ padding: [Int], _ dilation: [Int]) {
        let images = 8, cin = 6, cout = 10
        let x = randomTensor([images, 4, 6, 6, cin], seed: 31), w = randomTensor(kernel + [cin, cout], seed: 32, scale: 0.3)
        let output = [images] + ConvGeometry(kernel: kernel, stride: stride, padding: padding, dilation: dilation)
            .outputSize([4, 6, 6]) + [cout]
        let dy = randomTensor(output, seed: 33)
        func gradients(_ images: Range<Int>) -> (y: Tensor, dx: Tensor, dw: Tensor) {
            let tape = Tape()
            let (xw, ww) = (tape.watch(x.slice(axis: 0, range: images)), tape.watch(w))
            let y = conv3d(xw, weight: ww, stride: stride, padding: padding, dilation: dilation)
            let g = tape.gradients(of: y, wrt: [xw, ww], seed: dy.slice(axis: 0, range: images))
            return (y, g[0], g[1])
        }
        let batch = gradients(0..<images)
        let one = (0..<images).map { gradients($0..<($0 + 1)) }
        let label = "\(kernel) stride \(stride) pad \(padding) dilation \(dilation)"
        expectClose(batch.y, concat(one.map(\.y), axis: 0), Tolerance.forward, "\(label) y")
        expectClose(batch.dx, concat(one.map(\.dx), axis: 0), Tolerance.backward, "\(label) dx")
        let dw = one.dropFirst().reduce(one[0].dw) { $0 + $1.dw }
        expectClose(batch.dw, dw, Tolerance.backward, "\(label) dW")
    }
}

/// conv3dFused(accumulatingInto:): the output is written over the residual's storage only when
/// nothing else holds it; either way it equals the conv with a separate residual.
@Suite("Convolution into its residual")
struct ResidualInPlaceTests {
    @Test(.enabled(if: PackedMatrix.isAvailable), arguments: [([1, 1, 1], [0, 0, 0]), ([3, 1, 1], [1, 0, 0]), ([1, 3, 3], [0, 1, 1])])
    func inPlaceEqualsSeparateAndSparesASharedResidual(_ kernel: [Int], _ padding: [Int]) {
        let x = randomTensor([2, 3, 6, 6, 40], seed: 41), w = randomTensor(kernel + [40, 48], seed: 42, scale: 0.2)
        let b = randomTensor([48], seed: 43), packed = PackedConvWeight(w, precision: .fp32)
        let original = randomTensor([2, 3, 6, 6, 48], seed: 44)
        let expected = conv3dFused(x, weight: w, bias: b, padding: padding, residual: original, relu: true)

        var shared = original  // `original` still holds the storage: it must come back unchanged
        let fromShared = conv3dFused(x, weight: w, bias: b, padding: padding, accumulatingInto: &shared, relu: true, packed: packed)
        expectClose(fromShared, expected, Tolerance.forward, "\(kernel) shared residual")
        expectClose(original, randomTensor([2, 3, 6, 6, 48], seed: 44), 0, "\(kernel) shared residual left as it was")

        var unique = randomTensor([2, 3, 6, 6, 48], seed: 44)
        let before = unique.withUnsafeBufferPointer { $0.baseAddress }
        let fromUnique = conv3dFused(x, weight: w, bias: b, padding: padding, accumulatingInto: &unique, relu: true, packed: packed)
        expectClose(fromUnique, expected, Tolerance.forward, "\(kernel) unique residual")
        #expect(fromUnique.withUnsafeBufferPointer { $0.baseAddress } == before, "\(kernel): a unique residual's storage is the output")
    }
}
