import Foundation
import NLModels
import NLTensor
import NLVideo

/// Trains a model on a video list with the official recipe, alone or as one rank of an
/// `mpirun` job (`group`; see GradientExchange for how the ranks share a step).
///
/// Determinism by construction: epoch e visits the list in a shuffle drawn from (seed, e);
/// sample k of step i is augmented with a generator drawn from (seed, i, k), and the step's
/// dropout from (seed, i). A checkpoint holding weights, momentum buffers and the step number
/// therefore resumes exactly, and background loading cannot change what is computed. The
/// loader threads read only immutable state (configs, the list), hence @unchecked Sendable.
public final class Trainer: @unchecked Sendable {
    /// The network being trained, updated in place.
    public let model: ResNet3D
    /// The recipe: batch, schedule, optimizer, augmentation, checkpoints.
    public let config: TrainConfig
    /// The training videos and their class indices.
    public let train: VideoList
    /// The run's folder: checkpoint.safetensors, metrics.jsonl/.csv, validation.jsonl, best.safetensors.
    public let output: URL
    /// The processes training this model together; rank 0 writes checkpoints and logs.
    public let group: ProcessGroup
    /// SGD with the config's momentum and weight decay; holds the momentum buffers.
    public private(set) var optimizer: SGD
    /// Optimizer steps done so far (restored by `loadCheckpoint()`).
    public private(set) var iteration = 0
    /// Videos that could not be read: reported once, skipped.
    public private(set) var unreadable: Set<String> = []

    /// One optimizer step's figures: a row of metrics.jsonl and metrics.csv.
    public struct StepLog: Codable, Sendable {
        /// The step number (1-based after the step) and the epoch its first batch came from.
        public var iteration: Int, epoch: Int
        /// Mean cross-entropy over the step's clips, their training top-1 (a fraction), and the step's learning rate.
        public var loss: Float, accuracy: Float, learningRate: Float
        /// Training throughput: clips through forward and backward per wall-clock second.
        public var clipsPerSecond: Double
        /// Clips of the step dropped because their video could not be read.
        public var skipped: Int
    }

    /// A trainer for `model` writing into `output` (created if missing). Throws when the folder cannot be made.
    public init(model: ResNet3D, config: TrainConfig, train: VideoList, output: String, group: ProcessGroup = .single) throws {
        guard config.accumulate % group.size == 0 else {
            throw TrainingSetupError("train.accumulate is \(config.accumulate), which \(group.size) processes cannot share: each rank trains "
                + "whole micro-batches of train.batch_size clips, so train.accumulate must be a multiple of \(group.size) "
                + "(e.g. --set train.accumulate=\(group.size) --set train.batch_size=\(max(1, config.batchSize * config.accumulate / group.size)) "
                + "keeps a global batch of \(config.batchSize * config.accumulate))")
        }
        self.group = group
        self.model = model
        self.config = config
        self.train = train
        self.output = URL(fileURLWithPath: output)
        optimizer = SGD(momentum: config.momentum, nesterov: config.nesterov, weightDecay: config.weightDecay,
                        weightDecayBN: config.weightDecayBN)
        try FileManager.default.createDirectory(at: self.output, withIntermediateDirectories: true)
    }

    /// Path of the resumable training checkpoint: weights in this tool's layouts plus SGD momentum buffers.
    public var checkpointPath: String { output.appendingPathComponent("checkpoint.safetensors").path }

    // MARK: Data

    static func mix(_ values: UInt64...) -> UInt64 {
        values.reduce(0x243F_6A88_85A3_08D3) { h, v in
            var z = h ^ (v &* 0x9E37_79B9_7F4A_7C15)
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            return (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        }
    }

    /// The list index of global sample `s` (epoch-wise shuffles).
    func itemIndex(sample s: Int) -> (epoch: Int, index: Int) {
        let n = train.items.count
        let epoch = s / n
        var order = Array(0..<n)
        var rng = RandomSource(seed: Trainer.mix(config.seed, UInt64(epoch), 1))
        order.shuffle(using: &rng)
        return (epoch, order[s % n])
    }

    /// One augmented training clip [T, crop, crop, 3] (docs/protocol.md#training: random clip, short side in
    /// the jitter range, random crop, flip p = 0.5).
    func clip(_ item: VideoList.Item, rng: inout RandomSource) throws -> Tensor {
        let input = model.config.input
        let reader = try VideoReader(path: item.path, threads: 1, options: item.openOptions)
        let indices = ClipSampler(frames: input.frames, stride: input.stride).trainingClip(frameCount: reader.info.frameCount, using: &rng)
        let side = config.jitter[0] + Int(rng.next() % UInt64(config.jitter[1] - config.jitter[0] + 1))
        let d = reader.info.displaySize
        let size = SpatialTransform.resized(width: d.width, height: d.height, shortSide: side)
        let rgb = try reader.frames(indices, width: size.width, height: size.height)
        let box = SpatialTransform.randomCrop(width: size.width, height: size.height, size: config.crop, using: &rng)
        let flip = config.flip && rng.nextUnit() < 0.5
        return SpatialTransform.clipTensor(rgb, frames: Array(indices.indices), crop: box, flip: flip,
                                           normalization: Normalization(input.normalization))
    }

    struct Batch: @unchecked Sendable {
        var clips: [Tensor?]
        var labels: [Int]
        var failures: [String]
        var epoch: Int
    }

    /// The micro-batch `micro` of step `i`, decoded on `workers` threads.
    func batch(step i: Int, micro: Int) -> Batch {
        let size = config.batchSize
        let first = (i * config.accumulate + micro) * size
        let picks = (0..<size).map { itemIndex(sample: first + $0) }
        let box = ResultBox(count: size)
        let items = picks.map { train.items[$0.index] }
        let seed = config.seed
        // train.workers threads, each taking every workers-th clip; each clip draws from its
        // own seed, so the batch does not depend on the thread count.
        let workers = min(max(config.workers, 1), size)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for k in stride(from: w, to: size, by: workers) {
                var rng = RandomSource(seed: Trainer.mix(seed, UInt64(i), UInt64(micro), UInt64(k), 2))
                box.set(k, Result { try self.clip(items[k], rng: &rng) })
            }
        }
        var clips: [Tensor?] = [], failures: [String] = []
        for k in 0..<size {
            switch box.results[k]! {
            case .success(let t): clips.append(t)
            case .failure(let e): clips.append(nil); failures.append("\(e)")
            }
        }
        return Batch(clips: clips, labels: items.map(\.label), failures: failures, epoch: picks[0].epoch)
    }

    final class ResultBox: @unchecked Sendable {
        var results: [Result<Tensor, Error>?]
        let lock = NSLock()
        init(count: Int) { results = Array(repeating: nil, count: count) }
        func set(_ k: Int, _ r: Result<Tensor, Error>) { lock.lock(); results[k] = r; lock.unlock() }
    }

    // MARK: Loop

    /// Runs to `config.maxIterations` (from the checkpoint when `resume`), calling `log` every
    /// `logEvery` steps; `stopAfter` ends early after that many steps (for tests). With
    /// `validation` and `eval_every`, evaluates every `eval_every` steps and at the last step,
    /// appending to `validation.jsonl` (points after the resumed checkpoint are dropped first,
    /// so a resumed run's curve equals an uninterrupted one's).
    public func run(resume: Bool, stopAfter: Int? = nil, validation: Validation? = nil, log: (StepLog) -> Void) throws {
        if resume, FileManager.default.fileExists(atPath: checkpointPath) { try loadCheckpoint() }
        let metrics = group.isLeader ? try MetricsWriter(directory: output, appending: resume) : nil
        let curvePath = output.appendingPathComponent("validation.jsonl")
        var curve = resume ? Validation.curve(in: output.path).filter { $0.step <= iteration } : []
        let frozenParts = Set(config.freeze)
        let isFrozen = { (name: String) in frozenParts.contains(TrainConfig.part(of: name)) }
        let bestPath = output.appendingPathComponent("best.safetensors").path
        func validate() throws {
            guard let validation, config.evalEvery > 0, group.isLeader else { return }
            let point = validation.evaluate(model, step: iteration)
            // The best weights so far by the chosen figure (the first of equals kept).
            if let value = point.metric(config.bestMetric), curve.compactMap({ $0.metric(config.bestMetric) }).allSatisfy({ value > $0 }) {
                try ModelFile(model: model, labels: validation.labels)
                    .save(to: bestPath, metadata: ["nlnet.best": "\(config.bestMetric) \(value) at step \(iteration)"])
            }
            curve.append(point)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let lines = try curve.map { String(decoding: try encoder.encode($0), as: UTF8.self) + "\n" }.joined()
            try Data(lines.utf8).write(to: curvePath, options: .atomic)
        }
        // This rank's micro-batches of every step (all of them when training alone).
        let share = config.accumulate / group.size
        let micros = Array(group.rank * share..<(group.rank + 1) * share)
        let queue = DispatchQueue(label: "nlnet.train.loader")
        var next: (Int, DispatchWorkItem, BatchHolder)?
        func prefetch(_ step: Int) {
            guard step < config.maxIterations else { next = nil; return }
            let holder = BatchHolder()
            let work = DispatchWorkItem { holder.batches = micros.map { self.batch(step: step, micro: $0) } }
            queue.async(execute: work)
            next = (step, work, holder)
        }
        prefetch(iteration)
        var steps = 0
        while iteration < config.maxIterations {
            let start = DispatchTime.now().uptimeNanoseconds
            guard let (step, work, holder) = next, step == iteration else { break }
            work.wait()
            prefetch(iteration + 1)                  // decode the next step while this one trains
            let lr = config.learningRate(iteration)
            var lossSum: Float = 0, correct = 0, seen = 0, skipped = 0, updates = 0
            var gradients: [String: Tensor] = [:]
            let before = group.size > 1 ? GradientExchange.runningStatistics(model) : [:]
            for (index, micro) in zip(micros, holder.batches) {
                // The step's dropout stream at micro-batch `index`: past the draws of the full
                // micro-batches before it. One process reaches it by drawing them in turn (when
                // no clip failed); a rank skips to its share.
                var dropoutRNG = RandomSource(seed: Trainer.mix(config.seed, UInt64(iteration), 3))
                for _ in 0..<index * config.batchSize * model.dropoutDrawsPerClip { _ = dropoutRNG.next() }
                for failure in micro.failures where !unreadable.contains(failure) {
                    unreadable.insert(failure)
                    FileHandle.standardError.write(Data("warning: skipping unreadable video: \(failure)\n".utf8))
                }
                let pairs = zip(micro.clips, micro.labels).compactMap { c, l in c.map { ($0, l) } }
                skipped += micro.clips.count - pairs.count
                guard !pairs.isEmpty else { continue }
                let x = Tensor(stacking: pairs.map(\.0))
                let r = model.gradients(x, labels: pairs.map(\.1), rng: &dropoutRNG, frozen: isFrozen)
                lossSum += r.loss * Float(pairs.count)
                seen += pairs.count
                updates += 1
                correct += zip(r.predictions, pairs.map(\.1)).filter { $0 == $1 }.count
                for (name, g) in r.gradients {
                    let scaled = g * (Float(pairs.count) / Float(config.batchSize * config.accumulate))
                    gradients[name] = gradients[name].map { $0 + scaled } ?? scaled
                }
            }
            if group.size > 1 {
                let names = model.specs.filter { $0.trainable && !isFrozen($0.name) }.map(\.name)
                let sums = GradientExchange.combine(.init(loss: lossSum, seen: seen, correct: correct, skipped: skipped, gradients: gradients),
                                                    updates: updates, names: names, before: before, model: model, group: group)
                (lossSum, seen, correct, skipped) = (sums.loss, sums.seen, sums.correct, sums.skipped)
                gradients = sums.seen > 0 ? sums.gradients : [:]
            }
            // A diverged step (an infinite or NaN loss) would poison every weight it updates:
            // stop here with the step's number rather than train on, or fail writing the log.
            guard seen == 0 || (lossSum / Float(seen)).isFinite else {
                throw ModelError("training diverged: the loss is \(lossSum / Float(seen)) at iteration \(iteration + 1) "
                                 + "(learning rate \(lr)); the last checkpoint in \(output.path) (if any) is from before it. "
                                 + "Lower train.base_lr, or check the data.")
            }
            if !gradients.isEmpty {
                SGD.clipGradientNorm(&gradients, maxNorm: config.clipGradNorm)
                let backbone = lr * config.backboneLRScale
                model.apply(gradients, optimizer: &optimizer) { name in
                    (TrainConfig.part(of: name) == "head" ? lr : backbone) * (TrainConfig.isAttentionScale(name) ? config.scaleLR : 1)
                }
            }
            iteration += 1
            steps += 1
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let entry = StepLog(iteration: iteration, epoch: holder.batches.first?.epoch ?? 0, loss: seen > 0 ? lossSum / Float(seen) : .nan,
                                accuracy: seen > 0 ? Float(correct) / Float(seen) : 0, learningRate: lr,
                                clipsPerSecond: Double(seen) / seconds, skipped: skipped)
            try metrics?.append(entry)
            if iteration % config.logEvery == 0 || iteration == config.maxIterations { log(entry) }
            if config.evalEvery > 0, iteration % config.evalEvery == 0 || iteration == config.maxIterations { try validate() }
            if iteration % config.checkpointEvery == 0 || iteration == config.maxIterations {
                if config.preciseBNBatches > 0 {
                    preciseBN()
                    GradientExchange.adoptLeaderStatistics(model, group: group)
                }
                if group.isLeader { try saveCheckpoint() }
            }
            if let stopAfter, steps >= stopAfter { break }
        }
        work(next)
        try metrics?.close()
    }

    private func work(_ pending: (Int, DispatchWorkItem, BatchHolder)?) { pending?.1.wait() }

    final class BatchHolder: @unchecked Sendable { var batches: [Batch] = [] }

    /// Recomputes BN statistics over `preciseBNBatches` batches drawn (deterministically) for
    /// this step, so they describe the current weights rather than a running average.
    func preciseBN() {
        let clips = (0..<config.preciseBNBatches).flatMap { k in batch(step: iteration, micro: 1_000_000 + k).clips.compactMap { $0 } }
        let size = config.batchSize
        let batches = stride(from: 0, to: clips.count, by: size).map { Tensor(stacking: Array(clips[$0..<min($0 + size, clips.count)])) }
        var rng = RandomSource(seed: Trainer.mix(config.seed, UInt64(iteration), 4))
        model.preciseBatchNorm(batches, rng: &rng)
    }

    // MARK: Checkpoints

    /// Weights, momentum buffers and the step, written to a temporary file and renamed.
    public func saveCheckpoint() throws {
        var tensors: [String: Tensor] = [:]
        for spec in model.specs { tensors[spec.name] = model.weights[spec.name]! }
        for (name, v) in optimizer.velocity { tensors["optimizer.velocity." + name] = v }
        try SafeTensors.write(tensors, metadata: [ResNet3D.configMetadataKey: try model.config.yaml(), "iteration": String(iteration),
                                                  "seed": String(config.seed), "layout": ResNet3D.internalLayout,
                                                  Trainer.recipeMetadataKey: try Trainer.json(config)],
                              to: checkpointPath)
    }

    /// The checkpoint's copy of the `train:` recipe (JSON), so a resumed run can say what changed.
    public static let recipeMetadataKey = "nlnet.train"

    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// The keys of the recipe (`train.*`) and the network (`model.*`, `input.*`) whose values
    /// differ between the checkpoint in the output folder and this run, as "key old → new";
    /// empty without a checkpoint. (A checkpoint written before recipes were recorded is
    /// compared on its network only.)
    public func changesSinceCheckpoint() throws -> [String] {
        guard FileManager.default.fileExists(atPath: checkpointPath) else { return [] }
        let metadata = try SafeTensors(contentsOf: checkpointPath).metadata
        var changes: [String] = []
        if let yaml = metadata[ResNet3D.configMetadataKey] {
            let saved = try ModelConfig.parse(yaml: yaml, source: checkpointPath)
            changes += Trainer.differences(old: try Trainer.json(saved), new: try Trainer.json(model.config), prefix: "")
                .filter { !$0.hasPrefix("name ") }
        }
        if let recipe = metadata[Trainer.recipeMetadataKey] {
            changes += Trainer.differences(old: recipe, new: try Trainer.json(config), prefix: "train.")
        }
        return changes
    }

    /// "a.b old → new" for every leaf that differs between two JSON objects.
    static func differences(old: String, new: String, prefix: String) -> [String] {
        func flatten(_ value: Any, _ path: String, into out: inout [String: String]) {
            if let map = value as? [String: Any] {
                for (k, v) in map { flatten(v, path.isEmpty ? k : "\(path).\(k)", into: &out) }
            } else if let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys]) {
                out[path] = String(decoding: data, as: UTF8.self)
            }
        }
        func leaves(_ text: String) -> [String: String] {
            var out: [String: String] = [:]
            if let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) { flatten(object, "", into: &out) }
            return out
        }
        let a = leaves(old), b = leaves(new)
        return Set(a.keys).union(b.keys).sorted().compactMap { key in
            a[key] == b[key] ? nil : "\(prefix)\(key) \(a[key] ?? "(unset)") → \(b[key] ?? "(unset)")"
        }
    }

    /// Restores weights, momentum buffers and the step number from `checkpointPath`. Throws when the
    /// file is missing, not a training checkpoint, or does not fit the model's config.
    public func loadCheckpoint() throws {
        let file = try SafeTensors(contentsOf: checkpointPath)
        guard let it = file.metadata["iteration"].flatMap(Int.init) else {
            throw ModelError("\(checkpointPath): not a training checkpoint (no iteration)")
        }
        // The weights as any model file loads (shapes checked, errors naming the file); private
        // copies, since training updates them.
        try model.replaceWeights(ResNet3D.load(path: checkpointPath, config: model.config).weights.mapValues(\.copied))
        optimizer.velocity = [:]
        for name in file.names where name.hasPrefix("optimizer.velocity.") {
            optimizer.velocity[String(name.dropFirst("optimizer.velocity.".count))] = try file.tensor(name).copied
        }
        iteration = it
    }
}

/// metrics.jsonl and metrics.csv, one row per step.
final class MetricsWriter {
    let jsonl: FileHandle, csv: FileHandle

    init(directory: URL, appending: Bool) throws {
        func open(_ name: String, header: String?) throws -> FileHandle {
            let path = directory.appendingPathComponent(name).path
            let fresh = !appending || !FileManager.default.fileExists(atPath: path)
            if fresh { _ = FileManager.default.createFile(atPath: path, contents: header.map { Data($0.utf8) } ?? Data()) }
            guard let h = FileHandle(forWritingAtPath: path) else { throw ModelError("\(path): cannot write") }
            h.seekToEndOfFile()
            return h
        }
        jsonl = try open("metrics.jsonl", header: nil)
        csv = try open("metrics.csv", header: "iteration,epoch,loss,accuracy,learning_rate,clips_per_second,skipped\n")
    }

    func append(_ e: Trainer.StepLog) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        jsonl.write(try encoder.encode(e) + Data("\n".utf8))
        csv.write(Data("\(e.iteration),\(e.epoch),\(e.loss),\(e.accuracy),\(e.learningRate),\(String(format: "%.3f", e.clipsPerSecond)),\(e.skipped)\n".utf8))
    }

    func close() throws {
        try jsonl.close()
        try csv.close()
    }
}

extension Tensor {
    /// Equal-shaped tensors stacked along a new leading dimension.
    public init(stacking parts: [Tensor]) {
        require(!parts.isEmpty && parts.allSatisfy { $0.shape == parts[0].shape },
                "Tensor(stacking:): needs one or more tensors of one shape, got \(parts.map(\.shape))")
        var scalars: [Float] = []
        scalars.reserveCapacity(parts.count * parts[0].count)
        for p in parts { scalars += p.scalars }
        self.init(shape: [parts.count] + parts[0].shape, scalars: scalars)
    }

    /// A private copy (not backed by a mapped file).
    public var copied: Tensor { Tensor(shape: shape, scalars: scalars) }
}
