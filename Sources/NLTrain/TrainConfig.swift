import Foundation
import NLModels
import Yams

/// The `train:` section of a preset: the official recipe by default (docs/protocol.md#training), every knob
/// settable. Iteration counts are optimizer steps.
public struct TrainConfig: Codable, Sendable, Equatable {
    /// Clips per micro-batch (`batch_size`; the official 64 clips is 8 with `accumulate: 8`).
    public var batchSize = 8
    /// Micro-batches per step: the effective batch is batchSize × accumulate.
    public var accumulate = 1
    /// Learning rate at the start of the schedule, after warm-up (`base_lr`; 0.01 official).
    public var baseLR: Float = 0.01
    /// The learning-rate schedule, after a linear warm-up.
    public enum Schedule: String, Codable, Sendable, CaseIterable {
        /// × gamma at each of `steps` (the official recipe)
        case step
        /// half a cosine from base_lr to 0 over max_iterations (SlowFast)
        case cosine
    }
    /// `step` or `cosine` (`schedule`).
    public var schedule = Schedule.step
    /// Iterations at which the step schedule multiplies the rate by `gamma` (official: drops at 150k and 300k).
    public var steps: [Int] = [150_000, 300_000, 350_000]
    /// Factor applied to the rate at each of `steps` (0.1).
    public var gamma: Float = 0.1
    /// Steps of linear warm-up from base_lr/10 to the schedule's rate (0: none).
    public var warmupIterations = 0
    /// Optimizer steps in the whole run (400k official).
    public var maxIterations = 400_000
    /// SGD momentum (0.9).
    public var momentum: Float = 0.9
    /// Nesterov momentum, as the official code (PyTorch's SGD update, docs/protocol.md#training).
    public var nesterov = true
    /// L2 weight decay of every parameter but BN's γ and β (1e-4).
    public var weightDecay: Float = 1e-4
    /// Weight decay of BN's γ and β (0 official: `WEIGHT_DECAY_BN`).
    public var weightDecayBN: Float = 0
    /// Short side drawn uniformly from this range before the random crop. In a preset, both
    /// default to the model's `train_crop` (official: crop 224, jitter [256, 320], the same
    /// 8/7 and 10/7 of the crop for smaller models), so the crop the network trains on is the
    /// window its test head pools.
    public var jitter = [256, 320]
    /// Side in pixels of the square random training crop (224 official; the model's `train_crop` by default).
    public var crop = 224
    /// Random horizontal flips with probability 0.5.
    public var flip = true
    /// Steps between checkpoints (checkpoint.safetensors, resumable).
    public var checkpointEvery = 1000
    /// Steps between progress lines in the training log.
    public var logEvery = 10
    /// Seed of the weight initialisation, clip sampling and augmentation; same seed, same run.
    public var seed: UInt64 = 0
    /// Threads decoding and augmenting the clips of a batch (at most one per clip).
    public var workers = 2
    /// Batches for precise BN before each checkpoint (0: off; the official recipe uses 200).
    public var preciseBNBatches = 0
    /// Evaluate on the validation list every this many steps (0: only at the end), appending
    /// to `validation.jsonl`: the learning curve.
    public var evalEvery = 0
    /// Parts of the network left as they are (fine-tuning): any of stem, res2, res3, res4, res5
    /// (a stage's non-local blocks included) and head. Their BN statistics are kept too.
    public var freeze: [String] = []
    /// The learning rate of everything but the head is base_lr × this (fine-tuning a
    /// pretrained backbone gently while a new head learns at the full rate).
    public var backboneLRScale: Float = 1
    /// Which validation figure picks `best.safetensors`: top1, top5 or mean_class.
    public var bestMetric = "top1"
    /// Global L2 gradient-norm clipping (`clip_grad_norm`; 0: off): when the norm of all of a
    /// step's gradients together exceeds this, every gradient is scaled by
    /// clip_grad_norm / (norm + 1e-6), as PyTorch's `clip_grad_norm_` (SlowFast's
    /// `SOLVER.CLIP_GRAD_L2NORM`). Applied to the step's gradient before weight decay and momentum.
    public var clipGradNorm: Float = 0
    /// The learning rate of the attention blocks' scalar residual scales (DANet's α and β,
    /// criss-cross's γ: parameters named `….gamma`) is the step's rate × this (`scale_lr`, 1).
    public var scaleLR: Float = 1

    /// The parts `freeze` can name.
    public static let freezableParts = ["stem", "res2", "res3", "res4", "res5", "head"]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case batchSize = "batch_size", accumulate, baseLR = "base_lr", schedule, steps, gamma
        case warmupIterations = "warmup_iterations", maxIterations = "max_iterations", momentum, nesterov
        case weightDecay = "weight_decay", weightDecayBN = "weight_decay_bn", jitter, crop, flip
        case checkpointEvery = "checkpoint_every", logEvery = "log_every", seed, workers
        case preciseBNBatches = "precise_bn_batches", evalEvery = "eval_every"
        case freeze, backboneLRScale = "backbone_lr_scale", bestMetric = "best_metric"
        case clipGradNorm = "clip_grad_norm", scaleLR = "scale_lr"
    }

    /// The official recipe's values (docs/protocol.md#training).
    public init() {}

    /// The `train:` section of a preset file (with the same `--set` overrides, "train.x=…");
    /// `crop` and `jitter`, when not given, follow `modelCrop` (the model's `train_crop`).
    public static func load(path: String, overrides: [String] = [], modelCrop: Int = 224) throws -> TrainConfig {
        let text = try ConfigText.read(path)
        let root = (try? SafeYAML.load(text, source: path)) as? [String: Any] ?? [:]
        var section = root["train"] as? [String: Any] ?? [:]
        let allowed = Set(CodingKeys.allCases.map(\.rawValue))
        let trainOverrides = overrides.filter { $0.hasPrefix("train.") }
        for text in trainOverrides {
            let override = try ConfigOverride(text, source: "--set \(text)")
            let key = override.keyPath.dropFirst().joined(separator: ".")
            guard allowed.contains(key) else {
                throw ConfigError(source: "--set \(text)", keyPath: "", message: ConfigText.unknownKey(key, at: "train", allowed: allowed))
            }
            section[key] = override.value
        }
        if section["crop"] == nil { section["crop"] = modelCrop }
        if section["jitter"] == nil, let crop = section["crop"] as? Int { section["jitter"] = [crop * 8 / 7, crop * 10 / 7] }
        if let bad = section.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw ConfigError(source: path, keyPath: "train.\(bad)", message: ConfigText.unknownKey(bad, at: "train", allowed: allowed))
        }
        let blame = OverrideBlame(overrides: trainOverrides, origins: nil)
        let config: TrainConfig
        do {
            // The given keys over the defaults: the synthesized decoder then finds every key.
            let defaults = try SafeYAML.load(try YAMLEncoder().encode(TrainConfig()), source: "defaults") as? [String: Any] ?? [:]
            let normalized = try SafeYAML.dump(defaults.merging(section) { $1 }, source: path, keyPrefix: "train")
            config = try YAMLDecoder().decode(TrainConfig.self, from: normalized)
        } catch {
            // The decoder's key paths start inside the section.
            let e = ConfigText.describe(error, source: path, tree: section) {
                $0 == "schedule" ? Schedule.allCases.map(\.rawValue).joined(separator: ", ") : nil
            }
            throw blame.blame(ConfigError(source: e.source, keyPath: e.keyPath.isEmpty ? "train" : "train.\(e.keyPath)", message: e.message))
        }
        do { try config.validate(source: path) } catch let error as ConfigError { throw blame.blame(error) }
        return config
    }

    /// Checks ranges and names Codable cannot: positive sizes and counts, a known schedule, jitter ≥ crop,
    /// freezable parts, best metric. Throws `ConfigError` with the `train.` key path.
    public func validate(source: String) throws {
        func fail(_ key: String, _ m: String) -> ConfigError { ConfigError(source: source, keyPath: "train.\(key)", message: m) }
        guard batchSize >= 1, accumulate >= 1 else { throw fail("batch_size", "batch_size and accumulate must be at least 1") }
        guard baseLR > 0 else { throw fail("base_lr", "must be positive") }
        guard jitter.count == 2, jitter[0] >= crop, jitter[1] >= jitter[0] else {
            throw fail("jitter", "must be [min, max] short sides with crop \(crop) ≤ min ≤ max, got \(jitter)")
        }
        guard maxIterations >= 1, checkpointEvery >= 1, logEvery >= 1 else {
            throw fail("max_iterations", "iteration counts must be positive")
        }
        guard workers >= 1 else { throw fail("workers", "must be at least 1 (decode threads per batch), got \(workers)") }
        guard evalEvery >= 0 else { throw fail("eval_every", "must be 0 (off) or a number of steps, got \(evalEvery)") }
        if let bad = freeze.first(where: { !Self.freezableParts.contains($0) }) {
            throw fail("freeze", "'\(bad)' is not a part (\(Self.freezableParts.joined(separator: ", ")))")
        }
        guard backboneLRScale >= 0, backboneLRScale.isFinite else { throw fail("backbone_lr_scale", "must be 0 or more, got \(backboneLRScale)") }
        guard clipGradNorm >= 0, clipGradNorm.isFinite else { throw fail("clip_grad_norm", "must be 0 (off) or a positive norm, got \(clipGradNorm)") }
        guard scaleLR >= 0, scaleLR.isFinite else { throw fail("scale_lr", "must be 0 or more, got \(scaleLR)") }
        guard ["top1", "top5", "mean_class"].contains(bestMetric) else { throw fail("best_metric", "must be top1, top5 or mean_class, got \(bestMetric)") }
    }

    /// What an ablation run store digests: the recipe's description without the keys added after
    /// runs were first stored (`clip_grad_norm`, `scale_lr`) while they are at their defaults, so
    /// a run of an unchanged recipe keeps its folder.
    public var runIdentity: String {
        var text = "\(self)"
        if clipGradNorm == 0 { text = text.replacingOccurrences(of: ", clipGradNorm: 0.0", with: "") }
        if scaleLR == 1 { text = text.replacingOccurrences(of: ", scaleLR: 1.0", with: "") }
        // `schedule` was a String until it became an enum: keep its old spelling in the key.
        text = text.replacingOccurrences(of: "schedule: NLTrain.TrainConfig.Schedule.\(schedule.rawValue)",
                                         with: "schedule: \"\(schedule.rawValue)\"")
        return text
    }

    /// True for an attention block's scalar residual scale (DANet's `….pam.gamma`, `….cam.gamma`,
    /// criss-cross's `….gamma`), the parameters `scale_lr` applies to.
    public static func isAttentionScale(_ name: String) -> Bool { name.hasSuffix(".gamma") }

    /// The part of the network parameter `name` belongs to ("s1.…" stem, "s2.…" res2 …, head).
    public static func part(of name: String) -> String {
        if name.hasPrefix("head.") { return "head" }
        guard name.hasPrefix("s"), let stage = Int(name.dropFirst().prefix { $0.isNumber }) else { return "other" }
        return stage == 1 ? "stem" : "res\(stage)"
    }

    /// The learning rate of step `iteration` (0-based).
    public func learningRate(_ iteration: Int) -> Float {
        var lr: Float
        if schedule == .cosine {
            let progress = Float(iteration) / Float(max(maxIterations, 1))
            lr = baseLR * 0.5 * (1 + cos(.pi * progress))
        } else {
            lr = baseLR * pow(gamma, Float(steps.filter { iteration >= $0 }.count))
        }
        if iteration < warmupIterations {
            // Linear from baseLR/10 to the schedule's value at the end of the warm-up.
            let end = learningRateWithoutWarmup(warmupIterations)
            let start = baseLR * 0.1
            lr = start + (end - start) * Float(iteration) / Float(warmupIterations)
        }
        return lr
    }

    private func learningRateWithoutWarmup(_ iteration: Int) -> Float {
        var copy = self
        copy.warmupIterations = 0
        return copy.learningRate(iteration)
    }
}
