import NLTensor
import NLTrain
import Testing

/// `train.clip_grad_norm` and `train.scale_lr`, computed by hand.
@Suite("Gradient clipping and the scales' learning rate")
struct GradientClippingTests {
    /// ‖(3, 4, 0, 12)‖ = 13: clipped to 6.5 every entry halves, as PyTorch's clip_grad_norm_
    /// (coefficient max / (norm + 1e-6)); a bound above the norm, or 0, leaves them alone.
    @Test func clipsTheGlobalNormAsPyTorch() {
        let original = ["a": Tensor(shape: [2], scalars: [3, 4]), "b": Tensor(shape: [2], scalars: [0, 12])]
        var clipped = original
        #expect(SGD.clipGradientNorm(&clipped, maxNorm: 6.5) == 13)
        let c = 6.5 / (13 + 1e-6) as Float
        #expect(clipped["a"]!.scalars == [3 * c, 4 * c])
        #expect(clipped["b"]!.scalars == [0, 12 * c])
        for bound: Float in [13.5, 0] {
            var kept = original
            #expect(SGD.clipGradientNorm(&kept, maxNorm: bound) == 13)
            #expect(kept["a"]!.scalars == [3, 4] && kept["b"]!.scalars == [0, 12])
        }
    }

    /// scale_lr reaches DANet's α and β and criss-cross's γ and nothing else (BN's γ is `.weight`).
    @Test func scaleLRNamesTheBlocksScales() throws {
        #expect(TrainConfig.isAttentionScale("s3.nl1.pam.gamma") && TrainConfig.isAttentionScale("s3.nl1.cam.gamma"))
        #expect(TrainConfig.isAttentionScale("s4.nl3.gamma"))
        #expect(!TrainConfig.isAttentionScale("s3.nl1.bn.weight") && !TrainConfig.isAttentionScale("s3.nl1.g.weight"))
    }

    /// The run store's key of a recipe with the new keys at their defaults is the one it had before them.
    @Test func newKeysAtTheirDefaultsKeepTheRunIdentity() {
        var config = TrainConfig()
        #expect(config.runIdentity.hasSuffix("bestMetric: \"top1\")"))
        config.scaleLR = 0.01
        #expect(config.runIdentity.hasSuffix("bestMetric: \"top1\", scaleLR: 0.01)"))
        config.clipGradNorm = 1
        #expect(config.runIdentity.hasSuffix("bestMetric: \"top1\", clipGradNorm: 1.0, scaleLR: 0.01)"))
        // schedule is spelt as when it was a String, as the stored runs' keys have it.
        config.schedule = .cosine
        #expect(config.runIdentity.contains(", schedule: \"cosine\", steps: "), "\(config.runIdentity)")
    }
}
