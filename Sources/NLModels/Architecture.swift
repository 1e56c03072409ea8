import NLTensor

/// One 3D convolution's geometry and widths.
public struct ConvSpec: Sendable, Equatable {
    /// The weights' name without ".weight", e.g. "s2.pathway0_res0.branch2.a"
    /// (SlowFast's names, docs/checkpoints.md#pyslowfast-names).
    public var name: String
    /// Input and output channels.
    public var cin: Int, cout: Int
    /// Kernel, stride and padding as [T, H, W].
    public var kernel: [Int], stride: [Int], padding: [Int]
    /// The batch norm that follows it, by its name in model files (e.g.
    /// "s2.pathway0_res0.branch2.a_bn"); nil: none. Named here once, for the forward pass,
    /// the parameter list and the summary alike.
    public var bn: String? = nil
    /// PyTorch's (O, I, kT, kH, kW).
    public var torchShape: [Int] { [cout, cin] + kernel }
}

/// One max pool's geometry, each as [T, H, W] (docs/architecture.md#stem-and-pooling-layouts).
public struct PoolSpec: Sendable, Equatable {
    /// Kernel, stride and padding as [T, H, W].
    public var kernel: [Int], stride: [Int], padding: [Int]
}

/// A non-local block hosted after residual block `index` of a stage.
public struct NonLocalSpec: Sendable, Equatable {
    /// e.g. "s3.pathway0_nonlocal1"
    public var prefix: String
    /// Channels C of the block's input and output (the host block's output width).
    public var channels: Int
    /// Channels of θ, φ and g: C/2, the paper's bottleneck.
    public var inner: Int { channels / 2 }
    /// The block's layers by their names in model files (SlowFast's, docs/checkpoints.md):
    /// the θ, φ, g embeddings, the concatenation instantiation's projection, W_z and its BN.
    public var theta: String { prefix + ".conv_theta" }
    /// φ, the keys' embedding.
    public var phi: String { prefix + ".conv_phi" }
    /// g, the values' embedding.
    public var g: String { prefix + ".conv_g" }
    /// w_f of the concatenation instantiation: [θ, φ] → one affinity.
    public var concatProject: String { prefix + ".concat_project" }
    /// W_z, back to C channels.
    public var out: String { prefix + ".conv_out" }
    /// The BN after W_z (γ = 0 at init).
    public var outBN: String { prefix + ".bn" }
    /// Frames per temporal group (0: none).
    public var temporalGroup: Int
}

/// A bottleneck: 1×1 (a) → 3×3 (b, strided) → 1×1 (c), plus a projection shortcut (branch1)
/// on a stage's first block.
public struct BlockSpec: Sendable, Equatable {
    /// e.g. "s3.pathway0_res1"
    public var prefix: String
    /// branch2a (1×1×1 or 3×1×1), branch2b (1×3×3 or 3×3×3, with the stage's spatial stride),
    /// branch2c (1×1×1, 4× wider).
    public var a: ConvSpec, b: ConvSpec, c: ConvSpec
    /// The projection (branch1) where the width or the stride changes; nil: identity shortcut.
    public var shortcut: ConvSpec?
    /// The block in the non-local slot after this residual block (non-local, SE or GC); nil: none.
    public var nonlocal: NonLocalSpec?
}

/// One residual stage (res2 … res5) of the backbone.
public struct StageSpec: Sendable, Equatable {
    /// "res2" … "res5"
    public var name: String
    /// The stage's bottleneck blocks, first (strided, projected) to last.
    public var blocks: [BlockSpec]
}

/// The network a config describes (docs/architecture.md), independent of weights: what the
/// forward pass, the initialiser, the checkpoint loader and the FLOP counter all walk.
public struct Architecture: Sendable {
    /// The classifier's name in model files: "head.projection" (.weight, .bias).
    public static let head = "head.projection"
    /// conv1: 7×7 spatially, 5 frames deep for I3D (1 for C2D), stride 2 in space
    /// (docs/architecture.md#stem-and-pooling-layouts).
    public let stem: ConvSpec
    /// The max pool after conv1, per the stem layout.
    public let pool1: PoolSpec
    /// After res2 (temporal downsampling).
    public let pool2: PoolSpec
    /// res2 … res5.
    public let stages: [StageSpec]
    /// Channels of res5's output, the classifier's input (2048 at width 64).
    public let features: Int
    /// Classes the head predicts.
    public let classes: Int
    /// The head's average-pool window in the fully convolutional test: (H, W) of res5 at
    /// the training crop (7×7 for 224); T is the whole of res5.
    public let headWindow: Int

    /// The layer geometry of `options`: depth, C2D/I3D and inflation pattern, stem layout, non-local slots.
    public init(_ options: ModelOptions) {
        let i3d = options.arch == .i3d
        let w = options.width
        let kT = i3d ? 5 : 1
        let stride1 = [StemLayout.officialOrg, .paper].contains(options.layout) ? 2 : 1
        stem = ConvSpec(name: "s1.pathway0_stem.conv", cin: 3, cout: w, kernel: [kT, 7, 7],
                        stride: [stride1, 2, 2], padding: [kT / 2, 3, 3], bn: "s1.pathway0_stem.bn")
        switch options.layout {
        case .official: pool1 = PoolSpec(kernel: [1, 3, 3], stride: [1, 2, 2], padding: [0, 0, 0])
        case .officialOrg: pool1 = PoolSpec(kernel: [2, 3, 3], stride: [2, 2, 2], padding: [0, 0, 0])
        case .slowfast: pool1 = PoolSpec(kernel: [1, 3, 3], stride: [1, 2, 2], padding: [0, 1, 1])
        case .paper: pool1 = PoolSpec(kernel: [3, 3, 3], stride: [2, 2, 2], padding: [1, 1, 1])
        }
        pool2 = options.layout == .paper
            ? PoolSpec(kernel: [3, 1, 1], stride: [2, 1, 1], padding: [1, 0, 0])
            : PoolSpec(kernel: [2, 1, 1], stride: [2, 1, 1], padding: [0, 0, 0])

        let counts = ModelConfig.blocksPerStage(depth: options.depth)
        var stages: [StageSpec] = []
        var cin = w
        for (s, count) in counts.enumerated() {
            let stageName = ModelConfig.stageNames[s]
            let inner = w << s, cout = 4 * inner
            let nlBlocks = Set(options.nonlocal.blocks[stageName] ?? [])
            var blocks: [BlockSpec] = []
            for i in 0..<count {
                let prefix = "s\(s + 2).pathway0_res\(i)"
                let spatial = (i == 0 && s > 0) ? 2 : 1
                // Official inflation (docs/architecture.md#inflation): res2 every block, res3/res4 even blocks,
                // res5 odd blocks.
                let inflated = i3d && (s == 0 || (s < 3 ? i % 2 == 0 : i % 2 == 1))
                let onA = inflated && options.inflation == .t3x1x1, onB = inflated && options.inflation == .t3x3x3
                let blockIn = i == 0 ? cin : cout
                let a = ConvSpec(name: "\(prefix).branch2.a", cin: blockIn, cout: inner, kernel: [onA ? 3 : 1, 1, 1],
                                 stride: [1, 1, 1], padding: [onA ? 1 : 0, 0, 0], bn: "\(prefix).branch2.a_bn")
                let b = ConvSpec(name: "\(prefix).branch2.b", cin: inner, cout: inner, kernel: [onB ? 3 : 1, 3, 3],
                                 stride: [1, spatial, spatial], padding: [onB ? 1 : 0, 1, 1], bn: "\(prefix).branch2.b_bn")
                let c = ConvSpec(name: "\(prefix).branch2.c", cin: inner, cout: cout, kernel: [1, 1, 1],
                                 stride: [1, 1, 1], padding: [0, 0, 0], bn: "\(prefix).branch2.c_bn")
                let shortcut = (blockIn != cout || spatial != 1)
                    ? ConvSpec(name: "\(prefix).branch1", cin: blockIn, cout: cout, kernel: [1, 1, 1],
                               stride: [1, spatial, spatial], padding: [0, 0, 0], bn: "\(prefix).branch1_bn") : nil
                let nl = nlBlocks.contains(i)
                    ? NonLocalSpec(prefix: "s\(s + 2).pathway0_\(options.nonlocal.type.prefix(i))", channels: cout,
                                   temporalGroup: options.nonlocal.temporalGroups[stageName] ?? 0) : nil
                blocks.append(BlockSpec(prefix: prefix, a: a, b: b, c: c, shortcut: shortcut, nonlocal: nl))
            }
            stages.append(StageSpec(name: stageName, blocks: blocks))
            cin = cout
        }
        self.stages = stages
        features = cin
        classes = options.classes
        headWindow = max(1, options.trainCrop / 32)
    }

    /// Every convolution, in forward order (NL convs excluded).
    public var convolutions: [ConvSpec] {
        [stem] + stages.flatMap { $0.blocks.flatMap { [$0.a, $0.b, $0.c] + ($0.shortcut.map { [$0] } ?? []) } }
    }
}
