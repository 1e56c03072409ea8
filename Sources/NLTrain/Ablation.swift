import Foundation
import NLModels
import NLTensor
import Yams

/// An ablation plan: a base preset, data, and variants (config overrides), each trained and
/// evaluated for several seeds. Every run lives in its own folder and is resumable; a finished
/// run's result.json is reused.
public struct AblationPlan {
    public struct Variant { public var name: String; public var overrides: [String] }

    public var name: String
    public var base: String
    public var trainList: String?
    public var valList: String?
    public var synthetic: SyntheticDataset?
    public var seeds: Int
    public var quick: [String]
    public var variants: [Variant]
    public var evalClips: Int
    public var evalCrops: Int

    public static func load(path: String) throws -> AblationPlan {
        func fail(_ key: String, _ message: String) -> ConfigError { ConfigError(source: path, keyPath: key, message: message) }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let root = (try? Yams.load(yaml: text)) as? [String: Any] else { throw fail("", "cannot read the plan (YAML mapping expected)") }
        let allowed: Set = ["name", "base", "data", "seeds", "quick", "variants", "eval"]
        if let bad = root.keys.sorted().first(where: { !allowed.contains($0) }) { throw fail(bad, "unknown key (allowed: \(allowed.sorted().joined(separator: ", ")))") }
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
        guard plan.seeds >= 1 else { throw fail("seeds", "must be at least 1") }
        return plan
    }

    public struct Result: Codable, Sendable {
        public var variant: String
        public var seed: Int
        public var top1: Double
        public var top5: Double
        public var parameters: Int
        public var gflops: Double
        /// The run's folder (weights, metrics) in the run store.
        public var folder: String?
        /// Top-1 per validation class, by class name.
        public var perClass: [String: Double]?
    }

    /// Trains and evaluates every variant × seed, then writes results.md, results.csv and
    /// results.svg under `output`. Runs live under `runs` (default: `output`) in folders named
    /// by a digest of everything that decides the run (resolved model and training
    /// configs, data, evaluation), so plans sharing a run store train a shared variant once, and a
    /// changed plan or a --quick run never reuses a stale result. `log` gets one line per event.
    public func run(output: String, runs: String? = nil, seeds: Int? = nil, quick: Bool, log: (String) -> Void) throws -> [Result] {
        let out = URL(fileURLWithPath: output)
        let store = URL(fileURLWithPath: runs ?? output)
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        var train = trainList, val = valList
        if let synthetic {
            let dataDir = store.appendingPathComponent("data-" + Self.digest(synthetic.identity)).path
            if !FileManager.default.fileExists(atPath: dataDir + "/val.csv") {
                log("generating the synthetic data in \(dataDir)")
                try synthetic.write(to: dataDir)
            }
            (train, val) = (dataDir + "/train.csv", dataDir + "/val.csv")
        }
        let trainSet = try VideoList(path: train!)
        let valSet = try VideoList(path: val!, classes: trainSet.classes)
        var results: [Result] = []
        for variant in variants {
            for seed in 0..<(seeds ?? self.seeds) {
                let overrides = variant.overrides + ["train.seed=\(seed)"] + (quick ? self.quick : [])
                var config = try ModelConfig.load(path: base, overrides: overrides.filter { !$0.hasPrefix("train.") })
                config.model.classes = trainSet.classes.count
                let trainConfig = try TrainConfig.load(path: base, overrides: overrides, modelCrop: config.model.trainCrop)
                // The resolved configs, not the override text: variants spelled differently but
                // equal (stage:res4 and 1-block) share a run.
                let key = [try config.yaml(), "\(trainConfig)", train!, val!, "eval \(evalClips)x\(evalCrops)"].joined(separator: "\u{1}")
                let dir = store.appendingPathComponent("run-" + Self.digest(key)).appendingPathComponent("seed\(seed)")
                let resultFile = dir.appendingPathComponent("result.json")
                var views = ViewProtocol(config: config)
                views.clips = evalClips
                views.crops = evalCrops
                func evaluate(_ model: ResNet3D) -> Evaluation {
                    Evaluation.run(VideoClassifier(model: model, labels: trainSet.classes, views: views), on: valSet)
                }
                if let data = try? Data(contentsOf: resultFile), var done = try? JSONDecoder().decode(Result.self, from: data) {
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
                let model = ResNet3D(config: config, seed: UInt64(seed))
                let trainer = try Trainer(model: model, config: trainConfig, train: trainSet, output: dir.path)
                log("\(variant.name), seed \(seed): training \(trainConfig.maxIterations) steps")
                try trainer.run(resume: true) { _ in }
                let evaluation = evaluate(model)
                let summary = model.summary(frames: config.input.frames, size: config.input.crop)
                let result = Result(variant: variant.name, seed: seed, top1: evaluation.top1, top5: evaluation.top5,
                                    parameters: summary.parameters, gflops: Double(summary.flops) / 1e9, folder: dir.path,
                                    perClass: Self.perClass(evaluation, classes: trainSet.classes))
                try JSONEncoder().encode(result).write(to: resultFile)
                log(String(format: "%@, seed %d: top-1 %.3f", variant.name, seed, result.top1))
                results.append(result)
            }
        }
        try writeReports(results, to: out)
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

    /// results.csv (every run), results.md (mean ± std per variant, as Table 2), results.svg.
    func writeReports(_ results: [Result], to out: URL) throws {
        var csv = ["variant,seed,top1,top5,parameters,gflops,folder"]
        for r in results { csv.append("\"\(r.variant)\",\(r.seed),\(r.top1),\(r.top5),\(r.parameters),\(r.gflops),\"\(r.folder ?? "")\"") }
        try (csv.joined(separator: "\n") + "\n").write(to: out.appendingPathComponent("results.csv"), atomically: true, encoding: .utf8)
        // Per-class columns when there are few classes (the synthetic benchmark's four).
        let classNames = Set(results.flatMap { $0.perClass.map { Array($0.keys) } ?? [] }).sorted()
        let classColumns = classNames.count <= 8 ? classNames : []
        var md = ["# \(name)", "", "| variant | top-1 (%) | top-5 (%) | " + classColumns.map { "\($0) (%) | " }.joined() + "seeds | params | GFLOPs |",
                  "|---|---|---|" + String(repeating: "---|", count: classColumns.count) + "---|---|---|"]
        var bars: [(String, Double, Double)] = []
        for variant in variants {
            let rs = results.filter { $0.variant == variant.name }
            guard let first = rs.first else { continue }
            func stats(_ v: [Double]) -> (Double, Double) {
                let m = v.reduce(0, +) / Double(v.count)
                return (m, (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(max(v.count - 1, 1))).squareRoot())
            }
            let (t1, s1) = stats(rs.map { 100 * $0.top1 }), (t5, s5) = stats(rs.map { 100 * $0.top5 })
            let perClass = classColumns.map { c -> String in
                let v = rs.compactMap { $0.perClass?[c] }.map { 100 * $0 }
                return v.isEmpty ? "– | " : String(format: "%.0f ± %.0f | ", stats(v).0, stats(v).1)
            }.joined()
            md.append(String(format: "| %@ | %.1f ± %.1f | %.1f ± %.1f | %@%d | %.2fM | %.2f |", variant.name, t1, s1, t5, s5, perClass, rs.count,
                             Double(first.parameters) / 1e6, first.gflops))
            bars.append((variant.name, t1, s1))
        }
        md.append("")
        md.append("Mean ± standard deviation over seeds of top-1 / top-5 (and top-1 per class) on the validation list; GFLOPs per clip (2 × multiply-adds + softmax).")
        try (md.joined(separator: "\n") + "\n").write(to: out.appendingPathComponent("results.md"), atomically: true, encoding: .utf8)
        try SVGChart.bars(title: "\(name): top-1 (%)", bars: bars).write(to: out.appendingPathComponent("results.svg"), atomically: true, encoding: .utf8)
    }
}

extension SVGChart {
    /// Vertical bars with an error whisker each (value ± spread), values in 0…100.
    public static func bars(title: String, bars: [(String, Double, Double)]) -> String {
        let width = max(320.0, 90.0 * Double(bars.count) + 80), height = 360.0, bottom = 300.0, top = 40.0
        var body = "<text x='\(width / 2)' y='24' text-anchor='middle' font-size='16'>\(escape(title))</text>"
        body += "<line x1='50' y1='\(bottom)' x2='\(width - 20)' y2='\(bottom)' stroke='black'/>"
        for (i, bar) in bars.enumerated() {
            let x = 60 + 90 * Double(i), h = (bottom - top) * min(max(bar.1, 0), 100) / 100
            let spread = (bottom - top) * bar.2 / 100
            body += "<rect x='\(x)' y='\(bottom - h)' width='60' height='\(h)' fill='#4c78a8'/>"
            body += "<line x1='\(x + 30)' y1='\(bottom - h - spread)' x2='\(x + 30)' y2='\(bottom - h + spread)' stroke='black'/>"
            body += String(format: "<text x='%.0f' y='%.0f' text-anchor='middle' font-size='11'>%.1f</text>", x + 30, bottom - h - spread - 4, bar.1)
            body += "<text x='\(x + 30)' y='\(bottom + 16)' text-anchor='middle' font-size='10'>\(escape(String(bar.0.prefix(14))))</text>"
        }
        return svg(width, height, body)
    }
}
