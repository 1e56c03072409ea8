import Foundation
import NLModels
import NLTensor
import NLTrain
import Testing

/// One SGD step of the reduced NL-I3D against torch.optim.SGD (Tests/Fixtures/make_fixtures.py):
/// backprop through every layer, the optimizer, and the BN running statistics.
@Suite("Training step matches PyTorch")
struct SGDStepTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    @Test func oneNesterovStepEqualsPyTorch() throws {
        let models = try SafeTensors(contentsOf: Self.fixtures.appendingPathComponent("models.safetensors").path)
        let sgd = try SafeTensors(contentsOf: Self.fixtures.appendingPathComponent("sgd_step.safetensors").path)
        let cases = try #require(try JSONSerialization.jsonObject(with: Data(models.metadata["cases"]!.utf8)) as? [[String: Any]])
        let c = try #require(cases.first { $0["name"] as? String == "nl_i3d_r50" })
        let config = try ModelConfig.parse(yaml: String(decoding: try JSONSerialization.data(withJSONObject: c["config"]!), as: UTF8.self),
                                           source: "fixture")
        let keys = c["weights"] as! [String: String]
        let specs = Architecture(config.model).parameterSpecs(config.model)
        var weights: [String: Tensor] = [:]
        for spec in specs { weights[spec.name] = spec.fromTorch(try models.tensor(keys[spec.name]!)) }
        let model = try ResNet3D(config: config, weights: weights)
        let x = try models.tensor(c["input"] as! String)

        var optimizer = SGD(momentum: 0.9, nesterov: true, weightDecay: 1e-4, weightDecayBN: 0)
        var rng = RandomSource(seed: 0)
        let step = model.trainStep(x, labels: [3, 7], optimizer: &optimizer, learningRate: 0.1, rng: &rng)

        // Against the float64 step, Swift's float32 error may be at most twice PyTorch's own
        // float32 error (+1e-4): the step is ill-conditioned, so float32 cannot do much better.
        let exactLoss = try sgd.tensor("sgd/f64/loss").item, torchLoss = try sgd.tensor("sgd/f32/loss").item
        #expect(abs(step.loss - exactLoss) <= 2 * abs(torchLoss - exactLoss) + 1e-6 * exactLoss, "loss \(step.loss) vs \(exactLoss)")
        // Gradients that are zero by construction (a bias feeding a training-mode BN, φ's bias
        // under a softmax over keys) are float noise: errors are measured against at least
        // 1e-4 of the network's largest gradient.
        let largest = try specs.filter(\.trainable).map { try sgd.tensor("sgd/f64/grad/\($0.name)").maxAbs }.max()!
        func error(_ a: Tensor, _ exact: Tensor, floor: Float = 1e-6) -> Float { a.maxAbsDifference(exact) / max(exact.maxAbs, floor) }
        for spec in specs {
            let exactAfter = spec.fromTorch(try sgd.tensor("sgd/f64/after/\(spec.name)"))
            let torchAfter = spec.fromTorch(try sgd.tensor("sgd/f32/after/\(spec.name)"))
            let ours = error(model.weights[spec.name]!, exactAfter), theirs = error(torchAfter, exactAfter)
            #expect(ours <= 2 * theirs + 1e-4, "\(spec.name) after the step: error \(ours), PyTorch float32 \(theirs)")
            guard spec.trainable else { continue }
            let exact = spec.fromTorch(try sgd.tensor("sgd/f64/grad/\(spec.name)"))
            let torch32 = spec.fromTorch(try sgd.tensor("sgd/f32/grad/\(spec.name)"))
            let gOurs = error(step.gradients[spec.name]!, exact, floor: 1e-4 * largest)
            let gTheirs = error(torch32, exact, floor: 1e-4 * largest)
            #expect(gOurs <= 2 * gTheirs + 1e-4, "\(spec.name) gradient: error \(gOurs), PyTorch float32 \(gTheirs)")
        }
    }
}
