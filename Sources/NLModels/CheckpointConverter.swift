import Foundation
import NLTensor

/// What a conversion did, for the user to read.
public struct ConversionReport: Sendable {
    /// The checkpoint file converted.
    public var source: String
    /// The naming scheme detected: "Caffe2 blobs", "PySlowFast", "mmaction2" or "torchvision ResNet".
    public var scheme: String
    /// Tensors taken from the checkpoint.
    public var loaded = 0
    /// (name in the file, why it was left out)
    public var skipped: [(String, String)] = []
    /// Tensors the checkpoint lacks that were initialised as the official code does.
    public var initialized: [String] = []
    /// ImageNet 2D kernels inflated to 3D: repeated along time and divided by kT (docs/architecture.md#inflation).
    public var inflated = 0
    /// Assumptions made in detecting the config (layout, clip, instantiation, BN), for the user to check.
    public var notes: [String] = []
}

/// Official checkpoints → this project's models (docs/checkpoints.md): Caffe2 .pkl (video-nonlocal-net,
/// PySlowFast's c2 zoo), PySlowFast .pyth, mmaction2 .pth, and ImageNet ResNet 2D weights
/// (torchvision or Caffe2 names), inflated.
public enum CheckpointConverter {
    /// The checkpoint schemes read, by how they name the layers (docs/checkpoints.md).
    public enum Scheme: String, Sendable { case caffe2 = "Caffe2 blobs", slowfast = "PySlowFast", mmaction2 = "mmaction2", torchvision = "torchvision ResNet" }

    /// Reads a checkpoint, maps its names to SlowFast's, and builds the network. Without `given` the config is
    /// detected from the tensors (`report.notes` says what was assumed); ImageNet weights need `given` and
    /// fill the layers they lack. Throws `ModelError` for an unreadable or unrecognised file or a missing tensor.
    public static func convert(path: String, config given: ModelConfig?) throws -> (ResNet3D, ConversionReport) {
        let raw = try CheckpointReader.read(path: path)
        let scheme = try detectScheme(raw, path: path)
        var report = ConversionReport(source: path, scheme: scheme.rawValue)
        report.skipped = raw.skipped
        // File names → canonical (SlowFast) names, PyTorch layouts.
        var canonical: [String: Tensor] = [:]
        for name in raw.order {
            if let mapped = canonicalName(name, scheme: scheme) { canonical[mapped] = raw.tensors[name]! }
            else {
                report.skipped.append((name, scheme == .torchvision && name.hasPrefix("fc.")
                                       ? "ImageNet classifier (a new head is initialised)" : "no counterpart in the network"))
            }
        }
        let imagenet = scheme == .torchvision || (canonical["s1.pathway0_stem.conv.weight"]?.rank == 4)
        let config: ModelConfig
        if let given { config = given } else {
            guard !imagenet else {
                throw ModelError("\(path): ImageNet 2D weights fit any C2D/I3D network; pass --config for the one to build")
            }
            (config, report.notes) = try detectConfig(canonical, scheme: scheme, path: path)
        }
        // Frozen-BN ("affine") checkpoints store BN as scale and shift only: running statistics
        // (0, 1 − ε) make inference compute x·s + b exactly.
        let architecture = Architecture(config.model)
        let specs = architecture.parameterSpecs(config.model)
        var rng = RandomSource(seed: 0)
        var weights: [String: Tensor] = [:]
        for spec in specs {
            guard var t = canonical.removeValue(forKey: spec.name) else {
                let isStatistic = spec.name.hasSuffix(".running_mean") || spec.name.hasSuffix(".running_var")
                let bnPrefix = spec.name.split(separator: ".").dropLast().joined(separator: ".")
                if isStatistic && weights[bnPrefix + ".weight"] != nil {
                    let value: Float = spec.name.hasSuffix(".running_mean") ? 0 : 1 - config.model.batchNorm.epsilon
                    weights[spec.name] = Tensor(repeating: value, shape: spec.shape)
                    report.initialized.append(spec.name + " (affine BN)")
                    continue
                }
                guard imagenet else {
                    throw ModelError("\(path): missing tensor '\(spec.name)' (shape \(spec.torchShape)) for config '\(config.name)'")
                }
                weights[spec.name] = spec.initialized(using: &rng)
                report.initialized.append(spec.name)
                continue
            }
            // ImageNet 2D kernels: repeat along time and divide by its length (docs/architecture.md#inflation).
            if t.rank == 4 && spec.torchShape.count == 5 && Array(t.shape.prefix(2)) == Array(spec.torchShape.prefix(2))
                && Array(t.shape.suffix(2)) == Array(spec.torchShape.suffix(2)) {
                t = inflate(t, frames: spec.torchShape[2])
                report.inflated += 1
            }
            // A blob with fewer dims than its target gets trailing 1s (Caffe2 pred_w as a 1×1×1 conv).
            if t.shape != spec.torchShape && t.count == spec.torchShape.reduce(1, *) && spec.torchShape.starts(with: t.shape)
                && spec.torchShape.dropFirst(t.rank).allSatisfy({ $0 == 1 }) {
                t = t.reshaped(spec.torchShape)
            }
            guard t.shape == spec.torchShape else {
                throw ModelError("\(path): tensor '\(spec.name)' has shape \(t.shape), config '\(config.name)' needs \(spec.torchShape)")
            }
            weights[spec.name] = spec.fromTorch(t)
            report.loaded += 1
        }
        for name in canonical.keys.sorted() { report.skipped.append((name, "not in config '\(config.name)'")) }
        return (try ResNet3D(config: config, weights: weights), report)
    }

    static func detectScheme(_ raw: RawCheckpoint, path: String) throws -> Scheme {
        let names = raw.order
        if raw.format == .caffe2 { return .caffe2 }
        if names.contains(where: { $0.hasPrefix("backbone.") }) { return .mmaction2 }
        if names.contains(where: { $0.hasPrefix("s1.pathway0_stem") }) { return .slowfast }
        if names.contains("conv1.weight") && names.contains(where: { $0.hasPrefix("layer1.") }) { return .torchvision }
        throw ModelError("\(path): names like '\(names.prefix(3).joined(separator: "', '"))' match no known scheme (PySlowFast, mmaction2, torchvision)")
    }

    static let bnLeaf = ["s": "weight", "b": "bias", "rm": "running_mean", "riv": "running_var"]

    /// The SlowFast name of a checkpoint entry, nil when the network has no such tensor.
    public static func canonicalName(_ n: String, scheme: Scheme) -> String? {
        switch scheme {
        case .slowfast: return n
        case .caffe2: return caffe2Name(n)
        case .mmaction2: return mmactionName(n)
        case .torchvision: return torchvisionName(n)
        }
    }

    static func caffe2Name(_ n: String) -> String? {
        if n == "conv1_w" { return "s1.pathway0_stem.conv.weight" }
        if n == "pred_w" { return Architecture.head + ".weight" }
        if n == "pred_b" { return Architecture.head + ".bias" }
        if n.hasPrefix("res_conv1_bn_"), let leaf = bnLeaf[String(n.dropFirst("res_conv1_bn_".count))] {
            return "s1.pathway0_stem.bn.\(leaf)"
        }
        let parts = n.split(separator: "_").map(String.init)
        if n.hasPrefix("res"), parts.count >= 4, let stage = Int(parts[0].dropFirst(3)), let block = Int(parts[1]) {
            // res{S}_{i}_branch{1,2a,2b,2c}_{w | bn_{s,b,rm,riv}}
            let prefix = "s\(stage).pathway0_res\(block)"
            let branch = parts[2]
            let conv: String
            switch branch {
            case "branch1": conv = "branch1"
            case "branch2a": conv = "branch2.a"
            case "branch2b": conv = "branch2.b"
            case "branch2c": conv = "branch2.c"
            default: return nil
            }
            if parts.count == 4 && parts[3] == "w" { return "\(prefix).\(conv).weight" }
            if parts.count == 5 && parts[3] == "bn", let leaf = bnLeaf[parts[4]] { return "\(prefix).\(conv)_bn.\(leaf)" }
            return nil
        }
        if n.hasPrefix("nonlocal_conv"), parts.count >= 4, let stage = Int(parts[1].dropFirst("conv".count)), let block = Int(parts[2]) {
            // nonlocal_conv{S}_{i}_{theta,phi,g,out}_{w,b} | nonlocal_conv{S}_{i}_bn_{s,b,rm,riv}
            let prefix = "s\(stage).pathway0_nonlocal\(block)"
            if parts.count == 5, ["theta", "phi", "g", "out"].contains(parts[3]), ["w", "b"].contains(parts[4]) {
                return "\(prefix).conv_\(parts[3]).\(parts[4] == "w" ? "weight" : "bias")"
            }
            if parts.count == 5 && parts[3] == "bn", let leaf = bnLeaf[parts[4]] { return "\(prefix).bn.\(leaf)" }
        }
        return nil
    }

    static func mmactionName(_ n: String) -> String? {
        if n.hasPrefix("cls_head.fc_cls.") { return Architecture.head + "." + n.dropFirst("cls_head.fc_cls.".count) }
        if n.hasPrefix("backbone.conv1.conv.") { return "s1.pathway0_stem.conv." + n.dropFirst("backbone.conv1.conv.".count) }
        if n.hasPrefix("backbone.conv1.bn.") { return "s1.pathway0_stem.bn." + n.dropFirst("backbone.conv1.bn.".count) }
        let p = n.split(separator: ".").map(String.init)
        guard p.count >= 5, p[0] == "backbone", p[1].hasPrefix("layer"), let layer = Int(p[1].dropFirst(5)), let block = Int(p[2]) else { return nil }
        let stage = layer + 1
        let leaf = p.last!
        let res = "s\(stage).pathway0_res\(block)", nl = "s\(stage).pathway0_nonlocal\(block)"
        switch p[3] {
        case "conv1", "conv2", "conv3":
            let conv = ["conv1": "a", "conv2": "b", "conv3": "c"][p[3]]!
            if p[4] == "conv" { return "\(res).branch2.\(conv).\(leaf)" }
            if p[4] == "bn" { return "\(res).branch2.\(conv)_bn.\(leaf)" }
        case "downsample":
            if p[4] == "conv" { return "\(res).branch1.\(leaf)" }
            if p[4] == "bn" { return "\(res).branch1_bn.\(leaf)" }
        case "non_local_block":
            // theta.conv, phi.0.conv / phi.conv, g.0.conv / g.conv, conv_out.conv, conv_out.bn, concat_project.conv
            let part = p[4]
            if part == "conv_out" && p.count >= 6 && p[5] == "bn" { return "\(nl).bn.\(leaf)" }
            if part == "concat_project" { return "\(nl).concat_project.\(leaf)" }
            if ["theta", "phi", "g", "conv_out"].contains(part) && p.contains("conv") {
                return "\(nl).\(part == "conv_out" ? "conv_out" : "conv_" + part).\(leaf)"
            }
        default: break
        }
        return nil
    }

    static func torchvisionName(_ n: String) -> String? {
        if n == "conv1.weight" { return "s1.pathway0_stem.conv.weight" }
        if n.hasPrefix("bn1.") { return "s1.pathway0_stem.bn." + n.dropFirst(4) }
        let p = n.split(separator: ".").map(String.init)
        guard p.count >= 4, p[0].hasPrefix("layer"), let layer = Int(p[0].dropFirst(5)), let block = Int(p[1]) else { return nil }
        let res = "s\(layer + 1).pathway0_res\(block)", leaf = p.last!
        switch p[2] {
        case "conv1": return "\(res).branch2.a.\(leaf)"
        case "conv2": return "\(res).branch2.b.\(leaf)"
        case "conv3": return "\(res).branch2.c.\(leaf)"
        case "bn1": return "\(res).branch2.a_bn.\(leaf)"
        case "bn2": return "\(res).branch2.b_bn.\(leaf)"
        case "bn3": return "\(res).branch2.c_bn.\(leaf)"
        case "downsample": return p[3] == "0" ? "\(res).branch1.\(leaf)" : "\(res).branch1_bn.\(leaf)"
        default: return nil
        }
    }

    /// (O, I, kH, kW) → (O, I, kT, kH, kW) with every frame w/kT.
    public static func inflate(_ w: Tensor, frames kT: Int) -> Tensor {
        let (o, i, h, wd) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let plane = h * wd
        let values = w.scalars
        var out = [Float](repeating: 0, count: o * i * kT * plane)
        for oi in 0..<(o * i) {
            for t in 0..<kT {
                for s in 0..<plane { out[(oi * kT + t) * plane + s] = values[oi * plane + s] / Float(kT) }
            }
        }
        return Tensor(shape: [o, i, kT, h, wd], scalars: out)
    }

    /// The network a checkpoint's tensors describe; what the weights cannot tell (layout,
    /// clip length, dot product vs embedded Gaussian) follows the source's conventions, and the
    /// notes say so.
    static func detectConfig(_ t: [String: Tensor], scheme: Scheme, path: String) throws -> (ModelConfig, [String]) {
        guard let stem = t["s1.pathway0_stem.conv.weight"], stem.rank == 5, let head = t["head.projection.weight"] else {
            throw ModelError("\(path): no stem conv or head found; pass --config")
        }
        var c = ModelConfig()
        var notes: [String] = []
        c.name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        c.checkpoint = URL(fileURLWithPath: path).lastPathComponent
        c.model.arch = stem.shape[2] > 1 ? .i3d : .c2d
        c.model.width = stem.shape[0]
        c.model.classes = head.shape[0]
        let res4 = Set(t.keys.filter { $0.hasPrefix("s4.pathway0_res") }.compactMap { Int($0.dropFirst("s4.pathway0_res".count).prefix { $0.isNumber }) })
        c.model.depth = res4.count > 6 ? 101 : 50
        if t.contains(where: { $0.key.contains("branch2.b.weight") && $0.value.rank == 5 && $0.value.shape[2] == 3 }) { c.model.inflation = .t3x3x3 }
        var blocks: [String: [Int]] = [:]
        for key in t.keys where key.contains(".pathway0_nonlocal") && key.hasSuffix("conv_g.weight") {
            let stage = Int(String(key.dropFirst(1).prefix { $0.isNumber }))!
            let index = Int(key.split(separator: ".")[1].dropFirst("pathway0_nonlocal".count))!
            blocks["res\(stage)", default: []].append(index)
        }
        c.model.nonlocal.blocks = blocks.mapValues { $0.sorted() }
        let nlKeys = t.keys.filter { $0.contains("nonlocal") }
        if !nlKeys.isEmpty {
            if !nlKeys.contains(where: { $0.contains("conv_theta") }) { c.model.nonlocal.instantiation = .gaussian }
            else if nlKeys.contains(where: { $0.contains("concat_project") }) { c.model.nonlocal.instantiation = .concatenation }
            else {
                notes.append("non-local blocks read as embedded Gaussian; a dot-product model has the same tensors "
                             + "(use --config or --set model.nonlocal.instantiation=dot_product)")
            }
            c.model.nonlocal.outBias = nlKeys.contains { $0.hasSuffix("conv_out.bias") }
            if !nlKeys.contains(where: { $0.hasSuffix(".bn.weight") }) {
                c.model.nonlocal.norm = .none
                c.model.nonlocal.temporalGroups = blocks["res3"] != nil ? ["res3": 4] : [:]
                notes.append("non-local blocks without BN: an affine (frozen-BN) long-clip model; "
                             + "res3 blocks run in temporal groups of 4 frames (docs/nonlocal-block.md#temporal-groups)")
            }
        }
        if t["s1.pathway0_stem.bn.running_mean"] == nil {
            c.model.batchNorm.frozen = true
            notes.append("BN stored as scale and shift only (affine): BN frozen")
        }
        switch scheme {
        case .caffe2:
            c.model.layout = .official
            notes.append("layout and clip assumed official 8×8 (resnet_video); for 32×2 or 128×1 checkpoints pass the matching Configs/ preset")
        case .slowfast:
            c.model.layout = .slowfast
            notes.append("layout assumed PySlowFast's (padded pool1), clip 8×8")
        case .mmaction2:
            c.model.layout = .slowfast
            c.model.nonlocal.subsample = .after
            c.model.nonlocal.scale = false
            c.input.normalization = .imagenet
            c.input.frames = 32; c.input.stride = 2
            notes.append("mmaction2 conventions: pool1 padded, NL pooling after φ/g, no scale, ImageNet normalisation, 32×2 clips")
        case .torchvision: break
        }
        try c.validate(source: path)
        return (c, notes)
    }
}
