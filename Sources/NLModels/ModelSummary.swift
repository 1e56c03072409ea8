import Foundation
import NLTensor

/// Shapes, parameters and multiply-adds per layer, computed from the architecture alone.
/// The non-local block's two matrix products (θᵀφ and P·g) and its softmax are counted:
/// most FLOP counters leave them out.
public struct LayerSummary: Sendable, Codable {
    /// The layer's name in the table: "conv1", "pool1", "res3_res1" (stage and block), "res4_nonlocal3", "head".
    public var name: String
    /// Output [T, H, W, C] per clip.
    public var output: [Int]
    /// Trainable parameters of the layer (BN's γ and β included, running statistics not).
    public var parameters: Int
    /// Multiply-adds per clip.
    public var macs: Int
    /// Other floating-point operations (softmax exponentials, sums and divisions).
    public var otherFLOPs: Int
}

/// A network's cost for one clip, layer by layer (`nlnet info`; docs/architecture.md#parameters-and-multiply-adds).
public struct ModelSummary: Sendable, Codable {
    /// The clip [T, H, W, 3].
    public var input: [Int]
    /// In forward order: stem, pools, every bottleneck, every block in a non-local slot, head.
    public var layers: [LayerSummary]
    /// Total trainable parameters.
    public var parameters: Int { layers.reduce(0) { $0 + $1.parameters } }
    /// Total multiply-adds per clip.
    public var macs: Int { layers.reduce(0) { $0 + $1.macs } }
    /// 2 FLOPs per multiply-add, plus the rest.
    public var flops: Int { 2 * macs + layers.reduce(0) { $0 + $1.otherFLOPs } }

    /// A summary from its layers.
    public init(input: [Int], layers: [LayerSummary]) {
        self.input = input
        self.layers = layers
    }

    // The totals are computed, so the synthesised encoder would leave them out of JSON; they
    // are written (the table prints them) and ignored when decoding.
    enum CodingKeys: String, CodingKey { case input, layers, parameters, macs, flops }

    /// Decodes input and layers; the written totals are recomputed, not read.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(input: try c.decode([Int].self, forKey: .input), layers: try c.decode([LayerSummary].self, forKey: .layers))
    }

    /// Writes input, layers and the totals parameters, macs and flops.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(input, forKey: .input)
        try c.encode(layers, forKey: .layers)
        try c.encode(parameters, forKey: .parameters)
        try c.encode(macs, forKey: .macs)
        try c.encode(flops, forKey: .flops)
    }
}

extension ResNet3D {
    /// Per-layer summary for one clip of `frames` × `size` × `size`.
    public func summary(frames: Int, size: Int) -> ModelSummary {
        ModelSummary.of(architecture, options: config.model, frames: frames, size: size)
    }
}

extension ModelSummary {
    /// The per-layer summary of architecture `a` built from `options` for one clip of `frames` × `size` × `size`.
    public static func of(_ a: Architecture, options: ModelOptions, frames: Int, size: Int) -> ModelSummary {
        var layers: [LayerSummary] = []
        var shape = [frames, size, size, 3]
        let specs = Dictionary(uniqueKeysWithValues: a.parameterSpecs(options).map { ($0.name, $0) })
        func params(_ prefix: String) -> Int {
            specs.filter { $0.key.hasPrefix(prefix + ".") && $0.value.trainable }.reduce(0) { $0 + $1.value.torchShape.reduce(1, *) }
        }
        func convOut(_ input: [Int], _ c: ConvSpec) -> [Int] {
            ConvGeometry(kernel: c.kernel, stride: c.stride, padding: c.padding).outputSize(Array(input.prefix(3))) + [c.cout]
        }
        func convMACs(_ out: [Int], _ c: ConvSpec) -> Int { out.prefix(3).reduce(1, *) * c.kernel.reduce(1, *) * c.cin * c.cout }
        func poolOut(_ input: [Int], _ p: PoolSpec) -> [Int] {
            (0..<3).map { (input[$0] + 2 * p.padding[$0] - p.kernel[$0]) / p.stride[$0] + 1 } + [input[3]]
        }
        // Stem
        shape = convOut(shape, a.stem)
        layers.append(LayerSummary(name: "conv1", output: shape, parameters: params(a.stem.name) + params(a.stem.bn!),
                                   macs: convMACs(shape, a.stem), otherFLOPs: 0))
        shape = poolOut(shape, a.pool1)
        layers.append(LayerSummary(name: "pool1", output: shape, parameters: 0, macs: 0, otherFLOPs: 0))
        for (s, stage) in a.stages.enumerated() {
            for block in stage.blocks {
                let input = shape
                var macs = 0
                var h = convOut(input, block.a); macs += convMACs(h, block.a)
                h = convOut(h, block.b); macs += convMACs(h, block.b)
                h = convOut(h, block.c); macs += convMACs(h, block.c)
                if let sc = block.shortcut { macs += convMACs(convOut(input, sc), sc) }
                shape = h
                layers.append(LayerSummary(name: "\(stage.name)_\(block.prefix.split(separator: "_").last!)", output: shape,
                                           parameters: params(block.prefix), macs: macs, otherFLOPs: 0))
                if let nl = block.nonlocal {
                    layers.append(nonLocalSummary(nl, stage: stage.name, shape: shape, options: options.nonlocal,
                                                  parameters: params(nl.prefix)))
                }
            }
            if s == 0 {
                shape = poolOut(shape, a.pool2)
                layers.append(LayerSummary(name: "pool2", output: shape, parameters: 0, macs: 0, otherFLOPs: 0))
            }
        }
        layers.append(LayerSummary(name: "head", output: [1, 1, 1, a.classes], parameters: params(Architecture.head),
                                   macs: a.features * a.classes, otherFLOPs: 0))
        return ModelSummary(input: [frames, size, size, 3], layers: layers)
    }

    /// A block in a non-local slot on [T, H, W, C], by its type.
    static func nonLocalSummary(_ nl: NonLocalSpec, stage: String, shape: [Int], options: NonLocalConfig, parameters: Int) -> LayerSummary {
        let (t, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
        let positions = t * h * w, squeezed = max(1, c / options.reduction)
        let index = nl.prefix.range(of: "pathway0_\(options.type.rawValue)").map { String(nl.prefix[$0.upperBound...]) } ?? ""
        let name = "\(stage)_\(options.type.rawValue)\(index)"
        switch options.type {
        case .se:
            // Pool (adds), two small matrices, the gate multiplies every element.
            return LayerSummary(name: name, output: shape, parameters: parameters, macs: 2 * c * squeezed,
                                otherFLOPs: positions * c + 4 * c + positions * c)
        case .gc:
            // w_k·x at every position and Σ α_j x_j: 2·THW·C; the bottleneck; softmax (3 per
            // position), LN and the add at every position.
            return LayerSummary(name: name, output: shape, parameters: parameters, macs: 2 * positions * c + 2 * c * squeezed,
                                otherFLOPs: 3 * positions + 8 * squeezed + positions * c)
        case .cbam:
            // The shared MLP on two descriptors; the 1×7×7 conv of the 2 maps at every position.
            // Other: the two pools over positions and over channels, both gates (2·THW·C each).
            return LayerSummary(name: name, output: shape, parameters: parameters,
                                macs: 2 * 2 * c * squeezed + positions * 2 * 49,
                                otherFLOPs: 2 * positions * c + 2 * positions * c + 2 * positions * c + 8 * c + 4 * positions)
        case .danet:
            // Position: B, C (C/8 each) and D (C) at every position, BᵀC (P·P·C/8), S·D (P·P·C).
            // Channel: AᵀA (C·C·P) and the C×C map applied (P·C·C). Softmax 3 per entry; α, β and the sums.
            let qk = max(1, c / 8)
            let position = positions * c * (2 * qk + c) + positions * positions * (qk + c)
            return LayerSummary(name: name, output: shape, parameters: parameters, macs: position + 2 * positions * c * c,
                                otherFLOPs: 3 * positions * positions + 3 * c * c + 4 * positions * c)
        case .cc:
            // Per pass: Q, K (C/8) and V (C) at every position; each position's H + W + T − 2
            // energies and values read from its three lines (the −∞ self entries are computed too:
            // H + W + T). Two passes with the same weights.
            let qk = max(1, c / 8), line = h + w + t
            let pass = positions * c * (2 * qk + c) + positions * line * (qk + c)
            return LayerSummary(name: name, output: shape, parameters: parameters, macs: 2 * pass,
                                otherFLOPs: 2 * (3 * positions * line + 3 * positions * c))
        case .apnb:
            // Key and value embeddings (C/2) at every position; the pyramid pooling of both as a
            // matrix product (FrameResampling: HW·110 per channel and frame); the THW × 110·T
            // attention and its values; W_o back to C. Other: key BN and ReLU, softmax, the add.
            let inner = nl.inner, bins = ForwardContext.pyramidBins.map { $0 * $0 }.reduce(0, +)
            let macs = 2 * positions * c * inner + 2 * t * h * w * bins * inner + 2 * positions * t * bins * inner + positions * inner * c
            return LayerSummary(name: name, output: shape, parameters: parameters, macs: macs,
                                otherFLOPs: 3 * positions * inner + 3 * positions * t * bins + positions * c)
        case .residualAttention:
            // 3×3 max pool (9 compares per output), the 3×3 conv C → C/r at the low resolution,
            // bilinear up-sampling as a matrix (h′w′·HW per channel and frame), the 1×1 conv C/r → C;
            // other: the pool, sigmoid (3), multiply and add at every element.
            let lowH = (h - 1) / 2 + 1, lowW = (w - 1) / 2 + 1, low = t * lowH * lowW
            let macs = low * 9 * c * squeezed + t * lowH * lowW * h * w * squeezed + positions * squeezed * c
            return LayerSummary(name: name, output: shape, parameters: parameters, macs: macs,
                                otherFLOPs: 9 * low * c + 5 * positions * c)
        case .nonlocal: return nonLocalOnlySummary(nl, name: name, shape: shape, options: options, parameters: parameters)
        }
    }

    /// A non-local block on [T, H, W, C]: embeddings, θᵀφ (N·M·d), P·g (N·M·C/2), W_z, softmax.
    static func nonLocalOnlySummary(_ nl: NonLocalSpec, name: String, shape: [Int], options: NonLocalConfig, parameters: Int) -> LayerSummary {
        let (t, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
        let inner = nl.inner
        let pooledHW = options.subsample == .none ? h * w : (h / 2) * (w / 2)
        // Queries and keys per group of positions that see each other.
        let (groups, queries, keys): (Int, Int, Int)
        switch options.mode {
        case .spacetime where nl.temporalGroup > 0:
            (groups, queries, keys) = (t / nl.temporalGroup, nl.temporalGroup * h * w, nl.temporalGroup * pooledHW)
        case .spacetime: (groups, queries, keys) = (1, t * h * w, t * pooledHW)
        case .space: (groups, queries, keys) = (t, h * w, pooledHW)
        case .time: (groups, queries, keys) = (h * w, t, t)
        }
        let positions = t * h * w, keyPositions = groups * keys
        var macs = 0
        switch options.instantiation {
        case .gaussian:
            macs += keyPositions * c * inner                         // g only
            macs += groups * queries * keys * c                      // θᵀφ on raw x (d = C)
        default:
            let phiGInput = options.subsample == .after ? positions : keyPositions
            macs += positions * c * inner + 2 * phiGInput * c * inner // θ, φ, g
            macs += groups * queries * keys * inner                  // θᵀφ
            if options.instantiation == .concatenation { macs += (positions + keyPositions) * inner }
        }
        macs += groups * queries * keys * inner                      // P·g
        macs += positions * inner * c                                // W_z
        // softmax: exp, sum, divide per pairwise weight (or a division for ÷M instantiations)
        let pairwise = groups * queries * keys
        let other = options.instantiation == .embeddedGaussian || options.instantiation == .gaussian ? 3 * pairwise : pairwise
        return LayerSummary(name: name, output: shape, parameters: parameters, macs: macs, otherFLOPs: other)
    }
}

/// One name per non-local block on the command line: `res4_nonlocal3` (stage and host block
/// index, as `model.nonlocal.blocks` places it and `nlnet info` lists it). The weights file's
/// prefix, `s4.pathway0_nonlocal3` (SlowFast's), is accepted as input too.
public enum BlockName {
    /// "s4.pathway0_nonlocal3" → "res4_nonlocal3"; other text is returned as it is.
    public static func layer(_ prefix: String) -> String {
        guard let match = prefix.wholeMatch(of: /s(\d+)\.pathway0_nonlocal(\d+)/) else { return prefix }
        return "res\(match.1)_nonlocal\(match.2)"
    }

    /// "res4_nonlocal3" or "s4.pathway0_nonlocal3" → "s4.pathway0_nonlocal3"; nil for other text.
    public static func prefix(_ name: String) -> String? {
        if name.wholeMatch(of: /s\d+\.pathway0_nonlocal\d+/) != nil { return name }
        guard let match = name.wholeMatch(of: /res(\d+)_nonlocal(\d+)/) else { return nil }
        return "s\(match.1).pathway0_nonlocal\(match.2)"
    }
}

extension ResNet3D {
    /// Why a training batch of `batch` clips of `frames` × `size`² cannot train this network, or nil.
    /// BN in training normalises over the batch and the positions of a feature map; where a layer
    /// keeps one position per clip (C2D's res5 at 32², for one), a batch of one clip leaves one
    /// value per channel, and the variance is undefined (PyTorch refuses it too).
    public func trainingInputProblem(batch: Int, frames: Int, size: Int) -> String? {
        let summary = summary(frames: frames, size: size)
        guard let smallest = summary.layers.filter({ $0.name.hasPrefix("res") || $0.name == "conv1" })
            .min(by: { $0.output.prefix(3).reduce(1, *) < $1.output.prefix(3).reduce(1, *) }) else { return nil }
        let positions = smallest.output.prefix(3).reduce(1, *)
        guard batch * positions <= 1 else { return nil }
        return "batch \(batch) of \(frames)×\(size)² clips leaves \(smallest.name) one value per channel "
            + "(output \(smallest.output.prefix(3).map(String.init).joined(separator: "×"))), which batch norm cannot train on: "
            + "use a batch of at least 2, or more frames or pixels"
    }
}

extension ResNet3D {
    /// Why `batch` clips of `frames` × `size`² cannot fit this machine's memory, or nil. The
    /// estimate is a floor: inference holds about four tensors the size of the largest layer
    /// output at once (input, output, residual, scratch); training keeps every layer's output
    /// for the backward pass, about three times over (output, gradient, BN's saved input).
    public func memoryProblem(batch: Int, frames: Int, size: Int, training: Bool,
                              available: UInt64 = ProcessInfo.processInfo.physicalMemory) -> String? {
        let floats = summary(frames: frames, size: size).layers.map { Double($0.output.reduce(1, *)) }
        let perClip = training ? 3 * floats.reduce(0, +) : 4 * (floats.max() ?? 0)
        let bytes = 4 * Double(batch) * perClip
        guard bytes > Double(available) else { return nil }
        let gib = { (b: Double) in String(format: "%.1f GiB", b / Double(1 << 30)) }
        return "\(batch) × \(frames)×\(size)² clip\(batch == 1 ? " needs" : "s need") at least \(gib(bytes)) of activations "
            + "\(training ? "to train" : "for one forward"), more than this machine's \(gib(Double(available))) of memory"
    }
}
