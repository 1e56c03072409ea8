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

    /// SGD.update's fused loop against torch.optim.SGD over three steps of one parameter (the
    /// momentum buffer's first step and two later ones), Nesterov with weight decay and plain
    /// momentum without (ops.safetensors, case "sgd_update").
    @Test(arguments: ["nesterov_decay", "plain_momentum"])
    func threeUpdatesEqualPyTorch(_ name: String) throws {
        let ops = try SafeTensors(contentsOf: Self.fixtures.appendingPathComponent("ops.safetensors").path)
        let cases = try #require(try JSONSerialization.jsonObject(with: Data(ops.metadata["cases"]!.utf8)) as? [[String: Any]])
        let c = try #require(cases.first { $0["name"] as? String == "sgd_update/\(name)" })
        let params = try #require(c["params"] as? [String: Any])
        var optimizer = SGD(momentum: 0.9, nesterov: params["nesterov"] as! Bool,
                            weightDecay: Float(params["weight_decay"] as! Double), weightDecayBN: 0)
        var w = try ops.tensor("sgd_update/\(name)/w")
        let grads = try ops.tensor("sgd_update/\(name)/g")
        let (steps, size) = (grads.shape[0], grads.count / grads.shape[0])
        for step in 0..<steps {
            let g = Tensor(shape: w.shape, scalars: Array(grads.scalars[(step * size)..<((step + 1) * size)]))
            w = optimizer.update("res2.conv.weight", weight: w, gradient: g, learningRate: 0.1)
        }
        let expected = try ops.tensor("sgd_update/\(name)/w_after")
        #expect(w.maxAbsDifference(expected) <= 1e-6 * max(expected.maxAbs, 1), "\(name): off by \(w.maxAbsDifference(expected))")
    }

    /// With frozen BN the step is well conditioned: every gradient and updated weight to 1e-4.
    @Test func oneStepWithFrozenBNEqualsPyTorch() throws {
        let (model, x, sgd, specs) = try Self.setUp(frozen: true)
        var optimizer = SGD(momentum: 0.9, nesterov: true, weightDecay: 1e-4, weightDecayBN: 0)
        var rng = RandomSource(seed: 0)
        let step = model.trainStep(x, labels: [3, 7], optimizer: &optimizer, learningRate: 0.1, rng: &rng)
        let exactLoss = try sgd.tensor("sgd/frozen/loss").item
        #expect(abs(step.loss - exactLoss) <= 1e-5 * exactLoss)
        let largest = try specs.filter(\.trainable).map { try sgd.tensor("sgd/frozen/grad/\($0.name)").maxAbs }.max()!
        for spec in specs {
            let after = spec.fromTorch(try sgd.tensor("sgd/frozen/after/\(spec.name)"))
            #expect(model.weights[spec.name]!.maxAbsDifference(after) <= 1e-5 * max(after.maxAbs, 1e-3), "\(spec.name) after the step")
            guard spec.trainable else { continue }
            let exact = spec.fromTorch(try sgd.tensor("sgd/frozen/grad/\(spec.name)"))
            let error = step.gradients[spec.name]!.maxAbsDifference(exact) / max(exact.maxAbs, 1e-4 * largest)
            #expect(error <= 1e-4, "\(spec.name) gradient: relative error \(error)")
        }
    }

    static func setUp(frozen: Bool) throws -> (ResNet3D, Tensor, SafeTensors, [ParameterSpec]) {
        let models = try SafeTensors(contentsOf: fixtures.appendingPathComponent("models.safetensors").path)
        let sgd = try SafeTensors(contentsOf: fixtures.appendingPathComponent("sgd_step.safetensors").path)
        let cases = try #require(try JSONSerialization.jsonObject(with: Data(models.metadata["cases"]!.utf8)) as? [[String: Any]])
        let c = try #require(cases.first { $0["name"] as? String == "nl_i3d_r50" })
        var config = try ModelConfig.parse(yaml: String(decoding: try JSONSerialization.data(withJSONObject: c["config"]!), as: UTF8.self),
                                           source: "fixture")
        config.model.batchNorm.frozen = frozen
        let keys = c["weights"] as! [String: String]
        let specs = Architecture(config.model).parameterSpecs(config.model)
        var weights: [String: Tensor] = [:]
        for spec in specs { weights[spec.name] = spec.fromTorch(try models.tensor(keys[spec.name]!)) }
        return (try ResNet3D(config: config, weights: weights), try models.tensor(c["input"] as! String), sgd, specs)
    }

    /// Training-mode BN: the loss and running statistics tightly. The gradients of this step are
    /// chaotic in float32 (PyTorch's own float32 gradients differ from float64 by ~1–10%, and
    /// the amplification magnifies any rounding difference, e.g. between BLAS kernels), so only
    /// the median error over all tensors is bounded: 5× PyTorch's + 1e-3. The frozen-BN test
    /// above is the tight check of backprop; BN's batch-statistics backward is checked tightly
    /// op by op and by finite differences.
    @Test func oneNesterovStepEqualsPyTorch() throws {
        let (model, x, sgd, specs) = try Self.setUp(frozen: false)
        var optimizer = SGD(momentum: 0.9, nesterov: true, weightDecay: 1e-4, weightDecayBN: 0)
        var rng = RandomSource(seed: 0)
        let step = model.trainStep(x, labels: [3, 7], optimizer: &optimizer, learningRate: 0.1, rng: &rng)

        // Errors are measured against the float64 step, beside PyTorch's own float32 errors.
        let exactLoss = try sgd.tensor("sgd/f64/loss").item, torchLoss = try sgd.tensor("sgd/f32/loss").item
        #expect(abs(step.loss - exactLoss) <= 2 * abs(torchLoss - exactLoss) + 2e-5 * exactLoss, "loss \(step.loss) vs \(exactLoss)")
        // Gradients that are zero by construction (a bias feeding a training-mode BN, φ's bias
        // under a softmax over keys) are float noise: errors are measured against at least
        // 1e-4 of the network's largest gradient.
        let largest = try specs.filter(\.trainable).map { try sgd.tensor("sgd/f64/grad/\($0.name)").maxAbs }.max()!
        func error(_ a: Tensor, _ exact: Tensor, floor: Float = 1e-6) -> Float { a.maxAbsDifference(exact) / max(exact.maxAbs, floor) }
        var ours: [Float] = [], theirs: [Float] = []
        for spec in specs {
            let exactAfter = spec.fromTorch(try sgd.tensor("sgd/f64/after/\(spec.name)"))
            if !spec.trainable {
                // Running statistics come from the forward pass, which is well conditioned.
                #expect(error(model.weights[spec.name]!, exactAfter) <= 1e-4, "\(spec.name) after the step")
                continue
            }
            let exact = spec.fromTorch(try sgd.tensor("sgd/f64/grad/\(spec.name)"))
            let torch32 = spec.fromTorch(try sgd.tensor("sgd/f32/grad/\(spec.name)"))
            ours.append(error(step.gradients[spec.name]!, exact, floor: 1e-4 * largest))
            theirs.append(error(torch32, exact, floor: 1e-4 * largest))
            let torchAfter = spec.fromTorch(try sgd.tensor("sgd/f32/after/\(spec.name)"))
            ours.append(error(model.weights[spec.name]!, exactAfter))
            theirs.append(error(torchAfter, exactAfter))
        }
        let median = { (v: [Float]) in v.sorted()[v.count / 2] }
        #expect(median(ours) <= 5 * median(theirs) + 1e-3, "median error \(median(ours)), PyTorch float32 \(median(theirs))")
        #expect(ours.max()! <= 0.5, "a gradient or weight is off by \(ours.max()!)")
    }
}
