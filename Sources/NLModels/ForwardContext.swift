import Foundation
import NLTensor

/// How one forward pass runs.
public struct ForwardOptions {
    /// Batch statistics in BN (unless frozen), dropout on.
    public var training = false
    /// Inference fast path: BN folded into the conv, bias/residual/ReLU fused after each GEMM,
    /// the non-local block's embeddings in one GEMM. Ignored in training or when gradients
    /// are wanted.
    public var fused = true
    /// Called with each non-local block's prefix and its pairwise weights P [B', N, M]
    /// (what a query attends to).
    public var attention: ((String, Tensor) -> Void)?
    /// Called with each non-local block's prefix and its input x [N, T, H, W, C].
    public var nonlocalInput: ((String, Tensor) -> Void)?
    /// BN running-average momentum for this pass instead of the config's (precise BN uses 1/(k+1)).
    public var batchNormMomentum: Float?
    /// Called with each layer's name (as in `ModelSummary`) and its wall time in seconds.
    public var timer: ((String, Double) -> Void)?
    /// The convolutions' number format on the fused inference path; nil: the model's
    /// (`ResNet3D.usePrecision`). Training and unfused passes are fp32.
    public var precision: Precision?

    /// Options for an inference pass (fused fast path) or, with `training`, a training pass.
    public init(training: Bool = false, fused: Bool = true) {
        self.training = training
        self.fused = fused
    }
}

/// The state of one forward pass: the weights it reads (tape-watched ones when training),
/// the BN statistics it updates, its random numbers.
struct ForwardContext {
    /// Runs `body` as layer `name`, timed when the options ask for it.
    mutating func layer<T>(_ name: String, _ body: (inout ForwardContext) -> T) -> T {
        guard let timer = options.timer else { return body(&self) }
        let start = DispatchTime.now().uptimeNanoseconds
        let result = body(&self)
        timer(name, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        return result
    }

    let model: ResNet3D
    var weights: [String: Tensor]
    var statistics: [String: BatchNormStatistics] = [:]
    var options: ForwardOptions
    var rng: RandomSource
    let fused: Bool

    init(model: ResNet3D, weights: [String: Tensor], options: ForwardOptions, rng: RandomSource) {
        self.model = model
        self.weights = weights
        self.options = options
        self.rng = rng
        fused = options.fused && !options.training && !weights.values.contains { $0.requiresGradient }
    }

    func weight(_ name: String) -> Tensor {
        guard let w = weights[name] else { fatalError("model has no tensor '\(name)'") }
        return w
    }

    var bnConfig: BatchNormConfig { model.config.model.batchNorm }

    /// The biased linear layer `name` (weights `name.weight` [In, Out], `name.bias` [Out]) on x's last axis.
    func dense(_ x: Tensor, _ name: String) -> Tensor {
        linear(x, weight: weight("\(name).weight"), bias: weight("\(name).bias"))
    }

    /// relu?(BN(conv(x) + bias) + residual) — the unit every layer is built from.
    /// Shapes: x [N, T, H, W, c.cin] → [N, T', H', W', c.cout].
    mutating func convBN(_ x: Tensor, _ c: ConvSpec, bn: String?, hasBias: Bool = false,
                         residual: Tensor? = nil, relu applyReLU: Bool = false) -> Tensor {
        if fused {
            let f = fusedConv(c, bn: bn, hasBias: hasBias)
            return conv3dFused(x, weight: f.weight, bias: f.bias, stride: c.stride, padding: c.padding,
                               residual: residual, relu: applyReLU, packed: f.packed)
        }
        var y = conv3d(x, weight: weight(c.name + ".weight"), bias: hasBias ? weight(c.name + ".bias") : nil,
                       stride: c.stride, padding: c.padding)
        if let bn { return normalize(y, bn, residual: residual, relu: applyReLU) }
        if let residual { y = y + residual }
        return applyReLU ? relu(y) : y
    }

    /// As convBN with a residual, where the fused path may write the output over `residual`'s
    /// storage (when nothing else holds it); `residual` must not be used afterwards.
    mutating func convBN(_ x: Tensor, _ c: ConvSpec, bn: String?, hasBias: Bool = false, accumulatingInto residual: inout Tensor,
                         relu applyReLU: Bool) -> Tensor {
        guard fused else { return convBN(x, c, bn: bn, hasBias: hasBias, residual: residual, relu: applyReLU) }
        let f = fusedConv(c, bn: bn, hasBias: hasBias)
        return conv3dFused(x, weight: f.weight, bias: f.bias, stride: c.stride, padding: c.padding,
                           accumulatingInto: &residual, relu: applyReLU, packed: f.packed)
    }

    /// Conv `c` with BN `bn` folded in, and its weight packed for this pass's precision where
    /// the own GEMM runs it (both cached in the model).
    func fusedConv(_ c: ConvSpec, bn: String?, hasBias: Bool) -> (weight: Tensor, bias: Tensor, packed: PackedConvWeight?) {
        let f = model.foldedConv(c.name, bn: bn, hasBias: hasBias)
        return (f.weight, f.bias, model.packedConv(c.name, f.weight, stride: c.stride, padding: c.padding,
                                                   precision: options.precision ?? model.precision))
    }

    /// relu?(batch norm `prefix` of x + residual) in this pass's mode; training updates the
    /// running statistics.
    mutating func normalize(_ x: Tensor, _ prefix: String, residual: Tensor? = nil, relu: Bool = false) -> Tensor {
        var stats = statistics[prefix] ?? BatchNormStatistics(
            mean: weight(prefix + ".running_mean").detached, variance: weight(prefix + ".running_var").detached)
        let y = NLTensor.batchNorm(x, scale: weight(prefix + ".weight"), shift: weight(prefix + ".bias"), statistics: &stats,
                          training: options.training && !bnConfig.frozen, momentum: options.batchNormMomentum ?? bnConfig.momentum,
                          epsilon: bnConfig.epsilon, residual: residual, relu: relu)
        if options.training && !bnConfig.frozen { statistics[prefix] = stats }
        return y
    }

    /// Several biased 1×1×1 convs of the same input (θ, φ, g), conv i scaled by scales[i]
    /// (default 1): one GEMM on their concatenated weights when fused, the scales folded into
    /// the weights and a single conv's output returned as it is (no slice, no scaling pass).
    /// Returns one [N, T, H, W, cout_i] per name.
    func pointwise(_ x: Tensor, _ names: [String], scales: [Float]? = nil) -> [Tensor] {
        let scales = scales ?? names.map { _ in 1 }
        if fused {
            let f = model.concatenatedPointwise(names, scales: scales)
            let all = conv3dFused(x, weight: f.weight, bias: f.bias,
                                  packed: model.packedConv(f.key, f.weight, stride: [1, 1, 1], padding: [0, 0, 0],
                                                           precision: options.precision ?? model.precision))
            if names.count == 1 { return [all] }
            var start = 0
            return f.widths.map { width in
                defer { start += width }
                return all.slice(axis: 4, range: start..<(start + width))
            }
        }
        return zip(names, scales).map { name, scale in
            let y = conv3d(x, weight: weight(name + ".weight"), bias: weight(name + ".bias"))
            return scale == 1 ? y : y * scale
        }
    }
}
