import Foundation
import NLTensor

/// One named tensor of a model: its PyTorch shape, how it is initialised, whether SGD
/// updates it.
public struct ParameterSpec: Sendable, Equatable {
    /// How a parameter starts when no checkpoint supplies it (the official code's fillers).
    public enum Initializer: Sendable, Equatable {
        /// He/MSRA normal with fan-out (Caffe2's MSRAFill, SlowFast's c2_msra_fill)
        case msra
        case gaussian(std: Float)
        case constant(Float)
    }
    /// How the tensor is stored: a conv kernel, a linear weight, or a vector (C).
    public enum Kind: Sendable, Equatable { case conv, linear, vector }

    /// The name in model files, SlowFast's, e.g. "s2.pathway0_res0.branch2.a.weight" (docs/checkpoints.md).
    public var name: String
    /// PyTorch / Caffe2 shape: conv (O, I, kT, kH, kW), linear (Out, In), vectors (C).
    public var torchShape: [Int]
    /// Conv kernel, linear weight or per-channel vector: decides the conversion to and from PyTorch layouts.
    public var kind: Kind
    /// Its filler: MSRA, Gaussian with a standard deviation, or a constant (BN γ = 0 on residual ends).
    public var initializer: Initializer
    /// False for BN running statistics.
    public var trainable: Bool

    /// The shape this project computes with: conv [kT, kH, kW, I, O], linear [In, Out].
    public var shape: [Int] {
        switch kind {
        case .conv: return Array(torchShape[2...]) + [torchShape[1], torchShape[0]]
        case .linear: return [torchShape[1], torchShape[0]]
        case .vector: return torchShape
        }
    }

    /// A tensor in PyTorch layout → this project's layout.
    public func fromTorch(_ t: Tensor) -> Tensor {
        switch kind {
        case .conv: return convWeight(fromPyTorch: t)
        case .linear: return linearWeight(fromPyTorch: t)
        case .vector: return t
        }
    }

    /// This project's layout → PyTorch's.
    public func toTorch(_ t: Tensor) -> Tensor {
        switch kind {
        case .conv: return t.permuted([4, 3, 0, 1, 2])
        case .linear: return t.permuted([1, 0])
        case .vector: return t
        }
    }
}

/// Weights, a missing or mis-shaped tensor named with both shapes.
public struct ModelError: Error, CustomStringConvertible {
    /// What is wrong, naming the file and the tensor with the expected and found shapes.
    public let message: String
    /// An error with this message.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

extension Architecture {
    /// Every tensor of the model with SlowFast's names (docs/checkpoints.md#pyslowfast-names), in forward order.
    public func parameterSpecs(_ options: ModelOptions) -> [ParameterSpec] {
        var specs: [ParameterSpec] = []
        func conv(_ c: ConvSpec, init initializer: ParameterSpec.Initializer = .msra) {
            specs.append(ParameterSpec(name: c.name + ".weight", torchShape: c.torchShape, kind: .conv, initializer: initializer, trainable: true))
        }
        func vector(_ name: String, _ n: Int, _ initializer: ParameterSpec.Initializer, trainable: Bool = true) {
            specs.append(ParameterSpec(name: name, torchShape: [n], kind: .vector, initializer: initializer, trainable: trainable))
        }
        func bn(_ prefix: String, _ n: Int, gamma: Float = 1) {
            vector(prefix + ".weight", n, .constant(gamma))
            vector(prefix + ".bias", n, .constant(0))
            vector(prefix + ".running_mean", n, .constant(0), trainable: false)
            vector(prefix + ".running_var", n, .constant(1), trainable: false)
        }
        /// A conv and the BN its spec names.
        func convAndBN(_ c: ConvSpec, gamma: Float = 1) { conv(c); bn(c.bn!, c.cout, gamma: gamma) }
        convAndBN(stem)
        let nl = options.nonlocal
        for stage in stages {
            for block in stage.blocks {
                if let s = block.shortcut { convAndBN(s) }
                convAndBN(block.a)
                convAndBN(block.b)
                // The last BN of each block starts at γ = 0 (the official BN_INIT_GAMMA).
                convAndBN(block.c, gamma: 0)
                guard let n = block.nonlocal else { continue }
                func linear(_ name: String, cin: Int, cout: Int, init initializer: ParameterSpec.Initializer) {
                    specs.append(ParameterSpec(name: "\(n.prefix).\(name).weight", torchShape: [cout, cin], kind: .linear,
                                               initializer: initializer, trainable: true))
                    vector("\(n.prefix).\(name).bias", cout, .constant(0))
                }
                let squeezed = max(1, n.channels / nl.reduction)
                /// DANet's and CCNet's embeddings: queries and keys C → C/8, values C → C.
                func queryKeyValue(_ scope: String) {
                    linear("\(scope)query", cin: n.channels, cout: max(1, n.channels / 8), init: .msra)
                    linear("\(scope)key", cin: n.channels, cout: max(1, n.channels / 8), init: .msra)
                    linear("\(scope)value", cin: n.channels, cout: n.channels, init: .msra)
                }
                switch nl.type {
                case .se:
                    // W₂ = 0: every gate starts at σ(0) = 1/2 (docs/attention-family.md#squeeze-excitation).
                    linear("fc1", cin: n.channels, cout: squeezed, init: .msra)
                    linear("fc2", cin: squeezed, cout: n.channels, init: .constant(0))
                    continue
                case .gc:
                    // W₂ = 0: the block adds nothing at first, the network starts as without it.
                    linear("conv_mask", cin: n.channels, cout: 1, init: .msra)
                    linear("fc1", cin: n.channels, cout: squeezed, init: .msra)
                    vector("\(n.prefix).ln.weight", squeezed, .constant(1))
                    vector("\(n.prefix).ln.bias", squeezed, .constant(0))
                    linear("fc2", cin: squeezed, cout: n.channels, init: .constant(0))
                    continue
                case .cbam:
                    // The MLP's W₀ = 0 and the spatial conv = 0: both gates start at σ(0) = 1/2, the
                    // block at x/4 (a gate cannot start at 1; docs/attention-family.md#cbam).
                    linear("fc1", cin: n.channels, cout: squeezed, init: .msra)
                    linear("fc2", cin: squeezed, cout: n.channels, init: .constant(0))
                    conv(ConvSpec(name: "\(n.prefix).spatial", cin: 2, cout: 1, kernel: [1, 7, 7], stride: [1, 1, 1], padding: [0, 3, 3]),
                         init: .constant(0))
                    vector("\(n.prefix).spatial.bias", 1, .constant(0))
                    continue
                case .danet:
                    // α = β = 0 (DANet's own init): the block starts as the identity.
                    queryKeyValue("pam.")
                    vector("\(n.prefix).pam.gamma", 1, .constant(0))
                    vector("\(n.prefix).cam.gamma", 1, .constant(0))
                    continue
                case .cc:
                    // γ = 0 (CCNet's own init): the block starts as the identity.
                    queryKeyValue("")
                    vector("\(n.prefix).gamma", 1, .constant(0))
                    continue
                case .apnb:
                    // W_o = 0 (ANN's own init of its W): the block starts as the identity.
                    func pointwise(_ name: String, cin: Int, cout: Int, init initializer: ParameterSpec.Initializer) {
                        conv(ConvSpec(name: "\(n.prefix).\(name)", cin: cin, cout: cout, kernel: [1, 1, 1], stride: [1, 1, 1],
                                      padding: [0, 0, 0]), init: initializer)
                        vector("\(n.prefix).\(name).bias", cout, .constant(0))
                    }
                    pointwise("key", cin: n.channels, cout: n.inner, init: .msra)
                    bn("\(n.prefix).key_bn", n.inner)
                    pointwise("value", cin: n.channels, cout: n.inner, init: .msra)
                    pointwise("out", cin: n.inner, cout: n.channels, init: .constant(0))
                    continue
                case .residualAttention:
                    // The last conv = 0: the mask starts at σ(0) = 1/2, the block at 1.5·x (a sigmoid
                    // mask cannot start at 0; docs/attention-family.md#residual-attention).
                    conv(ConvSpec(name: "\(n.prefix).down", cin: n.channels, cout: squeezed, kernel: [1, 3, 3], stride: [1, 1, 1],
                                  padding: [0, 1, 1]))
                    vector("\(n.prefix).down.bias", squeezed, .constant(0))
                    conv(ConvSpec(name: "\(n.prefix).mask", cin: squeezed, cout: n.channels, kernel: [1, 1, 1], stride: [1, 1, 1],
                                  padding: [0, 0, 0]), init: .constant(0))
                    vector("\(n.prefix).mask.bias", n.channels, .constant(0))
                    continue
                case .nonlocal: break
                }
                let std: ParameterSpec.Initializer = nl.initializer == .msra ? .msra : .gaussian(std: 0.01)
                func nlConv(_ name: String, cin: Int, cout: Int, bias: Bool, init initializer: ParameterSpec.Initializer = std) {
                    conv(ConvSpec(name: name, cin: cin, cout: cout, kernel: [1, 1, 1], stride: [1, 1, 1], padding: [0, 0, 0]), init: initializer)
                    if bias { vector("\(name).bias", cout, .constant(0)) }
                }
                if nl.instantiation != .gaussian {
                    nlConv(n.theta, cin: n.channels, cout: n.inner, bias: true)
                    nlConv(n.phi, cin: n.channels, cout: n.inner, bias: true)
                }
                nlConv(n.g, cin: n.channels, cout: n.inner, bias: true)
                if nl.instantiation == .concatenation {
                    nlConv(n.concatProject, cin: 2 * n.inner, cout: 1, bias: false)
                }
                nlConv(n.out, cin: n.inner, cout: n.channels, bias: nl.outBias,
                       init: nl.norm == .none ? .constant(0) : std)
                if nl.norm == .bn { bn(n.outBN, n.channels, gamma: 0) }
            }
        }
        specs.append(ParameterSpec(name: Architecture.head + ".weight", torchShape: [classes, features], kind: .linear,
                                   initializer: .gaussian(std: 0.01), trainable: true))
        vector(Architecture.head + ".bias", classes, .constant(0))
        return specs
    }
}

extension ParameterSpec {
    /// A fresh tensor as the official code initialises it.
    func initialized(using rng: inout RandomSource) -> Tensor {
        let count = torchShape.reduce(1, *)
        var values = [Float](repeating: 0, count: count)
        switch initializer {
        case .constant(let v): values = [Float](repeating: v, count: count)
        case .gaussian(let std): for i in 0..<count { values[i] = std * rng.nextGaussian() }
        case .msra:
            let fanOut = Float(count / max(torchShape[1], 1))
            let std = (2 / fanOut).squareRoot()
            for i in 0..<count { values[i] = std * rng.nextGaussian() }
        }
        return fromTorch(Tensor(shape: torchShape, scalars: values))
    }
}

extension RandomSource {
    /// Standard normal (Box–Muller).
    public mutating func nextGaussian() -> Float {
        let u1 = max(Double(next() >> 11) / Double(1 << 53), 1e-300), u2 = Double(next() >> 11) / Double(1 << 53)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * .pi * u2))
    }
}
