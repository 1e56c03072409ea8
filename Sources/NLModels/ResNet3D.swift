import Foundation
import NLTensor

/// The video classifier's output under the official test protocol (docs/architecture.md#head-and-pooling).
public struct Prediction: Sendable {
    /// [N, classes]: softmax per window of the fully convolutional head, averaged.
    public let probabilities: Tensor
    /// [N, t, h, w, classes]: the logits of each head window.
    public let windowLogits: Tensor
}

/// C2D / I3D ResNet-50/101 with non-local blocks (docs/architecture.md, docs/nonlocal-block.md), channels-last.
/// Input [N, T, H, W, 3], normalised as the config's `input.normalization` says.
public final class ResNet3D: @unchecked Sendable {
    /// The preset the network was built from (also stored in its model files).
    public let config: ModelConfig
    /// The layer geometry `config.model` describes: stem, pools, stages, non-local slots, head.
    public let architecture: Architecture
    /// Every tensor's name, shape and initialiser, in forward order.
    public let specs: [ParameterSpec]
    /// This project's layouts (conv [kT, kH, kW, I, O], linear [In, Out]).
    public private(set) var weights: [String: Tensor]

    /// The number format of inference convolutions (fp32 unless `usePrecision` says otherwise).
    public private(set) var precision = Precision.fp32

    private let cacheLock = NSLock()
    private var foldedCache: [String: (weight: Tensor, bias: Tensor)] = [:]
    private var pointwiseCache: [String: (weight: Tensor, bias: Tensor, widths: [Int])] = [:]
    private var packedCache: [String: PackedConvWeight] = [:]

    /// A freshly initialised model, as the official code initialises one.
    public init(config: ModelConfig, seed: UInt64 = 0) {
        self.config = config
        architecture = Architecture(config.model)
        specs = architecture.parameterSpecs(config.model)
        var rng = RandomSource(seed: seed)
        var weights: [String: Tensor] = [:]
        for spec in specs { weights[spec.name] = spec.initialized(using: &rng) }
        self.weights = weights
    }

    /// A model with the given weights (this project's layouts), each checked by name and shape.
    public convenience init(config: ModelConfig, weights: [String: Tensor]) throws {
        self.init(config: config, seed: 0)
        try replaceWeights(weights)
    }

    /// Replaces all weights; a missing, unexpected or mis-shaped tensor is an error naming it.
    public func replaceWeights(_ new: [String: Tensor]) throws {
        let expected = Set(specs.map(\.name))
        if let missing = specs.first(where: { new[$0.name] == nil }) {
            let count = specs.filter { new[$0.name] == nil }.count
            throw ModelError("missing tensor '\(missing.name)' (shape \(missing.torchShape))\(count > 1 ? " and \(count - 1) more" : "")")
        }
        if let extra = new.keys.sorted().first(where: { !expected.contains($0) }) {
            throw ModelError("unexpected tensor '\(extra)' (shape \(new[extra]!.shape)); the config has no such layer")
        }
        for spec in specs where new[spec.name]!.shape != spec.shape {
            throw ModelError("tensor '\(spec.name)' has shape \(new[spec.name]!.shape), the config needs \(spec.shape)")
        }
        weights = new.mapValues(\.detached)
        invalidateCaches()
    }

    /// Sets one tensor (same shape), e.g. after an optimiser step or a BN statistics update.
    public func setWeight(_ name: String, _ value: Tensor) {
        require(weights[name]?.shape == value.shape,
                "setWeight: '\(name)' has shape \(weights[name]?.shape ?? []), got \(value.shape)")
        weights[name] = value.detached
        invalidateCaches()
    }

    /// Runs inference convolutions in `precision` from now on (their weights are packed in it
    /// once, on first use). Throws, naming the reason, where this CPU cannot (bf16 without
    /// AVX512_BF16).
    public func usePrecision(_ precision: Precision) throws {
        if let reason = precision.unsupportedReason { throw ModelError(reason) }
        self.precision = precision
    }

    private func invalidateCaches() {
        cacheLock.lock(); defer { cacheLock.unlock() }
        foldedCache = [:]
        pointwiseCache = [:]
        packedCache = [:]
    }

    // MARK: Forward

    /// The stage names `features(_:through:)` accepts, in order: "res2" … "res5".
    public var stageNames: [String] { architecture.stages.map(\.name) }

    /// Features after stage `stage` (default the last: what the head sees), global-average-pooled
    /// over time and space, [N, C]: descriptors for retrieval or a linear probe. Inference mode.
    public func pooledFeatures(_ x: Tensor, through stage: String? = nil) -> Tensor {
        var ctx = ForwardContext(model: self, weights: weights, options: ForwardOptions(), rng: RandomSource(seed: 0))
        let h = features(x, &ctx, through: stage)                                       // [N, T', H', W', C]
        return globalAvgPool3d(h).reshaped([x.shape[0], h.shape[4]])
    }

    /// The features of res5 (or of stage `through`), [N, T', H', W', C], and the context that
    /// computed them.
    func features(_ x: Tensor, _ ctx: inout ForwardContext, through last: String? = nil) -> Tensor {
        require(x.rank == 5 && x.shape[4] == 3, "ResNet3D: input must be [N, T, H, W, 3], got \(x.shape)")
        let a = architecture
        var h = ctx.layer("conv1") { $0.convBN(x, a.stem, bn: a.stem.bn, relu: true) }   // [N, T, H/2, W/2, w]
        h = ctx.layer("pool1") { _ in maxPool3d(h, kernel: a.pool1.kernel, stride: a.pool1.stride, padding: a.pool1.padding) }
        for (s, stage) in a.stages.enumerated() {
            for block in stage.blocks {
                let index = block.prefix.split(separator: "_").last!
                h = ctx.layer("\(stage.name)_\(index)") { $0.bottleneck(taking: &h, block) }
                if let nl = block.nonlocal {
                    let type = config.model.nonlocal.type
                    h = ctx.layer("\(stage.name)_\(type.prefix(Int(index.dropFirst(3))!))") { ctx in
                        switch type {
                        case .nonlocal: ctx.nonLocal(taking: &h, nl)
                        case .se: ctx.squeezeExcitation(h, nl)
                        case .gc: ctx.globalContext(h, nl)
                        case .cbam: ctx.convolutionalBlockAttention(h, nl)
                        case .danet: ctx.dualAttention(h, nl)
                        case .cc: ctx.crissCrossAttention(h, nl)
                        case .apnb: ctx.asymmetricPyramidNonLocal(h, nl)
                        case .residualAttention: ctx.residualAttention(h, nl)
                        }
                    }
                }
            }
            if stage.name == last { return h }
            if s == 0 { h = ctx.layer("pool2") { _ in maxPool3d(h, kernel: a.pool2.kernel, stride: a.pool2.stride, padding: a.pool2.padding) } }
        }
        return h
    }

    /// Random numbers one clip's training forward pass draws (dropout on its pooled features),
    /// so a data-parallel rank can skip the draws of the micro-batches before its own.
    public var dropoutDrawsPerClip: Int { config.model.dropout > 0 ? architecture.features : 0 }

    /// Logits [N, classes] from a global average pool of res5 (the training head), with the
    /// BN statistics the pass computed and the generator after dropout.
    private func globalPoolLogits(_ x: Tensor, options: ForwardOptions, weights: [String: Tensor],
                                  rng: RandomSource) -> (logits: Tensor, statistics: [String: BatchNormStatistics], rng: RandomSource) {
        var ctx = ForwardContext(model: self, weights: weights, options: options, rng: rng)
        let h = features(x, &ctx)                                                         // [N, T', H', W', C]
        var pooled = globalAvgPool3d(h).reshaped([x.shape[0], architecture.features])     // [N, C]
        if options.training && config.model.dropout > 0 {
            pooled = dropout(pooled, probability: config.model.dropout, using: &ctx.rng)
        }
        let logits = linear(pooled, weight: ctx.weight(Architecture.head + ".weight"), bias: ctx.weight(Architecture.head + ".bias"))
        return (logits, ctx.statistics, ctx.rng)
    }

    /// Inference logits, [N, classes] (global pool head, no dropout). `fused: false` runs the
    /// plain ops (the reference the fast path is tested against).
    public func logits(_ x: Tensor, fused: Bool = true) -> Tensor {
        globalPoolLogits(x, options: ForwardOptions(training: false, fused: fused), weights: weights, rng: RandomSource(seed: 0)).logits
    }

    /// Training-mode logits [N, classes]: BN on batch statistics (unless frozen), dropout.
    /// `weights` are the model's tensors as the optimiser sees them (tape-watched);
    /// `statistics` receives each BN's updated running statistics.
    public func trainingLogits(_ x: Tensor, weights: [String: Tensor], statistics: inout [String: BatchNormStatistics],
                               rng: inout RandomSource, batchNormMomentum: Float? = nil) -> Tensor {
        var options = ForwardOptions(training: true, fused: false)
        options.batchNormMomentum = batchNormMomentum
        let r = globalPoolLogits(x, options: options, weights: weights, rng: rng)
        statistics = r.statistics
        rng = r.rng
        return r.logits
    }

    /// The official test head (docs/architecture.md#head-and-pooling): the classifier applied to every [T', 7, 7] window
    /// of res5 (stride 1), softmax per window, mean over windows.
    public func predict(_ x: Tensor, options: ForwardOptions = ForwardOptions()) -> Prediction {
        var ctx = ForwardContext(model: self, weights: weights, options: options, rng: RandomSource(seed: 0))
        let h = features(x, &ctx)                                                        // [N, T', H', W', C]
        let start = DispatchTime.now().uptimeNanoseconds
        defer { options.timer?("head", Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        let window = [h.shape[1], min(architecture.headWindow, h.shape[2]), min(architecture.headWindow, h.shape[3])]
        let pooled = avgPool3d(h, kernel: window, stride: [1, 1, 1])                    // [N, t, h, w, C]
        let windows = linear(pooled, weight: ctx.weight(Architecture.head + ".weight"),
                             bias: ctx.weight(Architecture.head + ".bias"))                   // [N, t, h, w, classes]
        let n = x.shape[0], k = architecture.classes
        let perWindow = softmax(windows).reshaped([n, -1, k])                            // [N, windows, classes]
        var mean = Tensor(zeros: [n, k])
        let count = perWindow.shape[1]
        mean.withUnsafeMutableBufferPointer { m in
            perWindow.withUnsafeBufferPointer { p in
                for i in 0..<n { for w in 0..<count { for j in 0..<k { m[i * k + j] += p[(i * count + w) * k + j] / Float(count) } } }
            }
        }
        return Prediction(probabilities: mean, windowLogits: windows)
    }

    /// Inference on `x` (the fused test path), reporting each layer's time.
    public func profile(_ x: Tensor, _ report: @escaping (String, Double) -> Void) -> Prediction {
        var options = ForwardOptions()
        options.timer = report
        return predict(x, options: options)
    }

    // MARK: Inference caches

    /// Conv `name` with BN `bn` folded in (and its own bias, if any): computed once.
    func foldedConv(_ name: String, bn: String?, hasBias: Bool) -> (weight: Tensor, bias: Tensor) {
        cacheLock.lock(); defer { cacheLock.unlock() }
        if let f = foldedCache[name] { return f }
        let w = weights[name + ".weight"]!
        let bias = hasBias ? weights[name + ".bias"] : nil
        let result: (weight: Tensor, bias: Tensor)
        if let bn {
            let stats = BatchNormStatistics(mean: weights[bn + ".running_mean"]!, variance: weights[bn + ".running_var"]!)
            result = foldBatchNorm(weight: w, bias: bias, scale: weights[bn + ".weight"]!, shift: weights[bn + ".bias"]!,
                                   statistics: stats, epsilon: config.model.batchNorm.epsilon)
        } else {
            result = (w, bias ?? Tensor(zeros: [w.shape[4]]))
        }
        foldedCache[name] = result
        return result
    }

    /// A folded conv weight packed for the own GEMM in `precision` (once per conv and precision),
    /// or nil where OpenBLAS runs it (`PackedConvWeight.wanted`).
    func packedConv(_ name: String, _ weight: Tensor, stride: [Int], padding: [Int], precision: Precision) -> PackedConvWeight? {
        guard PackedConvWeight.wanted(weight: weight.shape, stride: stride, padding: padding, precision: precision) else { return nil }
        let key = name + "@" + precision.rawValue
        cacheLock.lock(); defer { cacheLock.unlock() }
        if let p = packedCache[key] { return p }
        let geometry = ConvGeometry(kernel: Array(weight.shape.prefix(3)), stride: stride, padding: padding)
        let packed = PackedConvWeight(weight, precision: precision, geometry: geometry)
        packedCache[key] = packed
        return packed
    }

    /// 1×1×1 convs of one input side by side, conv i scaled by scales[i]: weights
    /// [1, 1, 1, C, Σ outs], biases, widths, and the cache key naming them.
    func concatenatedPointwise(_ names: [String], scales: [Float]) -> (weight: Tensor, bias: Tensor, widths: [Int], key: String) {
        let key = zip(names, scales).map { $1 == 1 ? $0 : "\($0)×\($1)" }.joined(separator: "|")
        cacheLock.lock(); defer { cacheLock.unlock() }
        if let f = pointwiseCache[key] { return (f.weight, f.bias, f.widths, key) }
        let scaled = { (t: Tensor, s: Float) in s == 1 ? t : t * s }
        let ws = zip(names, scales).map { scaled(weights[$0 + ".weight"]!, $1) }
        let bs = zip(names, scales).map { scaled(weights[$0 + ".bias"]!, $1) }
        let result = (weight: concat(ws, axis: 4), bias: concat(bs, axis: 0), widths: ws.map { $0.shape[4] })
        pointwiseCache[key] = result
        return (result.weight, result.bias, result.widths, key)
    }
}

extension ForwardContext {
    /// relu(BN_c(W_c · relu(BN_b(W_b · relu(BN_a(W_a · x))))) + shortcut(x)). Takes x: the
    /// caller's tensor is released after its last use, so that an identity shortcut held
    /// nowhere else is the output's storage (conv c adds to it in place on the fused path).
    mutating func bottleneck(taking x: inout Tensor, _ b: BlockSpec) -> Tensor {
        var shortcut = b.shortcut.map { convBN(x, $0, bn: $0.bn) } ?? x   // [N, T, H/s, W/s, 4w]
        var h = convBN(x, b.a, bn: b.a.bn, relu: true)                  // [N, T, H, W, w]
        x = Tensor(zeros: [1])
        h = convBN(h, b.b, bn: b.b.bn, relu: true)                      // [N, T, H/s, W/s, w]
        return convBN(h, b.c, bn: b.c.bn, accumulatingInto: &shortcut, relu: true) // [N, T, H/s, W/s, 4w]
    }
}
