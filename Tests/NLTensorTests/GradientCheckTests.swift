import NLTensor
import Testing

/// Backward rules against central finite differences of L = Σ y ⊙ r (r random), probing a
/// sample of coordinates of every input. Independent of PyTorch.
@Suite("Finite-difference gradients")
struct GradientCheckTests {
    static let step: Float = 1e-2
    static let tolerance: Float = 2e-2

    /// Checks d/d inputs of `f` at `inputs`.
    func check(_ name: String, _ inputs: [Tensor], probes: Int = 12, _ f: ([Tensor]) -> Tensor) {
        let tape = Tape()
        let watched = inputs.map(tape.watch)
        let y = f(watched)
        let r = randomTensor(y.shape, seed: 99)
        let loss = sum(y * r)
        let grads = tape.gradients(of: loss, wrt: watched)
        func lossAt(_ xs: [Tensor]) -> Double {
            let y = f(xs)
            var s: Double = 0
            y.withUnsafeBufferPointer { yb in r.withUnsafeBufferPointer { rb in
                for i in 0..<yb.count { s += Double(yb[i]) * Double(rb[i]) } } }
            return s
        }
        var rng = RandomSource(seed: 5)
        for (which, input) in inputs.enumerated() {
            for _ in 0..<probes {
                let i = Int(rng.next() % UInt64(input.count))
                var plus = inputs, minus = inputs
                plus[which].withUnsafeMutableBufferPointer { $0[i] += Self.step }
                minus[which].withUnsafeMutableBufferPointer { $0[i] -= Self.step }
                let numeric = Float((lossAt(plus) - lossAt(minus)) / Double(2 * Self.step))
                let analytic = grads[which].scalars[i]
                let error = abs(numeric - analytic) / max(1, abs(numeric))
                #expect(error < Self.tolerance, "\(name): input \(which)[\(i)] analytic \(analytic) numeric \(numeric)")
            }
        }
    }

    @Test func conv3dStridedPadded() {
        check("conv3d", [randomTensor([1, 3, 5, 6, 3], seed: 1), randomTensor([2, 3, 3, 3, 4], seed: 2, scale: 0.3),
                         randomTensor([4], seed: 3)]) {
            conv3d($0[0], weight: $0[1], bias: $0[2], stride: [1, 2, 2], padding: [1, 1, 0])
        }
    }

    /// Few input channels and a 16-channel output block: the direct conv's weight gradient,
    /// over an output width (5) that ends inside a register block of 8 positions.
    @Test func conv3dDirectFewChannels() {
        check("conv3d direct", [randomTensor([1, 3, 4, 9, 2], seed: 16), randomTensor([3, 3, 3, 2, 16], seed: 17, scale: 0.3)]) {
            conv3d($0[0], weight: $0[1], stride: [1, 2, 2], padding: [1, 1, 1])
        }
    }

    /// The same with 8-channel blocks (Cout 8: the width-8 models' stem).
    @Test func conv3dDirectEightChannels() {
        check("conv3d direct 8", [randomTensor([1, 2, 5, 11, 3], seed: 18), randomTensor([1, 3, 3, 3, 8], seed: 19, scale: 0.3)]) {
            conv3d($0[0], weight: $0[1], stride: [1, 1, 2], padding: [0, 1, 1])
        }
    }

    @Test func batchNormTraining() {
        check("batchNorm", [randomTensor([2, 2, 3, 3, 4], seed: 4), randomTensor([4], seed: 5),
                            randomTensor([4], seed: 6)]) { xs in
            var stats = BatchNormStatistics(channels: 4)
            return batchNorm(xs[0], scale: xs[1], shift: xs[2], statistics: &stats, training: true)
        }
    }

    /// Batch norm with the residual add and ReLU fused in (training and running statistics).
    /// The residual puts every pre-activation at least 0.5 from the ReLU's kink (either side),
    /// so a finite-difference step never crosses it.
    @Test func batchNormResidualReLU() {
        let x = randomTensor([2, 2, 3, 3, 4], seed: 13), gamma = randomTensor([4], seed: 14), beta = randomTensor([4], seed: 15)
        for training in [true, false] {
            var plain = BatchNormStatistics(channels: 4)
            let z = batchNorm(x, scale: gamma, shift: beta, statistics: &plain, training: training).scalars
            let u = randomTensor(x.shape, seed: 16).scalars
            let residual = Tensor(shape: x.shape, scalars: (0..<z.count).map { i in
                -z[i] + (u[i] < 0 ? -1 : 1) * (0.5 + abs(u[i]))
            })
            check("batchNorm+residual+relu", [x, gamma, beta, residual]) { xs in
                var stats = BatchNormStatistics(channels: 4)
                return batchNorm(xs[0], scale: xs[1], shift: xs[2], statistics: &stats, training: training,
                                 residual: xs[3], relu: true)
            }
        }
    }

    /// bn+ReLU fused, whose backward pass recomputes the ReLU's gate from x (x·scale + shift > 0),
    /// gives bit for bit the gradients of relu(bn(x)) unfused, whose gate is its own y > 0: the
    /// recomputed gate agrees with the forward's ReLU on every element, including pre-activations
    /// of exactly 0 (x = 0 in a channel with β = 0 at inference) and those within rounding of it.
    /// 8 channels walk 16-lane rows; 40 has a partial vector.
    @Test(arguments: [(8, true), (8, false), (40, true), (40, false)])
    func fusedReLUGateMatchesUnfused(channels c: Int, training: Bool) {
        var x = randomTensor([2, 3, 4, 5, c], seed: 31, scale: 2)
        x.withUnsafeMutableBufferPointer { p in for i in stride(from: 0, to: p.count, by: 7) { p[i] = 0 } }
        let gamma = randomTensor([c], seed: 32), dy = randomTensor(x.shape, seed: 34)
        let beta = Tensor(shape: [c], scalars: randomTensor([c], seed: 33).scalars.enumerated().map { $0.offset % 2 == 0 ? 0 : $0.element })
        func gradients(fused: Bool) -> [Tensor] {
            let tape = Tape()
            let (xs, g, b) = (tape.watch(x), tape.watch(gamma), tape.watch(beta))
            var stats = BatchNormStatistics(mean: Tensor(zeros: [c]), variance: Tensor(repeating: 0.7, shape: [c]))
            let y = fused ? batchNorm(xs, scale: g, shift: b, statistics: &stats, training: training, relu: true)
                : relu(batchNorm(xs, scale: g, shift: b, statistics: &stats, training: training))
            return tape.gradients(of: y, wrt: [xs, g, b], seed: dy)
        }
        let (fused, unfused) = (gradients(fused: true), gradients(fused: false))
        #expect((training || fused[0].scalars.contains(0)) && fused[0].scalars.contains { $0 != 0 })
        for (a, b) in zip(fused, unfused) { #expect(zip(a.scalars, b.scalars).filter { $0 != $1 }.count == 0) }
    }

    @Test func poolingAndSoftmax() {
        check("maxPool3d", [randomTensor([1, 2, 5, 5, 3], seed: 7)]) {
            maxPool3d($0[0], kernel: [1, 3, 3], stride: [1, 2, 2])
        }
        check("avgPool3d", [randomTensor([1, 4, 4, 4, 2], seed: 8)]) {
            avgPool3d($0[0], kernel: [2, 2, 2], stride: [1, 2, 2], padding: [1, 0, 1])
        }
        check("softmax", [randomTensor([3, 9], seed: 9, scale: 3)]) { softmax($0[0]) }
    }

    /// The non-local block's core: softmax(θᵀφ·s)·gᵀ, through permute, reshape and matmul.
    @Test func attentionChain() {
        check("attention", [randomTensor([2, 6, 4], seed: 10), randomTensor([2, 3, 4], seed: 11),
                            randomTensor([2, 3, 5], seed: 12)]) { xs in
            let p = softmax(matmul(xs[0], xs[1], transposeB: true) * 0.5)   // [B, N=6, M=3]
            return matmul(p, xs[2]).permuted([0, 2, 1]).reshaped([2, 30])   // [B, 5·6]
        }
    }

    @Test func linearCrossEntropy() {
        check("cross-entropy", [randomTensor([4, 6], seed: 13), randomTensor([6, 5], seed: 14),
                                randomTensor([5], seed: 15)]) { xs in
            softmaxCrossEntropy(linear(xs[0], weight: xs[1], bias: xs[2]), labels: [0, 4, 2, 2])
        }
    }
}

@Suite("Tape")
struct TapeTests {
    @Test func untrackedTensorsRecordNothing() {
        let x = randomTensor([2, 3], seed: 1)
        let y = relu(x * 2 + x)
        #expect(!y.requiresGradient)
    }

    @Test func gradientsAccumulateOverReuse() {
        // y = x·x + x → dy/dx = 2x + 1
        let tape = Tape()
        let x = tape.watch(Tensor(shape: [3], scalars: [1, -2, 0.5]))
        let g = tape.gradients(of: sum(x * x + x), wrt: [x])[0]
        #expect(g.scalars == [3, -3, 2])
    }

    /// Gradients are added in place where a gradient's storage is held nowhere else, and copied
    /// where it is shared: the seed the caller passes, which x + x's rule hands on as it is to
    /// both inputs, comes back unchanged; and sums over many elements (split over the cores)
    /// are right: d(x + x)/dx = 2, d((x + x) + x·x)/dx = 2 + 2x, times the seed.
    @Test func accumulatingGradientsLeavesSharedTensorsAlone() {
        let values = randomTensor([70_000], seed: 4), seed = randomTensor([70_000], seed: 5)
        let before = seed.scalars
        for squared in [false, true] {
            let tape = Tape()
            let x = tape.watch(values)
            let g = tape.gradients(of: squared ? (x + x) + x * x : x + x, wrt: [x], seed: seed)[0]
            #expect(seed.scalars == before, "the caller's seed was written to")
            let expected = zip(values.scalars, before).map { ((squared ? $0 * 2 : 0) + 2) * $1 }
            #expect(zip(g.scalars, expected).allSatisfy { abs($0 - $1) <= 1e-5 * (1 + abs($1)) })
        }
    }

    @Test func unusedSourceGetsZeros() {
        let tape = Tape()
        let x = tape.watch(Tensor(shape: [2], scalars: [1, 2]))
        let unused = tape.watch(Tensor(shape: [4], scalars: [1, 2, 3, 4]))
        let g = tape.gradients(of: sum(x), wrt: [x, unused])
        #expect(g[1].scalars == [0, 0, 0, 0])
    }

    @Test func dropoutKeepsExpectationAndMasksGradient() {
        var rng = RandomSource(seed: 3)
        let tape = Tape()
        let x = tape.watch(Tensor(repeating: 1, shape: [20000]))
        let y = dropout(x, probability: 0.5, using: &rng)
        let kept = y.scalars.filter { $0 != 0 }
        #expect(kept.allSatisfy { $0 == 2 })
        #expect(abs(Float(kept.count) / 20000 - 0.5) < 0.02)
        let g = tape.gradients(of: sum(y), wrt: [x])[0]
        #expect(g.scalars == y.scalars, "the gradient of dropout is its mask")
    }

    /// A recorded pass and its tape are freed when the caller lets go of the tape (tensors hold
    /// their tape weakly); a strong cycle leaked every training step's activations.
    @Test func aTapeIsFreedWithItsRecording() {
        weak var weakTape: Tape?
        var outputs: [Tensor] = []
        do {
            let tape = Tape()
            weakTape = tape
            let x = tape.watch(randomTensor([4, 8], seed: 1))
            let y = softmax(matmul(x.reshaped([1, 4, 8]), x.reshaped([1, 4, 8]), transposeB: true))
            _ = tape.gradients(of: sum(y), wrt: [x])
            outputs.append(y)     // a result kept by the caller must not keep the tape alive
        }
        #expect(weakTape == nil, "the tape (and everything its backward rules captured) leaked")
        #expect(outputs[0].requiresGradient == false)
    }

    @Test func valueSemanticsCopyOnWrite() {
        let a = Tensor(shape: [3], scalars: [1, 2, 3])
        var b = a
        b.withUnsafeMutableBufferPointer { $0[0] = 9 }
        #expect(a.scalars == [1, 2, 3])
        #expect(b.scalars == [9, 2, 3])
    }
}
