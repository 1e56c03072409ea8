import Foundation
import NLModels
import NLTensor
import Yams

/// An ablation plan: a base preset, data, and variants (config overrides), each trained and
/// evaluated for several seeds. Every run lives in its own folder and is resumable; a finished
/// run's result.json is reused.
public struct AblationPlan {
    /// A variant of the base preset: its name in the tables and its `--set`-style overrides (`set:` in the plan).
    public struct Variant { public var name: String; public var overrides: [String] }

    /// A claim the report checks against seed noise: variant `better` beats variant `than` on
    /// `metric` (`top1`, `top5`, or a validation class name for that class's top-1).
    public struct Claim: Sendable, Equatable {
        /// The variant expected to score higher.
        public var better: String
        /// The variant it is compared with.
        public var than: String
        /// `top1`, `top5`, a validation class name, or class names joined by `+`.
        public var metric: String
        /// A claim from its parts (top-1 by default).
        public init(better: String, than: String, metric: String = "top1") {
            self.better = better; self.than = than; self.metric = metric
        }
    }

    /// The plan's `name:`, or the file's name without its extension.
    public var name: String
    /// Path of the preset every variant starts from (`base:`, resolved against the plan's folder).
    public var base: String
    /// Training video list (`data.train`), absolute; nil with synthetic data.
    public var trainList: String?
    /// Validation video list (`data.val`), absolute; nil with synthetic data.
    public var valList: String?
    /// The synthetic data set (`data.synth`), generated into the run store on first use.
    public var synthetic: SyntheticDataset?
    /// Seeds per variant (`seeds:`, 1…1000); seed s trains with `train.seed=s`.
    public var seeds: Int
    /// Overrides added to every variant by `--quick` (`quick:`), for a smoke run.
    public var quick: [String]
    /// The variants in table order (`variants:`).
    public var variants: [Variant]
    /// Clips per validation video in the final evaluation (`eval.clips`, default 1).
    public var evalClips: Int
    /// Crops per clip in the final evaluation (`eval.crops`, default 1).
    public var evalCrops: Int
    /// The plan's `claims:`, each tested by Welch's t-test in results.md and results.json.
    public var claims: [Claim] = []
    /// The plan's `curves:`: variants whose validation top-1 over training steps goes into curves.svg.
    public var curves: [String] = []

    /// Reads and checks a plan file (YAML). Throws `ConfigError` naming the key that is wrong,
    /// e.g. an unknown key, a missing `base:`/`data:`/`variants:`, or a claim naming no variant.
    public static func load(path: String) throws -> AblationPlan {
        func fail(_ key: String, _ message: String) -> ConfigError { ConfigError(source: path, keyPath: key, message: message) }
        let text = try ConfigText.read(path)
        let parsed: Any?
        parsed = try SafeYAML.load(text, source: path)
        guard let root = parsed as? [String: Any] else {
            throw fail("", "a plan is a mapping (name:, base:, data:, variants: …), got \(ConfigText.show(parsed))")
        }
        let allowed: Set = ["name", "base", "data", "seeds", "quick", "variants", "eval", "claims", "curves"]
        if let bad = root.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw fail(bad, "unknown key (allowed: \(allowed.sorted().joined(separator: ", ")))")
        }
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent()
        func resolve(_ p: String) -> String { p.hasPrefix("/") ? p : dir.appendingPathComponent(p).path }
        guard let base = root["base"] as? String else { throw fail("base", "missing: the preset every variant starts from") }
        var plan = AblationPlan(name: root["name"] as? String ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent,
                                base: resolve(base), trainList: nil, valList: nil, synthetic: nil,
                                seeds: root["seeds"] as? Int ?? 1, quick: (root["quick"] as? [Any] ?? []).map { "\($0)" },
                                variants: [], evalClips: 1, evalCrops: 1)
        if let eval = root["eval"] as? [String: Any] {
            plan.evalClips = eval["clips"] as? Int ?? 1
            plan.evalCrops = eval["crops"] as? Int ?? 1
        }
        guard let data = root["data"] as? [String: Any] else { throw fail("data", "missing: {train: list, val: list} or {synth: {...}}") }
        if let synth = data["synth"] as? [String: Any] {
            var s = SyntheticDataset()
            if let classes = synth["classes"] as? [String] {
                s.classes = try classes.map { c in
                    guard let a = SyntheticAction(rawValue: c) else { throw fail("data.synth.classes", "unknown class '\(c)'") }
                    return a
                }
            }
            s.train = synth["train"] as? Int ?? s.train
            s.val = synth["val"] as? Int ?? s.val
            s.frames = synth["frames"] as? Int ?? s.frames
            s.size = synth["size"] as? Int ?? s.size
            s.seed = UInt64(synth["seed"] as? Int ?? 0)
            s.walkers = synth["walkers"] as? Int ?? s.walkers
            s.decoys = synth["decoys"] as? Int ?? s.decoys
            s.colours = synth["colours"] as? Int ?? s.colours
            if let problem = s.problem { throw fail("data.synth", problem.replacingOccurrences(of: "--", with: "")) }
            plan.synthetic = s
        } else {
            guard let train = data["train"] as? String, let val = data["val"] as? String else {
                throw fail("data", "needs train and val lists, or synth")
            }
            plan.trainList = resolve(train)
            plan.valList = resolve(val)
        }
        guard let variants = root["variants"] as? [[String: Any]], !variants.isEmpty else { throw fail("variants", "missing or empty") }
        plan.variants = try variants.enumerated().map { i, v in
            guard let name = v["name"] as? String else { throw fail("variants.\(i).name", "missing") }
            return Variant(name: name, overrides: (v["set"] as? [Any] ?? []).map { "\($0)" })
        }
        guard (1...1000).contains(plan.seeds) else { throw fail("seeds", "must be 1…1000, got \(plan.seeds)") }
        let names = Set(plan.variants.map(\.name))
        func variantName(_ value: Any?, _ key: String) throws -> String {
            guard let name = value.map({ "\($0)" }) else { throw fail(key, "missing: a variant name") }
            guard names.contains(name) else { throw fail(key, "'\(name)' is not a variant (variants: \(plan.variants.map(\.name).joined(separator: ", ")))") }
            return name
        }
        if let claims = root["claims"] {
            guard let list = claims as? [Any] else { throw fail("claims", "a list of {better: variant, than: variant, metric: top1} expected") }
            // Class names are known here only for synthetic data; list data is checked when reporting.
            let metrics = plan.synthetic.map { Set(["top1", "top5"] + $0.classes.map(\.rawValue)) }
            plan.claims = try list.enumerated().map { i, item in
                guard let claim = item as? [String: Any] else { throw fail("claims.\(i)", "a mapping {better: ..., than: ...} expected") }
                if let bad = claim.keys.sorted().first(where: { !["better", "than", "metric"].contains($0) }) {
                    throw fail("claims.\(i).\(bad)", "unknown key (allowed: better, metric, than)")
                }
                let metric = claim["metric"].map { "\($0)" } ?? "top1"
                if let metrics, !metric.split(separator: "+").allSatisfy({ metrics.contains(String($0)) }) || metric.isEmpty {
                    throw fail("claims.\(i).metric", "'\(metric)' is neither top1, top5, a class nor classes joined by + "
                               + "(\(metrics.sorted().joined(separator: ", ")))")
                }
                return Claim(better: try variantName(claim["better"], "claims.\(i).better"),
                             than: try variantName(claim["than"], "claims.\(i).than"), metric: metric)
            }
        }
        if let curves = root["curves"] {
            guard let list = curves as? [Any] else { throw fail("curves", "a list of variant names expected") }
            plan.curves = try list.enumerated().map { i, name in try variantName(name, "curves.\(i)") }
        }
        return plan
    }

    /// One trained and evaluated run: a variant at one seed (result.json in its folder).
    public struct Result: Codable, Sendable {
        /// The variant's name.
        public var variant: String
        /// The seed it was trained with.
        public var seed: Int
        /// Top-1 accuracy on the validation set, a fraction in [0, 1].
        public var top1: Double
        /// Top-5 accuracy on the validation set, a fraction in [0, 1].
        public var top5: Double
        /// The network's parameter count.
        public var parameters: Int
        /// Floating-point operations per clip at the input size, in billions (2 × multiply-adds + the rest).
        public var gflops: Double
        /// The run's folder (weights, metrics) in the run store.
        public var folder: String?
        /// Top-1 per validation class, by class name.
        public var perClass: [String: Double]?

        /// A result from its fields.
        public init(variant: String, seed: Int, top1: Double, top5: Double, parameters: Int, gflops: Double,
                    folder: String? = nil, perClass: [String: Double]? = nil) {
            self.variant = variant; self.seed = seed; self.top1 = top1; self.top5 = top5
            self.parameters = parameters; self.gflops = gflops; self.folder = folder; self.perClass = perClass
        }
    }

    /// What `run` does with the plan's runs.
    public enum Mode: Sendable {
        /// Train what is missing (waiting for runs another process holds), then write reports.
        case trainAndReport
        /// Train every unclaimed missing run and return; runs other processes hold are skipped.
        /// For several processes sharing one run store; a later `.report` writes the tables.
        case trainOnly
        /// Write the reports from finished runs; an error naming the runs that are missing.
        case report
    }

    /// Trains and evaluates every variant × seed, then writes results.md, results.csv and
    /// results.svg under `output`. Runs live under `runs` (default: `output`) in folders named
    /// by a digest of everything that decides the run (resolved model and training
    /// configs, data, evaluation), so plans sharing a run store train a shared variant once, and a
    /// changed plan or a --quick run never reuses a stale result. `log` gets one line per event.
    /// `seeds` overrides the plan's seed count, `quick` adds its `quick:` overrides. Returns a result per run.
    /// Throws when a list or preset cannot be read, a run fails, or (mode `.report`) runs are unfinished.
    /// `shard` (1-based index, count), with `.trainOnly`: only every count-th run of the plan
    /// (variants × seeds in plan order) from run index − 1 on, so the tasks of a job array
    /// split the plan between them; claims still keep two tasks off one run.
    public func run(output: String, runs: String? = nil, seeds: Int? = nil, quick: Bool, mode: Mode = .trainAndReport,
                    shard: (index: Int, count: Int)? = nil, log: (String) -> Void) throws -> [Result] {
        let out = URL(fileURLWithPath: output)
        let store = URL(fileURLWithPath: runs ?? output)
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        var train = trainList, val = valList
        if let synthetic {
            let dataDir = store.appendingPathComponent("data-" + Self.digest(synthetic.identity)).path
            if !FileManager.default.fileExists(atPath: dataDir + "/val.csv") {
                // Written aside and renamed into place, so processes sharing the store never
                // read a half-written set (the loser of a race drops its copy).
                log("generating the synthetic data in \(dataDir)")
                try FileManager.default.createDirectory(at: store, withIntermediateDirectories: true)
                let scratch = dataDir + ".partial-\(getpid())"
                try? FileManager.default.removeItem(atPath: scratch)
                try synthetic.write(to: scratch)
                if rename(scratch, dataDir) != 0 { try? FileManager.default.removeItem(atPath: scratch) }
            }
            (train, val) = (dataDir + "/train.csv", dataDir + "/val.csv")
        }
        let trainSet = try VideoList(path: train!)
        let valSet = try VideoList(path: val!, classes: trainSet.classes)
        var validations: [Validation] = []
        var results: [Result] = []
        var missing: [String] = []
        var position = -1
        for variant in variants {
            for seed in 0..<(seeds ?? self.seeds) {
                position += 1
                if mode == .trainOnly, let shard, position % shard.count != shard.index - 1 { continue }
                let overrides = variant.overrides + ["train.seed=\(seed)"] + (quick ? self.quick : [])
                var config = try ModelConfig.load(path: base, overrides: overrides.filter { !$0.hasPrefix("train.") })
                config.model.classes = trainSet.classes.count
                let trainConfig = try TrainConfig.load(path: base, overrides: overrides, modelCrop: config.model.trainCrop)
                // The resolved configs, not the override text: variants spelled differently but
                // equal (stage:res4 and 1-block) share a run.
                let key = [try config.yaml(), trainConfig.runIdentity, train!, val!, "eval \(evalClips)x\(evalCrops)"].joined(separator: "\u{1}")
                let dir = store.appendingPathComponent("run-" + Self.digest(key)).appendingPathComponent("seed\(seed)")
                let resultFile = dir.appendingPathComponent("result.json")
                var views = ViewProtocol(config: config)
                views.clips = evalClips
                views.crops = evalCrops
                // The validation set decoded once per view protocol: learning curves and final
                // evaluations of every run share it.
                func validation() -> Validation {
                    if let v = validations.first(where: { $0.views == views }) { return v }
                    let v = Validation(list: valSet, labels: trainSet.classes, views: views)
                    validations.append(v)
                    return v
                }
                func evaluate(_ model: ResNet3D) -> Evaluation { validation().evaluation(model) }
                func finished() -> Result? { (try? Data(contentsOf: resultFile)).flatMap { try? JSONDecoder().decode(Result.self, from: $0) } }
                // Another process may hold this run: skip it (train-only) or wait for its result.
                var claim: RunClaim?
                var waiting = false
                claiming: while mode != .report, finished() == nil {
                    switch try RunClaim.acquire(dir) {
                    case .claimed(let c):
                        claim = c
                        break claiming
                    case .heldBy(let holder) where mode == .trainOnly:
                        log("\(variant.name), seed \(seed): held by \(holder), skipped")
                        break claiming
                    case .heldBy(let holder):
                        if !waiting { log("\(variant.name), seed \(seed): waiting for \(holder)") }
                        waiting = true
                        Thread.sleep(forTimeInterval: 5)
                    }
                }
                if mode == .trainOnly, claim == nil, finished() == nil { continue }
                defer { claim?.release() }
                if var done = finished() {
                    // A result from before per-class accuracies were kept: evaluate its weights again.
                    if done.perClass == nil, let model = try? ResNet3D.load(path: dir.appendingPathComponent("checkpoint.safetensors").path) {
                        done.perClass = Self.perClass(evaluate(model), classes: trainSet.classes)
                        try JSONEncoder().encode(done).write(to: resultFile)
                    }
                    done.variant = variant.name
                    done.folder = dir.path
                    results.append(done)
                    log(String(format: "%@, seed %d: top-1 %.3f (reused %@)", variant.name, seed, done.top1, dir.path))
                    continue
                }
                guard mode != .report else { missing.append("\(variant.name) seed \(seed) (\(dir.path))"); continue }
                let model = ResNet3D(config: config, seed: UInt64(seed))
                let trainer = try Trainer(model: model, config: trainConfig, train: trainSet, output: dir.path)
                log("\(variant.name), seed \(seed): training \(trainConfig.maxIterations) steps")
                try trainer.run(resume: true, validation: trainConfig.evalEvery > 0 ? validation() : nil) { _ in }
                let evaluation = evaluate(model)
                let summary = model.summary(frames: config.input.frames, size: config.input.crop)
                let result = Result(variant: variant.name, seed: seed, top1: evaluation.top1, top5: evaluation.top5,
                                    parameters: summary.parameters, gflops: Double(summary.flops) / 1e9, folder: dir.path,
                                    perClass: Self.perClass(evaluation, classes: trainSet.classes))
                try JSONEncoder().encode(result).write(to: resultFile, options: .atomic)
                log(String(format: "%@, seed %d: top-1 %.3f", variant.name, seed, result.top1))
                results.append(result)
            }
        }
        if !missing.isEmpty {
            throw ModelError("\(name): \(missing.count) run(s) not finished, so no report: \(missing.joined(separator: "; "))")
        }
        if mode != .trainOnly { try writeReports(results, to: out) }
        return results
    }

    /// Accuracy per class (the confusion matrix's diagonal over its rows), by class name.
    static func perClass(_ e: Evaluation, classes: [String]) -> [String: Double] {
        Dictionary(uniqueKeysWithValues: classes.enumerated().map { i, name in
            let row = e.confusion[i].reduce(0, +)
            return (name, row > 0 ? Double(e.confusion[i][i]) / Double(row) : 0)
        })
    }

    /// 16 hex digits of FNV-1a over the text: stable across runs and machines (unlike Hasher).
    static func digest(_ text: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return String(h, radix: 16)
    }
}
