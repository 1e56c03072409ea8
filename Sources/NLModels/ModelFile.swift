import Foundation
import NLTensor

/// A model on disk: safetensors with SlowFast's names in PyTorch's layouts (so files move
/// between this tool and PyTorch unchanged), plus the config as YAML in the metadata, so a
/// weights file alone describes its network.
extension ResNet3D {
    public static let configMetadataKey = "nlnet.config"

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
