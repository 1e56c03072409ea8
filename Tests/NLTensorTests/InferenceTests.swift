import NLTensor
import Testing

@Suite("Inference helpers")
struct InferenceTests {
    /// conv → BN(eval) equals the folded conv, on PyTorch's conv case and random BN statistics.
    @Test func foldedBatchNormEqualsConvThenBatchNorm() {
        let f = OpFixtures.shared
        for c in OpFixtures.cases("conv3d") {
            let x = f.tensor(c, "x"), w = convWeight(fromPyTorch: f.tensor(c, "w")), b = f.optional(c, "b")
            let channels = w.shape[4]
            let gamma = randomTensor([channels], seed: 1), beta = randomTensor([channels], seed: 2)
            var stats = BatchNormStatistics(mean: randomTensor([channels], seed: 3),
                                            variance: randomTensor([channels], seed: 4) * 0.4 + Tensor(shape: [], scalars: [0.6]))
            let reference = batchNorm(conv3d(x, weight: w, bias: b, stride: c.params.stride!, padding: c.params.padding!,
                                             dilation: c.params.dilation!),
                                      scale: gamma, shift: beta, statistics: &stats, training: false)
            let folded = foldBatchNorm(weight: w, bias: b, scale: gamma, shift: beta, statistics: stats)
            let fused = conv3dFused(x, weight: folded.weight, bias: folded.bias, stride: c.params.stride!,
                                    padding: c.params.padding!, dilation: c.params.dilation!)
            expectClose(fused, reference, Tolerance.forward, "\(c.name) folded")
        }
    }
}
