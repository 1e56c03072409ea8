import Foundation
import NLTensor

/// How input pixels are scaled before the network (docs/protocol.md#input-normalisation).
public enum InputNormalization: String, Codable, Sendable, CaseIterable {
    /// The official code's (x − 114.75) / 57.375 on 0…255, the same for R, G and B
    case official
    /// ImageNet's per-channel mean and std (mmaction2's checkpoints)
    case imagenet
}

/// Backbone family: C2D (every conv 1×k×k) or I3D (inflated temporal kernels).
public enum Arch: String, Codable, Sendable, CaseIterable { case c2d, i3d }

/// Stem and pooling layout (docs/architecture.md#stem-and-pooling-layouts; docs/pitfalls.md#pool-kernels, #pool1-padding).
public enum StemLayout: String, Codable, Sendable, CaseIterable {
    /// The official `resnet_video` (8×8, 32×4 models): conv1 stride 1,2,2; pool1 1×3×3 s1,2,2
    /// pad 0 (112 → 55); pool2 2×1×1 s2,1,1.
    case official
    /// The official `resnet_video_org` (paper's 32×2, 128×1): conv1 stride 2,2,2; pool1
    /// 2×3×3 s2,2,2 pad 0; pool2 2×1×1.
    case officialOrg = "official_org"
    /// SlowFast / pytorchvideo: as `official` but pool1 padded (112 → 56).
    case slowfast
    /// The paper's Table 1: conv1 stride 2,2,2; pool1 3×3×3 s2 pad 1; pool2 3×1×1 s2,1,1 pad 1,0,0.
    case paper
}

/// Which conv of a bottleneck an I3D block inflates (docs/architecture.md#inflation).
public enum Inflation: String, Codable, Sendable, CaseIterable {
    /// branch2a becomes 3×1×1: the official code and every NL I3D result.
    case t3x1x1 = "3x1x1"
    /// branch2b becomes 3×3×3 (Table 2e's I3D 3×3×3).
    case t3x3x3 = "3x3x3"
}

/// The pairwise function f of a non-local block (docs/nonlocal-block.md#definition).
public enum Instantiation: String, Codable, Sendable, CaseIterable {
    case embeddedGaussian = "embedded_gaussian"
    case gaussian
    case dotProduct = "dot_product"
    case concatenation
}

/// Which keys a query sees (docs/nonlocal-block.md#space-only-and-time-only).
public enum NonLocalMode: String, Codable, Sendable, CaseIterable {
    case spacetime
    /// keys from the same frame
    case space
    /// keys from the same position across frames (no spatial subsampling then)
    case time
}

/// Where the 1×2×2 max-pool subsampling sits (docs/nonlocal-block.md#subsampling).
public enum Subsampling: String, Codable, Sendable, CaseIterable {
    /// pool x before the φ/g convs (official Caffe2 and SlowFast)
    case before
    /// pool after the φ/g convs (mmcv/mmaction2)
    case after
    case none
}

/// How a non-local block's θ, φ, g and W_z convolutions start.
public enum NonLocalInit: String, Codable, Sendable, CaseIterable {
    /// Gaussian, std 0.01 (the official code and mmaction2): θᵀφ ≈ 0, so every block starts
    /// with near-uniform attention — harmless when fine-tuning a pretrained network.
    case gaussian
    /// MSRA / He (the paper §4.1, SlowFast's c2_msra_fill): θᵀφ of unit order from the start,
    /// so attention depends on the pair of positions at once, which training from scratch needs.
    case msra
}

/// What goes in the non-local slots (`model.nonlocal.blocks`): the non-local block, or one of
/// its family compared in the same places (docs/attention-family.md).
public enum AttentionType: String, Codable, Sendable, CaseIterable {
    /// the non-local block (the default; every other key of `model.nonlocal` applies to it)
    case nonlocal
    /// squeeze-excitation (Hu et al.): x · σ(W₂ ReLU(W₁ GAP(x))), reduction r
    case se
    /// global context (Cao et al., GCNet): x + W₂ ReLU(LN(W₁ Σ_j softmax(w_k·x)_j x_j)), reduction r
    case gc
    /// CBAM (Woo et al.): a channel gate from average- and max-pooled descriptors through one
    /// MLP (reduction r), then a spatial gate from a 7×7 conv per frame over the channel mean and max
    case cbam
    /// dual attention (Fu et al., DANet): x + α·(position attention, C/8 queries and keys) + β·(channel attention)
    case danet
    /// criss-cross attention (Huang et al., CCNet) in 3D: row, column and time line, applied twice with shared weights
    case cc
    /// asymmetric pyramid non-local block (Zhu et al., ANN): keys and values pooled to bins 1, 3, 6, 8 per frame
    case apnb
    /// residual attention (Wang et al. 2017): (1 + M(x))·x, M a down/up-sampling mask branch, reduction r
    case residualAttention = "residual_attention"

    /// The weights' name for the block after host block i: "nonlocal3", "se3", "gc3", "residual_attention3".
    public func prefix(_ i: Int) -> String { "\(rawValue)\(i)" }
}

/// Normalisation after W_z, the non-local block's output conv (docs/nonlocal-block.md#output-convolution-and-bn).
public enum NonLocalNorm: String, Codable, Sendable, CaseIterable {
    /// BatchNorm with γ initialised to 0 (official)
    case bn
    /// none; W_z zero-initialised (the frozen-BN "affine" models)
    case none
}

/// The non-local slots of a network: where the blocks go and how each is built (`model.nonlocal`;
/// docs/nonlocal-block.md#config-keys).
public struct NonLocalConfig: Codable, Sendable, Equatable {
    /// Block indices (0-based, the host residual block) per stage, e.g. ["res3": [1, 3]].
    public var blocks: [String: [Int]] = [:]
    /// The pairwise function f: embedded Gaussian (softmax of θᵀφ, official), Gaussian, dot product, concatenation.
    public var instantiation: Instantiation = .embeddedGaussian
    /// Multiply θᵀφ by (C/2)^-0.5 before the softmax (official; mmaction2 sets it off).
    public var scale: Bool = true
    /// Which keys a query attends to: all T×H×W positions, its own frame, or its own position across frames.
    public var mode: NonLocalMode = .spacetime
    /// Where the 1×2×2 max pool that subsamples the keys and values (φ and g) sits.
    public var subsample: Subsampling = .before
    /// A bias on W_z (official yes; mmaction2 no).
    public var outBias: Bool = true
    /// What follows W_z before the residual sum: BN with γ = 0 (official), or nothing.
    public var norm: NonLocalNorm = .bn
    /// Frames per temporal group per stage (docs/nonlocal-block.md#temporal-groups), e.g. ["res3": 4]; absent: no groups.
    public var temporalGroups: [String: Int] = [:]
    /// How θ, φ, g and W_z are initialised (Gaussian std 0.01, official; MSRA).
    public var initializer: NonLocalInit = .gaussian
    /// The block in the slots: nonlocal or one of its family (AttentionType).
    public var type: AttentionType = .nonlocal
    /// The channel reduction r of the se, gc, cbam and residual_attention bottlenecks (C → C/r → C; 16 in the papers).
    public var reduction = 16

    enum CodingKeys: String, CodingKey {
        case blocks, instantiation, scale, mode, subsample, outBias = "out_bias", norm
        case temporalGroups = "temporal_groups", initializer = "init", type, reduction
    }

    /// No blocks; the official block's settings for any that are added.
    public init() {}

    /// Decodes `model.nonlocal`; every absent key keeps its default.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = NonLocalConfig()
        blocks = try c.decodeIfPresent([String: [Int]].self, forKey: .blocks) ?? d.blocks
        instantiation = try c.decodeIfPresent(Instantiation.self, forKey: .instantiation) ?? d.instantiation
        scale = try c.decodeIfPresent(Bool.self, forKey: .scale) ?? d.scale
        mode = try c.decodeIfPresent(NonLocalMode.self, forKey: .mode) ?? d.mode
        subsample = try c.decodeIfPresent(Subsampling.self, forKey: .subsample) ?? d.subsample
        outBias = try c.decodeIfPresent(Bool.self, forKey: .outBias) ?? d.outBias
        norm = try c.decodeIfPresent(NonLocalNorm.self, forKey: .norm) ?? d.norm
        temporalGroups = try c.decodeIfPresent([String: Int].self, forKey: .temporalGroups) ?? d.temporalGroups
        initializer = try c.decodeIfPresent(NonLocalInit.self, forKey: .initializer) ?? d.initializer
        type = try c.decodeIfPresent(AttentionType.self, forKey: .type) ?? d.type
        reduction = try c.decodeIfPresent(Int.self, forKey: .reduction) ?? d.reduction
    }
}

/// Batch norm settings of every BN layer in the network (`model.batch_norm`; docs/architecture.md#batch-norm).
public struct BatchNormConfig: Codable, Sendable, Equatable {
    /// Caffe2's 1.0000001e-5 by default (docs/architecture.md#batch-norm).
    public var epsilon: Float = 1.0000001e-5
    /// PyTorch convention (0.1 = Caffe2's 0.9).
    public var momentum: Float = 0.1
    /// Frozen BN: running statistics also in training (the 128-frame recipe).
    public var frozen: Bool = false

    /// Caffe2's epsilon, momentum 0.1, BN updated in training.
    public init() {}
    /// Decodes `model.batch_norm`; every absent key keeps its default.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        epsilon = try c.decodeIfPresent(Float.self, forKey: .epsilon) ?? 1.0000001e-5
        momentum = try c.decodeIfPresent(Float.self, forKey: .momentum) ?? 0.1
        frozen = try c.decodeIfPresent(Bool.self, forKey: .frozen) ?? false
    }
}

/// The network. Every field has the official code's default.
public struct ModelOptions: Codable, Sendable, Equatable {
    /// C2D or I3D (`model.arch`).
    public var arch: Arch = .i3d
    /// ResNet depth: 50 (3, 4, 6, 3 blocks in res2…res5) or 101 (3, 4, 23, 3).
    public var depth: Int = 50
    /// Stem and pool1/pool2 kernels and strides (`model.layout`).
    public var layout: StemLayout = .official
    /// Which conv of an I3D bottleneck is temporal (ignored for C2D, which must keep the default).
    public var inflation: Inflation = .t3x1x1
    /// Width of res2's bottleneck (64 in ResNet; smaller for tests and CPU-scale runs).
    public var width: Int = 64
    /// Number of output classes (400 for Kinetics).
    public var classes: Int = 400
    /// Dropout probability before the classifier, in training only (0.5 official).
    public var dropout: Float = 0.5
    /// The spatial crop the head's average pool was trained for (its window is crop/32).
    public var trainCrop: Int = 224
    /// Batch norm epsilon, momentum and freezing.
    public var batchNorm = BatchNormConfig()
    /// Where the non-local (or SE/GC) blocks sit and how they are built.
    public var nonlocal = NonLocalConfig()

    enum CodingKeys: String, CodingKey {
        case arch, depth, layout, inflation, width, classes, dropout, trainCrop = "train_crop"
        case batchNorm = "batch_norm", nonlocal
    }

    /// The official I3D ResNet-50 baseline with no non-local blocks, 400 classes.
    public init() {}
    /// Decodes `model`; every absent key keeps its official default.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ModelOptions()
        arch = try c.decodeIfPresent(Arch.self, forKey: .arch) ?? d.arch
        depth = try c.decodeIfPresent(Int.self, forKey: .depth) ?? d.depth
        layout = try c.decodeIfPresent(StemLayout.self, forKey: .layout) ?? d.layout
        inflation = try c.decodeIfPresent(Inflation.self, forKey: .inflation) ?? d.inflation
        width = try c.decodeIfPresent(Int.self, forKey: .width) ?? d.width
        classes = try c.decodeIfPresent(Int.self, forKey: .classes) ?? d.classes
        dropout = try c.decodeIfPresent(Float.self, forKey: .dropout) ?? d.dropout
        trainCrop = try c.decodeIfPresent(Int.self, forKey: .trainCrop) ?? d.trainCrop
        batchNorm = try c.decodeIfPresent(BatchNormConfig.self, forKey: .batchNorm) ?? d.batchNorm
        nonlocal = try c.decodeIfPresent(NonLocalConfig.self, forKey: .nonlocal) ?? d.nonlocal
    }
}

/// How clips are sampled and normalised for this model (docs/protocol.md).
public struct InputOptions: Codable, Sendable, Equatable {
    /// Frames T per clip (`input.frames`).
    public var frames: Int = 8
    /// Temporal stride between a clip's sampled frames, in video frames (`input.stride`).
    public var stride: Int = 8
    /// Pixels the shorter side is resized to before cropping (`input.short_side`; 256 at test).
    public var shortSide: Int = 256
    /// Side in pixels of the square test crop (`input.crop`); the training crop is `model.train_crop`.
    public var crop: Int = 256
    /// official ((x − 114.75)/57.375) or imagenet (per-channel, mmaction2).
    public var normalization = InputNormalization.official

    enum CodingKeys: String, CodingKey {
        case frames, stride, shortSide = "short_side", crop, normalization
    }

    /// 8 frames at stride 8, short side 256, crop 256, official normalisation: the 8×8 test input.
    public init() {}
    /// Decodes `input`; every absent key keeps its default.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = InputOptions()
        frames = try c.decodeIfPresent(Int.self, forKey: .frames) ?? d.frames
        stride = try c.decodeIfPresent(Int.self, forKey: .stride) ?? d.stride
        shortSide = try c.decodeIfPresent(Int.self, forKey: .shortSide) ?? d.shortSide
        crop = try c.decodeIfPresent(Int.self, forKey: .crop) ?? d.crop
        normalization = try c.decodeIfPresent(InputNormalization.self, forKey: .normalization) ?? d.normalization
    }
}

/// A model preset: the network, its input, and what it is.
public struct ModelConfig: Codable, Sendable, Equatable {
    /// The preset's name, e.g. "c2d_baseline_8x8_r50", shown by `nlnet info` and stored in model files.
    public var name: String = "model"
    /// Which published checkpoint (if any) this preset fits, and where it came from.
    public var checkpoint: String?
    /// The network (`model`).
    public var model = ModelOptions()
    /// The clip sampling and normalisation it expects (`input`).
    public var input = InputOptions()

    /// A preset named "model" with the default network and input (I3D ResNet-50, no blocks, 8×8).
    public init() {}
    /// Decodes a preset; absent sections keep their defaults. Call `validate(source:)` afterwards.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? "model"
        checkpoint = try c.decodeIfPresent(String.self, forKey: .checkpoint)
        model = try c.decodeIfPresent(ModelOptions.self, forKey: .model) ?? ModelOptions()
        input = try c.decodeIfPresent(InputOptions.self, forKey: .input) ?? InputOptions()
    }
}

/// A config the user got wrong, with the key path that is wrong.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    /// The file (or other origin) the config came from.
    public let source: String
    /// The dotted key that is wrong, e.g. "model.nonlocal.blocks.res3"; empty for the whole config.
    public let keyPath: String
    /// What is wrong and what is allowed.
    public let message: String
    /// An error from its parts.
    public init(source: String, keyPath: String, message: String) {
        self.source = source; self.keyPath = keyPath; self.message = message
    }
    /// "source: key.path: message".
    public var description: String { "\(source): \(keyPath.isEmpty ? "" : "\(keyPath): ")\(message)" }
}

extension ModelConfig {
    /// Stage names that can host non-local blocks or temporal groups.
    public static let stageNames = ["res2", "res3", "res4", "res5"]

    /// Blocks per stage for a depth.
    public static func blocksPerStage(depth: Int) -> [Int] { depth == 101 ? [3, 4, 23, 3] : [3, 4, 6, 3] }

    /// Upper bounds far above any published model, low enough that the network's shapes,
    /// parameter count and multiply-adds (`nlnet info`) fit in 64 bits: a preset with
    /// `width: 4611686018427387904` passed validation and then trapped on overflow.
    public static let limits = (width: 1024, classes: 1 << 20, frames: 1024, stride: 1024, side: 16384,
                                pixelsPerClip: 1 << 26, parameters: 1 << 31)

    /// Checks what Codable cannot: ranges, indices, combinations. `source` names the file.
    public func validate(source: String) throws {
        func fail(_ path: String, _ message: String) -> ConfigError { ConfigError(source: source, keyPath: path, message: message) }
        func atMost(_ path: String, _ value: Int, _ limit: Int) throws {
            guard value <= limit else { throw fail(path, "must be at most \(limit), got \(value)") }
        }
        let limits = ModelConfig.limits
        guard [50, 101].contains(model.depth) else { throw fail("model.depth", "must be 50 or 101, got \(model.depth)") }
        guard model.width >= 1 else { throw fail("model.width", "must be positive, got \(model.width)") }
        try atMost("model.width", model.width, limits.width)
        guard model.classes >= 1 else { throw fail("model.classes", "must be positive, got \(model.classes)") }
        try atMost("model.classes", model.classes, limits.classes)
        guard (0..<1).contains(model.dropout) else { throw fail("model.dropout", "must be in [0, 1), got \(model.dropout)") }
        guard model.trainCrop >= 32 else { throw fail("model.train_crop", "must be at least 32, got \(model.trainCrop)") }
        try atMost("model.train_crop", model.trainCrop, limits.side)
        guard model.batchNorm.epsilon > 0, model.batchNorm.epsilon.isFinite else {
            throw fail("model.batch_norm.epsilon", "must be a positive number, got \(model.batchNorm.epsilon)")
        }
        guard (0...1).contains(model.batchNorm.momentum) else {
            throw fail("model.batch_norm.momentum", "must be in [0, 1], got \(model.batchNorm.momentum)")
        }
        if model.arch == .c2d && model.inflation != .t3x1x1 {
            throw fail("model.inflation", "applies to i3d only (arch is c2d)")
        }
        let counts = ModelConfig.blocksPerStage(depth: model.depth)
        for (stage, indices) in model.nonlocal.blocks.sorted(by: { $0.key < $1.key }) {
            guard let s = ModelConfig.stageNames.firstIndex(of: stage) else {
                throw fail("model.nonlocal.blocks.\(stage)", "unknown stage (use res2, res3, res4 or res5)")
            }
            for i in indices where i < 0 || i >= counts[s] {
                throw fail("model.nonlocal.blocks.\(stage)",
                           "block \(i) is past the end of \(stage), which has \(counts[s]) blocks (0…\(counts[s] - 1)) at depth \(model.depth)")
            }
            guard Set(indices).count == indices.count else { throw fail("model.nonlocal.blocks.\(stage)", "repeats a block index: \(indices)") }
        }
        guard (1...4096).contains(model.nonlocal.reduction) else {
            throw fail("model.nonlocal.reduction", "must be 1…4096 (C → C/r), got \(model.nonlocal.reduction)")
        }
        for (stage, group) in model.nonlocal.temporalGroups {
            guard ModelConfig.stageNames.contains(stage) else { throw fail("model.nonlocal.temporal_groups.\(stage)", "unknown stage") }
            guard group >= 1 else { throw fail("model.nonlocal.temporal_groups.\(stage)", "must be at least 1 frame, got \(group)") }
            try atMost("model.nonlocal.temporal_groups.\(stage)", group, limits.frames)
            if model.nonlocal.mode != .spacetime {
                throw fail("model.nonlocal.temporal_groups", "applies to mode spacetime only (mode is \(model.nonlocal.mode.rawValue))")
            }
        }
        if model.nonlocal.mode == .time && model.nonlocal.subsample != .none && !model.nonlocal.blocks.values.allSatisfy(\.isEmpty) {
            throw fail("model.nonlocal.subsample",
                       "time-only blocks take keys at the query's own position, so spatial subsampling cannot apply; set subsample: none")
        }
        guard input.frames >= 1, input.stride >= 1 else { throw fail("input", "frames and stride must be positive") }
        try atMost("input.frames", input.frames, limits.frames)
        try atMost("input.stride", input.stride, limits.stride)
        guard input.crop >= 32, input.shortSide >= input.crop else {
            throw fail("input.crop", "crop \(input.crop) must be at least 32 and at most short_side \(input.shortSide)")
        }
        try atMost("input.short_side", input.shortSide, limits.side)
        guard input.frames * input.crop * input.crop <= limits.pixelsPerClip else {
            throw fail("input", "\(input.frames) frames of \(input.crop)×\(input.crop) are more than \(limits.pixelsPerClip) pixels per clip")
        }
        // The network's size (the bounds above keep every product in 64 bits).
        let parameters = Architecture(model).parameterSpecs(model).reduce(0) { $0 + $1.torchShape.reduce(1, *) }
        guard parameters <= limits.parameters else {
            throw fail("model", "the network has \(parameters) parameters, more than \(limits.parameters) (\(limits.parameters * 4 >> 30) GiB of weights)")
        }
    }
}
