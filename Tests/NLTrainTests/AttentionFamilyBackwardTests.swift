import Foundation
import NLModels
import NLTensor
import NLTrain
import Testing

/// The family's blocks train: the gradient of the loss through a whole network (training-mode
/// BN, blocks in res3 and res4) equals central finite differences for the blocks' own weights.
@Suite("Attention-family blocks: backward through the network")
struct AttentionFamilyBackwardTests {
    @Test(arguments: ["se", "gc", "cbam", "danet", "cc", "apnb", "residual_attention"])
    func blockWeightGradientsMatchFiniteDifferences(_ type: String) throws {
        let yaml = """
        model: {arch: c2d, width: 4, classes: 3, dropout: 0, train_crop: 32, nonlocal: {type: \(type), reduction: 4, blocks: {res3: [1], res4: [1]}}}
        input: {frames: 4, stride: 2, short_side: 32, crop: 32}
        """
        let model = ResNet3D(config: try ModelConfig.parse(yaml: yaml, source: type), seed: 3)
        // The last layer (W₂, γ, W_o, the mask conv) starts at 0 (the block adds nothing, or gates
        // by 1/2): move every zero-initialised weight so every weight matters.
        var rng = RandomSource(seed: 8)
        for spec in model.specs where spec.name.contains("pathway0_\(type)") && spec.trainable && spec.initializer == .constant(0)
            && !spec.name.hasSuffix(".bias") {
            model.setWeight(spec.name, Tensor(shape: spec.shape, scalars: (0..<spec.shape.reduce(1, *)).map { _ in 0.3 * rng.nextGaussian() }))
        }
        var inputRNG = RandomSource(seed: 9)
        let x = Tensor(shape: [2, 4, 32, 32, 3], scalars: (0..<(2 * 4 * 32 * 32 * 3)).map { _ in inputRNG.nextGaussian() })
        let labels = [0, 2]
        func loss(_ weights: [String: Tensor]) -> Double {
            var stats: [String: BatchNormStatistics] = [:]
            var r = RandomSource(seed: 1)
            let logits = model.trainingLogits(x, weights: weights, statistics: &stats, rng: &r)
            return Double(softmaxCrossEntropy(logits, labels: labels).item)
        }
        let base = model.weights
        var r = RandomSource(seed: 1)
        let analytic = model.gradients(x, labels: labels, rng: &r).gradients
        try model.replaceWeights(base)   // gradients() wrote BN running statistics back
        let names = model.specs.filter(\.trainable).map(\.name)
            .filter { $0.contains("pathway0_\(type)") && !$0.hasSuffix(".bias") || $0.hasSuffix("fc2.bias") }
        #expect(!names.isEmpty)
        var probe = RandomSource(seed: 4)
        for name in names {
            let w = base[name]!
            for _ in 0..<3 {
                let i = Int(probe.next() % UInt64(w.count))
                // A one-element scale (DANet's α, β; CCNet's γ) moves every position of the
                // block's output at once, so a step of 1e-3 already crosses many ReLU and max-pool
                // kinks downstream: measured, the difference quotient converges to the analytic
                // value only below ~1e-3 (e.g. 0.0025, 0.0023, 0.0022, 0.0020, 0.0014 at steps 3e-2
                // … 3e-4 against 0.0015). Those take 3e-4 and 5%; weight matrices 1e-3 and 3%.
                let scale = w.count == 1
                let h: Float = scale ? 3e-4 : 1e-3
                var plus = base, minus = base
                var wp = w.copied, wm = w.copied
                wp.withUnsafeMutableBufferPointer { $0[i] += h }
                wm.withUnsafeMutableBufferPointer { $0[i] -= h }
                plus[name] = wp; minus[name] = wm
                let numeric = Float((loss(plus) - loss(minus)) / Double(2 * h))
                let a = analytic[name]!.scalars[i]
                #expect(abs(numeric - a) <= (scale ? 5e-2 : 3e-2) * max(1e-2, abs(numeric)) + (scale ? 3e-4 : 2e-4),
                        "\(name)[\(i)]: analytic \(a), numeric \(numeric)")
            }
        }
    }
}

/// Configs/attention/<type>_c2d_r50.yaml: the family's presets load, place their blocks in the
/// five non-local places, and run (at width 8, random weights) with the right parameter names.
@Suite("Attention-family presets")
struct AttentionFamilyPresetTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test(arguments: ["se", "gc", "cbam", "danet", "cc", "apnb", "residual_attention"])
    func presetLoadsAndRuns(_ type: String) throws {
        let path = Self.root.appendingPathComponent("Configs/attention/\(type)_c2d_r50.yaml").path
        let config = try ModelConfig.load(path: path, overrides: ["model.width=8", "model.classes=5"])
        #expect(config.model.nonlocal.type.rawValue == type)
        let model = ResNet3D(config: config, seed: 0)
        let blocks = Set(model.specs.map(\.name).filter { $0.contains("pathway0_\(type)") }.map { $0.split(separator: ".")[0...1].joined(separator: ".") })
        #expect(blocks.count == 5, "\(blocks.sorted())")
        var rng = RandomSource(seed: 2)
        let x = Tensor(shape: [1, 8, 64, 64, 3], scalars: (0..<(8 * 64 * 64 * 3)).map { _ in rng.nextGaussian() })
        let p = model.predict(x).probabilities.scalars
        #expect(p.count == 5 && abs(p.reduce(0, +) - 1) < 1e-4)
    }
}
