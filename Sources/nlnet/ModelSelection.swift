import ArgumentParser
import Foundation
import NLModels
import NLTensor
import NLTrain

/// How a command picks its network: a preset, a weights file (whose embedded config is used
/// when no preset is given), and overrides.
struct ModelSelection: ParsableArguments {
    @Option(help: "Model preset: a YAML file, or a preset's name (`nlnet presets` lists them), e.g. i3d_nonlocal_8x8_r50.")
    var config: String?

    @Option(help: "Weights (.safetensors). Its embedded config is used when --config is not given.")
    var weights: String?

    // One value per --nonlocal (quoted, or the option repeated): taking every following word
    // swallowed a video path given after it (`classify --nonlocal none video.mp4`).
    @Option(name: .customLong("nonlocal"),
            help: ArgumentHelp("""
                Non-local placement: 'res3=1,3 res4=1,3,5' (quoted, or --nonlocal repeated per stage), 'none', \
                or a preset (\(ModelConfig.blockPresets.joined(separator: ", "))).
                """,
                               valueName: "placement"))
    var nonlocalValues: [String] = []

    /// The placement words of every --nonlocal.
    var nonlocal: [String] { nonlocalValues.flatMap { $0.split(whereSeparator: \.isWhitespace).map(String.init) } }

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a config key, e.g. model.nonlocal.instantiation=dot_product (repeatable).",
                                                         valueName: "key=value"))
    var overrides: [String] = []

    @Option(help: "Seed for randomly initialised weights (when no --weights).")
    var seed: UInt64 = 0

    var isEmpty: Bool { config == nil && weights == nil }

    /// --nonlocal as a config override.
    func nonlocalOverride() throws -> String? {
        guard !nonlocal.isEmpty else { return nil }
        if nonlocal.count == 1 && !nonlocal[0].contains("=") {
            return "model.nonlocal.blocks=\(nonlocal[0])"
        }
        var stages: [String] = []
        for item in nonlocal {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, ModelConfig.stageNames.contains(parts[0]) else {
                throw ValidationError("--nonlocal: '\(item)' is not stage=indices (e.g. res3=1,3) or a preset")
            }
            let indices = parts[1].split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard indices.allSatisfy({ $0 != nil }) else { throw ValidationError("--nonlocal: '\(parts[1])' is not a list of block indices") }
            stages.append("\(parts[0]): [\(indices.map { String($0!) }.joined(separator: ", "))]")
        }
        return "model.nonlocal.blocks={\(stages.joined(separator: ", "))}"
    }

    /// The overrides of --nonlocal and --set, in order, and what each is called in an error.
    func allOverrides() throws -> (overrides: [String], origins: [String]) {
        // The model config parses a file's train section but nothing here reads it: a train.*
        // key would be accepted and ignored.
        if let key = overrides.first(where: { $0.hasPrefix("train.") }) {
            throw ValidationError("--set \(key): train.* settings are read by `nlnet train` and `nlnet ablate` only; "
                                  + "this verb would ignore it (bench train: --batch, --frames, --size)")
        }
        let placement = try nonlocalOverride()
        let origins = (placement == nil ? [] : ["--nonlocal '\(nonlocalValues.joined(separator: " "))'"]) + overrides.map { "--set \($0)" }
        return ((placement.map { [$0] } ?? []) + overrides, origins)
    }

    func resolvedConfig() throws -> ModelConfig? {
        let (all, origins) = try allOverrides()
        if let config { return try ModelConfig.load(path: try Presets.path(config), overrides: all, origins: origins) }
        guard !all.isEmpty, let weights else { return nil }
        return try embeddedConfig(weights)
    }

    /// The config embedded in a weights file, with --nonlocal and --set applied.
    func embeddedConfig(_ weights: String) throws -> ModelConfig {
        let (all, origins) = try allOverrides()
        let file = try SafeTensors(contentsOf: weights)
        guard let yaml = file.metadata[ResNet3D.configMetadataKey] else {
            throw ModelError("\(weights): has no embedded config; pass --config")
        }
        return try ModelConfig.parse(yaml: yaml, source: "\(weights) (embedded config)", overrides: all, origins: origins)
    }

    /// The network's config without loading weights: --config, else the weights file's (or the
    /// default model's) embedded config; nil when there is no model at all.
    func configOrDefault() throws -> ModelConfig? {
        if config != nil { return try resolvedConfig() }
        guard let file = try weightsFile() else { return nil }
        return try embeddedConfig(file)
    }

    /// The shipped default model (a small NL-I3D trained on the synthetic benchmark; see
    /// Configs/default_model.yaml), or $NLNET_MODEL when set.
    static let defaultModelFile = "Configs/default_model.safetensors"

    /// The weights file used when neither --config nor --weights is given.
    static func defaultWeights() throws -> String? {
        if let path = ProcessInfo.processInfo.environment["NLNET_MODEL"], !path.isEmpty {
            if let why = unreadableReason(path) { throw FileError("NLNET_MODEL=\(path): \(why)") }
            return path
        }
        return ProjectFiles.locate(defaultModelFile)
    }

    /// Nothing chosen and no $NLNET_MODEL: the shipped synthetic default model answers.
    var usesShippedModel: Bool {
        weights == nil && config == nil && (ProcessInfo.processInfo.environment["NLNET_MODEL"] ?? "").isEmpty
    }

    /// The weights file this selection loads: --weights, else the default when nothing is given.
    func weightsFile() throws -> String? {
        if let weights { return weights }
        return config == nil ? try Self.defaultWeights() : nil
    }

    /// The model's class names: `file` (--labels) if given, else the weights' own, else the
    /// Kinetics-400 list for a 400-class model, else "class i".
    func labels(for model: ResNet3D, file: String?) throws -> [String] {
        try knownLabels(for: model, file: file) ?? (0..<model.architecture.classes).map { "class \($0)" }
    }

    /// The class names when any are known: --labels, the weights' own, or Kinetics-400's.
    func knownLabels(for model: ResNet3D, file: String?) throws -> [String]? {
        let classes = model.architecture.classes
        var names: [String]?
        if let file {
            names = try readNames(file, option: "--labels")
        } else if let embedded = embeddedLabels() {
            names = embedded
        } else if classes == 400, let path = ProjectFiles.locate("Configs/labels/kinetics400.txt") {
            names = try readNames(path, option: "labels")
        }
        if let names, names.count != classes {
            throw ValidationError("\(file.map { "--labels \($0)" } ?? "labels"): \(names.count) names for a model with \(classes) classes")
        }
        return names
    }

    /// Class names stored in the weights file (`ModelFile.labelsKey`), if any.
    func embeddedLabels() -> [String]? {
        guard let path = try? weightsFile() else { return nil }
        return (try? ModelFile.storedLabels(path)) ?? nil
    }

    /// The network: --config/--weights as given, else the default model.
    func modelOrDefault() throws -> ResNet3D {
        var chosen = self
        chosen.weights = try weightsFile()
        return try chosen.model()
    }

    /// The network of a verb whose output is predictions: trained weights (--weights,
    /// $NLNET_MODEL or the default model), or — only with `allowUntrained` — a preset's random
    /// weights. `--config` alone would pass random weights off as a model, so without
    /// `allowUntrained` it is an error that says how to get weights.
    func trainedModel(allowUntrained: Bool) throws -> (model: ResNet3D, untrained: Bool) {
        if let weights { try requireReadable(weights, option: "--weights") }
        if try weightsFile() != nil { return (try modelOrDefault(), false) }
        guard allowUntrained else {
            if let config {
                throw ValidationError("--config \(config) without --weights would run RANDOM weights: pass --weights m.safetensors "
                                      + "(convert the checkpoint the preset's 'checkpoint:' line names with `nlnet convert`), "
                                      + "or --allow-untrained to run the pipeline untrained")
            }
            throw ValidationError("no model: pass --weights m.safetensors or set NLNET_MODEL; the default \(ModelSelection.defaultModelFile) "
                                  + "is missing (--allow-untrained with --config PRESET runs the pipeline with random weights)")
        }
        if config != nil { return (try model(), true) }
        guard let preset = ProjectFiles.locate(Presets.folder + "/i3d_nonlocal_8x8_r50.yaml") else {
            throw ValidationError("cannot find Configs/i3d_nonlocal_8x8_r50.yaml; pass --config")
        }
        return (ResNet3D(config: try ModelConfig.load(path: preset), seed: seed), true)
    }

    func model() throws -> ResNet3D {
        guard !isEmpty else {
            throw ValidationError("no model: pass --weights m.safetensors or --config PRESET (`nlnet presets` lists them), "
                                  + "or set NLNET_MODEL; the default \(ModelSelection.defaultModelFile) is missing")
        }
        if let weights { try requireReadable(weights, option: "--weights") }
        let config = try resolvedConfig()
        if let weights { return try ResNet3D.load(path: weights, config: config) }
        return ResNet3D(config: config!, seed: seed)
    }

    /// The network of a verb whose output is predictions (classify, eval, attention, forward),
    /// saying on standard error when it runs random weights (`--allow-untrained`).
    func predictionModel(allowUntrained: Bool, verb: String) throws -> (model: ResNet3D, untrained: Bool) {
        let chosen = try trainedModel(allowUntrained: allowUntrained)
        if chosen.untrained {
            FileHandle.standardError.write(Data("""
            nlnet \(verb): --allow-untrained: running '\(chosen.model.config.name)' with RANDOM weights:
              its outputs are meaningless.
              Convert an official checkpoint (README, "Official checkpoints") for real predictions.

            """.utf8))
        }
        return chosen
    }

    /// Which model answers, so a top class is never read without knowing the label set: the
    /// shipped default model knows four synthetic classes only.
    func printHeader(_ model: ResNet3D, weights: String?, labels: [String]) {
        let shown = labels.count <= 8 ? labels.joined(separator: ", ") : labels.prefix(4).joined(separator: ", ") + ", …"
        print("model: \(model.config.name) (\(weights ?? "random weights")), \(labels.count) classes: \(shown)")
        if usesShippedModel {
            print("  the shipped default model, trained on the synthetic benchmark only; "
                  + "for Kinetics-400 convert an official checkpoint (README, \"Official checkpoints\") and pass --weights")
        }
    }
}

/// Names one per line (blank lines skipped), or one error naming the option and the file.
func readNames(_ path: String, option: String) throws -> [String] {
    try requireReadable(path, option: option)
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw FileError("\(option) \(path): not UTF-8 text") }
    return text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
}
