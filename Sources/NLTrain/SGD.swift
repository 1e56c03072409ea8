import NLModels
import NLTensor

/// Stochastic gradient descent as the official recipe uses it (docs/protocol.md#training): momentum 0.9,
/// Nesterov, weight decay 1e-4 and none on BN parameters. The update follows PyTorch's SGD:
/// d = g + λw; b = μb + d (b = d at the first step); d = d + μb (Nesterov) or b; w −= lr·d.
public struct SGD: Sendable {
    /// Momentum μ (0.9).
    public var momentum: Float = 0.9
    /// Nesterov momentum (the official code's; PyTorch's formulation).
    public var nesterov = true
    /// L2 weight decay λ of every parameter but BN's γ and β (1e-4).
    public var weightDecay: Float = 1e-4
    /// Weight decay on BN scale and shift (the official WEIGHT_DECAY_BN: 0).
    public var weightDecayBN: Float = 0
    /// Momentum buffers by parameter name (this project's layouts).
    public var velocity: [String: Tensor] = [:]

    /// An optimizer with empty momentum buffers (the official settings by default).
    public init(momentum: Float = 0.9, nesterov: Bool = true, weightDecay: Float = 1e-4, weightDecayBN: Float = 0) {
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        self.weightDecayBN = weightDecayBN
    }

    /// True for BN scale/shift parameters (SlowFast names: `…_bn.weight`, `….bn.bias`).
    public static func isBatchNorm(_ name: String) -> Bool { name.contains("bn.") }

    /// The updated value of parameter `name`: one pass over w, g and the momentum buffer (kept
    /// in place), in the order of operations of the formula above, so each step rounds as
    /// PyTorch's separate ops do.
    public mutating func update(_ name: String, weight w: Tensor, gradient g: Tensor, learningRate lr: Float) -> Tensor {
        require(w.shape == g.shape, "SGD: '\(name)' has shape \(w.shape) but its gradient \(g.shape)")
        let decay = SGD.isBatchNorm(name) ? weightDecayBN : weightDecay
        let (mu, nesterov) = (momentum, self.nesterov)
        let previous = momentum != 0 ? velocity.removeValue(forKey: name) : nil
        require(previous.map { $0.shape == w.shape } ?? true,
                "SGD: '\(name)' has shape \(w.shape) but its momentum buffer \(previous?.shape ?? [])")
        // A fresh buffer of zeros makes the first step's μ·b + d equal d, as PyTorch's b = d.
        var buffer = previous ?? Tensor(zeros: momentum != 0 ? w.shape : [0])
        var updated = Tensor(uninitialized: w.shape)
        let count = updated.count
        w.withUnsafeBufferPointer { pw in
            g.withUnsafeBufferPointer { pg in
                buffer.withUnsafeMutableBufferPointer { pb in
                    updated.withUnsafeMutableBufferPointer { pu in
                        guard let pu = pu.baseAddress, let pw = pw.baseAddress, let pg = pg.baseAddress else { return }
                        let (w, g, u) = (SharedPointer(UnsafeMutablePointer(mutating: pw)), SharedPointer(UnsafeMutablePointer(mutating: pg)),
                                         SharedPointer(pu))
                        let b = pb.baseAddress.map(SharedPointer.init)
                        Parallel.forEach(count, grain: 1 << 14) { range in
                            // Raw pointers, and selects in place of branches, so that the loops
                            // vectorise (SharedPointer's generic subscript is a call from here).
                            let (w, g, u) = (w.base, g.base, u.base)
                            guard let b = b?.base else {
                                for i in range {
                                    let d = decay != 0 ? g[i] + w[i] * decay : g[i]
                                    u[i] = w[i] + d * (-lr)
                                }
                                return
                            }
                            for i in range {
                                let d = decay != 0 ? g[i] + w[i] * decay : g[i]
                                let v = b[i] * mu + d
                                b[i] = v
                                u[i] = w[i] + (nesterov ? d + v * mu : v) * (-lr)
                            }
                        }
                    }
                }
            }
        }
        if momentum != 0 { velocity[name] = buffer }
        return updated
    }
}

extension SGD {
    /// Global L2 gradient-norm clipping as PyTorch's `clip_grad_norm_`: the norm of all the
    /// gradients together, ‖g‖ = √Σ g²; when it exceeds `maxNorm`, every gradient is multiplied by
    /// maxNorm / (‖g‖ + 1e-6). Returns the norm before clipping; `maxNorm` 0 leaves them as they are.
    @discardableResult
    public static func clipGradientNorm(_ gradients: inout [String: Tensor], maxNorm: Float) -> Float {
        var sum: Double = 0
        for g in gradients.values { for v in g.scalars { sum += Double(v) * Double(v) } }
        let norm = Float(sum.squareRoot())
        let coefficient = maxNorm / (norm + 1e-6)
        if maxNorm > 0, coefficient < 1 {
            for (name, g) in gradients { gradients[name] = g * coefficient }
        }
        return norm
    }
}

/// What one forward/backward pass on a batch produced.
public struct TrainingStep {
    /// Mean softmax cross-entropy over the batch.
    public let loss: Float
    /// The head's output before the softmax, [N, classes].
    public let logits: Tensor
    /// argmax of each clip's logits
    public let predictions: [Int]
    /// Gradients by parameter name (this project's layouts).
    public let gradients: [String: Tensor]
}

extension ResNet3D {
    /// Forward in training mode on a tape, cross-entropy, gradients of every trainable tensor
    /// not `frozen`; the BN running statistics the pass computed are written back to the model
    /// (a frozen BN's are kept).
    public func gradients(_ x: Tensor, labels: [Int], rng: inout RandomSource,
                          frozen: (String) -> Bool = { _ in false }) -> TrainingStep {
        let tape = Tape()
        var watched = weights
        let trainable = specs.filter { $0.trainable && !frozen($0.name) }.map(\.name)
        for name in trainable { watched[name] = tape.watch(weights[name]!) }
        var statistics: [String: BatchNormStatistics] = [:]
        let logits = trainingLogits(x, weights: watched, statistics: &statistics, rng: &rng)
        let loss = softmaxCrossEntropy(logits, labels: labels)
        let grads = tape.gradients(of: loss, wrt: trainable.map { watched[$0]! })
        if !statistics.isEmpty {
            var updated = weights
            for (prefix, s) in statistics where !frozen(prefix) {
                updated[prefix + ".running_mean"] = s.mean
                updated[prefix + ".running_var"] = s.variance
            }
            try! replaceWeights(updated)
        }
        let k = logits.shape[1]
        let values = logits.scalars
        let predictions = (0..<logits.shape[0]).map { i in (0..<k).max { values[i * k + $0] < values[i * k + $1] }! }
        return TrainingStep(loss: loss.item, logits: logits.detached, predictions: predictions,
                            gradients: Dictionary(uniqueKeysWithValues: zip(trainable, grads)))
    }

    /// Precise BN (the official recipe, docs/protocol.md#training): every BN's running statistics become the
    /// average of the batch statistics over `batches` (momentum 1/(k+1) for batch k), with the
    /// current weights. Trained parameters are untouched.
    public func preciseBatchNorm(_ batches: [Tensor], rng: inout RandomSource) {
        for (k, x) in batches.enumerated() {
            var statistics: [String: BatchNormStatistics] = [:]
            _ = trainingLogits(x, weights: weights, statistics: &statistics, rng: &rng, batchNormMomentum: 1 / Float(k + 1))
            var updated = weights
            for (prefix, s) in statistics {
                updated[prefix + ".running_mean"] = s.mean
                updated[prefix + ".running_var"] = s.variance
            }
            try! replaceWeights(updated)
        }
    }

    /// One SGD update of every parameter that has a gradient.
    public func apply(_ gradients: [String: Tensor], optimizer: inout SGD, learningRate: Float) {
        apply(gradients, optimizer: &optimizer) { _ in learningRate }
    }

    /// One SGD update, each parameter at its own learning rate (a backbone slower than a new head).
    public func apply(_ gradients: [String: Tensor], optimizer: inout SGD, learningRate: (String) -> Float) {
        var updated = weights
        for (name, g) in gradients { updated[name] = optimizer.update(name, weight: weights[name]!, gradient: g, learningRate: learningRate(name)) }
        try! replaceWeights(updated)
    }

    /// gradients + apply: one optimisation step on one batch.
    @discardableResult
    public func trainStep(_ x: Tensor, labels: [Int], optimizer: inout SGD, learningRate: Float,
                          rng: inout RandomSource) -> TrainingStep {
        let step = gradients(x, labels: labels, rng: &rng)
        apply(step.gradients, optimizer: &optimizer, learningRate: learningRate)
        return step
    }
}
