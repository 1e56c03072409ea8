import Foundation
import NLTensor

/// A model on disk: safetensors with SlowFast's names in PyTorch's layouts (so files move
/// between this tool and PyTorch unchanged), plus the config as YAML in the metadata, so a
/// weights file alone describes its network.
extension ResNet3D {
    /// The safetensors metadata key holding the model's `ModelConfig` as YAML.
    public static let configMetadataKey = "nlnet.config"

    /// Writes the weights as safetensors in PyTorch's layouts under SlowFast's names, with the config
    /// under `configMetadataKey`, "format": "pt" and any `extra` metadata. Throws when the file cannot be written.
    public func save(to path: String, metadata extra: [String: String] = [:]) throws {
        var tensors: [String: Tensor] = [:]
        for spec in specs { tensors[spec.name] = spec.toTorch(weights[spec.name]!) }
        var metadata = extra
        metadata[ResNet3D.configMetadataKey] = try config.yaml()
        metadata["format"] = "pt"
        try SafeTensors.write(tensors, metadata: metadata, order: specs.map(\.name), to: path)
    }

    /// The metadata value that marks a training checkpoint: weights in this tool's own layouts
    /// (see `ParameterSpec.shape`), beside optimizer state under `optimizer.`.
    public static let internalLayout = "nlnet-internal"

    /// Loads a weights file; its embedded config unless `config` is given (then the file's
    /// tensors must fit that config). A training checkpoint loads too (its weights; the
    /// optimizer state is left). Errors name the file and the tensor.
    public static func load(path: String, config: ModelConfig? = nil) throws -> ResNet3D {
        let file = try SafeTensors(contentsOf: path)
        let resolved: ModelConfig
        if let config {
            resolved = config
        } else if let yaml = file.metadata[configMetadataKey] {
            resolved = try ModelConfig.parse(yaml: yaml, source: "\(path) (embedded config)")
        } else {
            throw ModelError("\(path): has no embedded config (metadata '\(configMetadataKey)'); pass --config")
        }
        let specs = Architecture(resolved.model).parameterSpecs(resolved.model)
        let isCheckpoint = file.metadata["layout"] == internalLayout
        var weights: [String: Tensor] = [:]
        for spec in specs {
            guard let t = file[spec.name] else {
                let missing = specs.filter { file[$0.name] == nil }
                throw ModelError("\(path): missing tensor '\(spec.name)' (shape \(spec.torchShape))"
                                 + (missing.count > 1 ? " and \(missing.count - 1) more" : "") + " for config '\(resolved.name)'")
            }
            let needed = isCheckpoint ? spec.shape : spec.torchShape
            guard t.shape == needed else {
                throw ModelError("\(path): tensor '\(spec.name)' has shape \(t.shape), config '\(resolved.name)' needs \(needed)")
            }
            weights[spec.name] = isCheckpoint ? t : spec.fromTorch(t)
        }
        let expected = Set(specs.map(\.name))
        if let extra = file.names.first(where: { !expected.contains($0) && !(isCheckpoint && $0.hasPrefix("optimizer.")) }) {
            throw ModelError("\(path): unexpected tensor '\(extra)' (shape \(file[extra]!.shape)); config '\(resolved.name)' has no such layer")
        }
        return try ResNet3D(config: resolved, weights: weights)
    }
}

/// What a model file holds for an app: the network, its class names (when the file stores
/// them) and where its weights came from (when converted from an official checkpoint).
/// `ResNet3D.load`/`save` read and write the network alone; this type adds the rest of the
/// file's metadata under one set of keys.
public struct ModelFile {
    /// The metadata key of the class names: one per line, in the head's output order.
    public static let labelsKey = "nlnet.labels"
    /// The metadata key of `source`.
    public static let sourceKey = "nlnet.source"

    /// The network with its config and weights.
    public var model: ResNet3D
    /// One name per class, in the head's order.
    public var labels: [String]?
    /// The file the weights were converted from, e.g. an official checkpoint's name.
    public var source: String?

    /// A model file's contents, to be written with `save(to:metadata:)`.
    public init(model: ResNet3D, labels: [String]? = nil, source: String? = nil) {
        self.model = model
        self.labels = labels
        self.source = source
    }

    /// Loads the network (see `ResNet3D.load`) and the stored class names and source. Stored
    /// names that do not match the head's class count are an error naming the file.
    public static func load(path: String, config: ModelConfig? = nil) throws -> ModelFile {
        let model = try ResNet3D.load(path: path, config: config)
        let metadata = try SafeTensors(contentsOf: path).metadata
        let labels = try storedLabels(path, metadata: metadata, classes: model.architecture.classes)
        return ModelFile(model: model, labels: labels, source: metadata[sourceKey])
    }

    /// The class names stored in a model file, without loading its network.
    public static func storedLabels(_ path: String) throws -> [String]? {
        try storedLabels(path, metadata: SafeTensors(contentsOf: path).metadata, classes: nil)
    }

    private static func storedLabels(_ path: String, metadata: [String: String], classes: Int?) throws -> [String]? {
        guard let text = metadata[labelsKey] else { return nil }
        let names = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if let classes, names.count != classes {
            throw ModelError("\(path): metadata '\(labelsKey)' has \(names.count) names for a model with \(classes) classes")
        }
        return names
    }

    /// Writes the network with its labels and source (and any `extra` metadata).
    public func save(to path: String, metadata extra: [String: String] = [:]) throws {
        var metadata = extra
        if let labels { metadata[Self.labelsKey] = labels.joined(separator: "\n") }
        if let source { metadata[Self.sourceKey] = source }
        try model.save(to: path, metadata: metadata)
    }
}
