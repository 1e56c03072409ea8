import Foundation
import Yams

/// Reads a preset: YAML → key check → overrides → block presets → Codable → validation.
/// Every mistake is one `ConfigError` naming the file and the key path.
extension ModelConfig {
    /// Keys each mapping may hold; anything else is a typo the user should hear about.
    static let schema: [String: Set<String>] = [
        "": ["name", "checkpoint", "model", "input", "train"],
        "model": ["arch", "depth", "layout", "inflation", "width", "classes", "dropout", "train_crop", "batch_norm", "nonlocal"],
        "model.batch_norm": ["epsilon", "momentum", "frozen"],
        "model.nonlocal": ["blocks", "instantiation", "scale", "mode", "subsample", "out_bias", "norm", "temporal_groups", "init", "type", "reduction"],
        "model.nonlocal.blocks": Set(stageNames),
        "model.nonlocal.temporal_groups": Set(stageNames),
        "input": ["frames", "stride", "short_side", "crop", "normalization"],
    ]

    /// Named placements for `model.nonlocal.blocks` (docs/architecture.md#non-local-placement; the paper's Table 2a–c).
    public static let blockPresets = ["none", "1-block", "5-block", "5-block-every-other", "10-block",
                                      "stage:res2", "stage:res3", "stage:res4", "stage:res5"]

    /// Loads `path`, applying `overrides` ("model.nonlocal.scale=false", YAML values).
    /// `origins` names each override in errors (default "--set <override>").
    public static func load(path: String, overrides: [String] = [], origins: [String]? = nil) throws -> ModelConfig {
        try parse(yaml: try ConfigText.read(path), source: path, overrides: overrides, origins: origins)
    }

    /// Parses a preset's YAML text: `source` names it in errors. Applies `overrides` like `load`, fills the
    /// defaults, then `validate(source:)`. Throws `ConfigError` with the key path at fault.
    public static func parse(yaml text: String, source: String, overrides: [String] = [], origins: [String]? = nil) throws -> ModelConfig {
        var tree: Any
        tree = try SafeYAML.load(text, source: source) ?? [String: Any]()
        guard tree is [String: Any] else { throw ConfigError(source: source, keyPath: "", message: "the top level must be a mapping (key: value lines)") }
        let blame = OverrideBlame(overrides: overrides, origins: origins)
        for (i, override) in overrides.enumerated() {
            let origin = origins.flatMap { i < $0.count ? $0[i] : nil } ?? "--set \(override)"
            try apply(override: override, to: &tree, source: origin)
        }
        do {
            try checkKeys(tree, path: "", source: source)
            try expandBlockPreset(&tree, source: source)
            let config: ModelConfig
            do {
                let normalized = try SafeYAML.dump(tree, source: source)
                config = try YAMLDecoder().decode(ModelConfig.self, from: normalized)
            } catch let error as DecodingError {
                throw ConfigText.describe(error, source: source, tree: tree, allowedValues: allowedValues)
            }
            try config.validate(source: source)
            return config
        } catch let error as ConfigError {
            throw blame.blame(error)
        }
    }

    /// The config as YAML (for weights' metadata and `nlnet info`).
    /// The config as YAML with sorted keys: the same text in every process (dictionaries such
    /// as the block placement would otherwise come out in per-process order, and run digests
    /// of `nlnet ablate` would differ between runs).
    public func yaml() throws -> String {
        let encoder = YAMLEncoder()
        encoder.options.sortKeys = true
        return try encoder.encode(self)
    }

    static func checkKeys(_ node: Any, path: String, source: String) throws {
        guard let map = node as? [String: Any] else { return }
        if let allowed = schema[path] {
            for key in map.keys.sorted() where !allowed.contains(key) {
                let full = path.isEmpty ? key : "\(path).\(key)"
                throw ConfigError(source: source, keyPath: full, message: ConfigText.unknownKey(key, at: path, allowed: allowed))
            }
        }
        for (key, value) in map { try checkKeys(value, path: path.isEmpty ? key : "\(path).\(key)", source: source) }
    }

    /// "a.b.c=value": sets the value (parsed as YAML) at the key path, creating mappings.
    /// `source` is the command-line text the override came from: a key the schema does not
    /// know is blamed on it, with the nearest known key.
    static func apply(override text: String, to tree: inout Any, source: String) throws {
        let override = try ConfigOverride(text, source: source)
        let (path, value) = (override.keyPath, override.value)
        for depth in path.indices {
            let parent = path[..<depth].joined(separator: ".")
            guard let allowed = schema[parent] else { break }
            if !allowed.contains(path[depth]) {
                throw ConfigError(source: source, keyPath: "", message: ConfigText.unknownKey(path[depth], at: parent, allowed: allowed))
            }
        }
        func set(_ node: Any, _ rest: ArraySlice<String>) -> Any {
            var map = node as? [String: Any] ?? [:]
            let key = rest.first!
            map[key] = rest.count == 1 ? value : set(map[key] ?? [String: Any](), rest.dropFirst())
            return map
        }
        tree = set(tree, path[...])
    }

    static func expandBlockPreset(_ tree: inout Any, source: String) throws {
        guard var root = tree as? [String: Any], var model = root["model"] as? [String: Any],
              var nonlocal = model["nonlocal"] as? [String: Any], let preset = nonlocal["blocks"] as? String else { return }
        let depth = model["depth"] as? Int ?? 50
        nonlocal["blocks"] = try blocks(forPreset: preset, depth: depth, source: source)
        model["nonlocal"] = nonlocal
        root["model"] = model
        tree = root
    }

    /// Block indices for a named placement.
    public static func blocks(forPreset preset: String, depth: Int, source: String = "config") throws -> [String: [Int]] {
        let counts = blocksPerStage(depth: depth)
        switch preset {
        case "none": return [:]
        // "right before the last residual block of res4"
        case "1-block": return ["res4": [counts[2] - 2]]
        // R101: Caffe2's layer_mod 7 in res4 (docs/architecture.md#resnet-101)
        case "5-block": return depth == 101 ? ["res3": [1, 3], "res4": [6, 13, 20]] : ["res3": [1, 3], "res4": [1, 3, 5]]
        // SlowFast's R101 placement
        case "5-block-every-other": return ["res3": [1, 3], "res4": [1, 3, 5]]
        case "10-block":
            guard depth == 50 else {
                throw ConfigError(source: source, keyPath: "model.nonlocal.blocks",
                                  message: "10-block is defined for ResNet-50 only (the official code cannot build the R101 variant: "
                                      + "docs/architecture.md#resnet-101); list the blocks instead")
            }
            return ["res3": Array(0..<4), "res4": Array(0..<6)]
        default:
            if preset.hasPrefix("stage:"), let s = stageNames.firstIndex(of: String(preset.dropFirst(6))) {
                return [stageNames[s]: [counts[s] - 2]]
            }
            throw ConfigError(source: source, keyPath: "model.nonlocal.blocks",
                              message: "unknown preset '\(preset)' (use \(blockPresets.joined(separator: ", ")) or a mapping like {res3: [1, 3]})")
        }
    }

    static func allowedValues(_ keyPath: String) -> String? {
        let table: [String: [String]] = [
            "model.arch": Arch.allCases.map(\.rawValue), "model.layout": StemLayout.allCases.map(\.rawValue),
            "model.inflation": Inflation.allCases.map(\.rawValue),
            "model.nonlocal.instantiation": Instantiation.allCases.map(\.rawValue),
            "model.nonlocal.mode": NonLocalMode.allCases.map(\.rawValue),
            "model.nonlocal.subsample": Subsampling.allCases.map(\.rawValue),
            "model.nonlocal.norm": NonLocalNorm.allCases.map(\.rawValue),
            "model.nonlocal.init": NonLocalInit.allCases.map(\.rawValue),
            "input.normalization": InputNormalization.allCases.map(\.rawValue),
        ]
        return table[keyPath]?.joined(separator: ", ")
    }
}

/// One override, "key.path=value" (`--set`, ablation variants): the key path and the value
/// parsed as YAML (the text itself when it is not YAML). The one parser of override text, for
/// the model config and the training recipe alike.
public struct ConfigOverride {
    /// The key path before '=', split at '.': ["model", "nonlocal", "instantiation"].
    public let keyPath: [String]
    /// The text after '=' as YAML (a number, list, mapping…), or that text itself.
    public let value: Any

    /// Throws a `ConfigError` blamed on `source` when there is no '=' or the key path has an
    /// empty part.
    public init(_ text: String, source: String) throws {
        guard let eq = text.firstIndex(of: "=") else {
            throw ConfigError(source: source, keyPath: "", message: "expected key.path=value, e.g. model.nonlocal.instantiation=dot_product")
        }
        keyPath = text[..<eq].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !keyPath.isEmpty, !keyPath.contains("") else {
            throw ConfigError(source: source, keyPath: "", message: "the key path before '=' is empty or has an empty part")
        }
        let raw = String(text[text.index(after: eq)...])
        value = (try? SafeYAML.load(raw, source: source)) ?? raw
    }
}
