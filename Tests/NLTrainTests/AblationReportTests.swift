import Foundation
import NLModels
import NLTrain
import Testing

/// The plan's `claims:` and `curves:` keys and the reports written from hand-made results.
@Suite("Ablation reports")
struct AblationReportTests {
    static func temporary(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-report-\(getpid())-\(name)")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A plan on two synthetic classes (chance 50%) with variants A, B, C and the given extra keys.
    static func plan(in dir: URL, _ extra: String) throws -> AblationPlan {
        let path = dir.appendingPathComponent("plan.yaml")
        try """
        name: report test
        base: base.yaml
        data: {synth: {classes: [left_to_right, right_to_left]}}
        seeds: 3
        variants:
          - {name: C2D}
          - {name: NL C2D 5-block, set: [model.nonlocal.blocks=5-block]}
          - {name: I3D, set: [model.arch=i3d]}
          - {name: one seed}
        \(extra)
        """.write(to: path, atomically: true, encoding: .utf8)
        return try AblationPlan.load(path: path.path)
    }

    static func loadError(_ extra: String) throws -> ConfigError? {
        let dir = try Self.temporary("bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        do { _ = try Self.plan(in: dir, extra); return nil } catch let e as ConfigError { return e }
    }

    @Test func claimsAndCurvesAreParsed() throws {
        let dir = try Self.temporary("parse")
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = try Self.plan(in: dir, """
        claims:
          - {better: NL C2D 5-block, than: C2D}
          - {better: I3D, than: C2D, metric: left_to_right}
        curves: [C2D, I3D]
        """)
        #expect(p.claims == [AblationPlan.Claim(better: "NL C2D 5-block", than: "C2D"),
                             AblationPlan.Claim(better: "I3D", than: "C2D", metric: "left_to_right")])
        #expect(p.curves == ["C2D", "I3D"])
        #expect(try Self.plan(in: dir, "").claims.isEmpty)
    }

    @Test func anUnknownVariantInAClaimNamesTheKey() throws {
        let than = try #require(try Self.loadError("claims:\n  - {better: I3D, than: C2D}\n  - {better: I3D, than: C3D}"))
        #expect(than.keyPath == "claims.1.than" && than.message.contains("'C3D'"), "\(than)")
        let better = try #require(try Self.loadError("claims: [{better: NL, than: C2D}]"))
        #expect(better.keyPath == "claims.0.better", "\(better)")
        let missing = try #require(try Self.loadError("claims: [{better: I3D}]"))
        #expect(missing.keyPath == "claims.0.than", "\(missing)")
        let metric = try #require(try Self.loadError("claims: [{better: I3D, than: C2D, metric: flash_in_sync}]"))
        #expect(metric.keyPath == "claims.0.metric", "flash_in_sync is not among this plan's classes: \(metric)")
        let group = try #require(try Self.loadError("claims: [{better: I3D, than: C2D, metric: left_to_right+flash_in_sync}]"))
        #expect(group.keyPath == "claims.0.metric", "a group with a class the plan lacks: \(group)")
        let key = try #require(try Self.loadError("claims: [{better: I3D, than: C2D, by: 3}]"))
        #expect(key.keyPath == "claims.0.by", "\(key)")
        let curve = try #require(try Self.loadError("curves: [C2D, NL I3D]"))
        #expect(curve.keyPath == "curves.1" && curve.message.contains("NL I3D"), "\(curve)")
    }

    /// Top-1 (fractions) per seed and per-class accuracies of both classes.
    static func results(_ variant: String, _ top1: [Double], folder: (Int) -> String? = { _ in nil }) -> [AblationPlan.Result] {
        top1.enumerated().map { seed, t in
            AblationPlan.Result(variant: variant, seed: seed, top1: t, top5: 1, parameters: 1_500_000, gflops: 0.25, folder: folder(seed),
                                perClass: ["left_to_right": min(1, t + 0.1), "right_to_left": max(0, t - 0.1)])
        }
    }

    /// `a+b`: the mean of the classes' top-1 per seed (here (t + 0.1 + t − 0.1) / 2 = t).
    @Test func aClassGroupIsTheMeanOfItsClasses() throws {
        let dir = try Self.temporary("group")
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = try Self.plan(in: dir, "claims: [{better: NL C2D 5-block, than: C2D, metric: left_to_right+right_to_left}]")
        try p.writeReports(Self.results("C2D", [0.5, 0.52, 0.54]) + Self.results("NL C2D 5-block", [0.7, 0.72, 0.74]), to: dir)
        let md = try String(contentsOf: dir.appendingPathComponent("results.md"), encoding: .utf8)
        #expect(md.contains("NL C2D 5-block > C2D on left_to_right+right_to_left: +20.0 points (mean 72.0 vs 52.0)"), "\(md)")
    }

    @Test func claimsSayWhetherADifferenceIsBeyondNoise() throws {
        let dir = try Self.temporary("claims")
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = try Self.plan(in: dir, """
        claims:
          - {better: NL C2D 5-block, than: C2D}
          - {better: I3D, than: C2D}
          - {better: C2D, than: NL C2D 5-block}
          - {better: one seed, than: C2D}
        """)
        // 5-block: ~12 points above C2D with ~1 point of spread; I3D: 3 points above with ~10.
        let results = Self.results("C2D", [0.61, 0.62, 0.63]) + Self.results("NL C2D 5-block", [0.73, 0.74, 0.75])
            + Self.results("I3D", [0.55, 0.65, 0.75]) + Self.results("one seed", [0.9])
        try p.writeReports(results, to: dir)
        let md = try String(contentsOf: dir.appendingPathComponent("results.md"), encoding: .utf8)
        let lines = md.split(separator: "\n").map(String.init)
        func line(_ prefix: String) throws -> String { try #require(lines.first { $0.hasPrefix("- " + prefix) }, "no claim line \(prefix) in\n\(md)") }
        let beyond = try line("NL C2D 5-block > C2D:")
        #expect(beyond.contains("+12.0 points (mean 74.0 vs 62.0)") && beyond.hasSuffix("— beyond noise (p < 0.05)"), "\(beyond)")
        #expect(beyond.contains("Welch t = 14.7, df = 4.0, p = 1.2e-04"), "\(beyond)")
        let notBeyond = try line("I3D > C2D:")
        #expect(notBeyond.contains("+3.0 points") && notBeyond.contains("df = 2.0, p = 0.656") && notBeyond.hasSuffix("— not beyond noise"), "\(notBeyond)")
        let opposite = try line("C2D > NL C2D 5-block:")
        #expect(opposite.contains("-12.0 points") && opposite.hasSuffix("— the opposite, beyond noise (p < 0.05)"), "\(opposite)")
        #expect(try line("one seed > C2D:").contains("untestable"))
        // The table: mean ± std, the CI (none for one seed), per-class columns.
        #expect(md.contains("| C2D | 62.0 ± 1.0 | [59.5, 64.5] | 100.0 ± 0.0 | 72 ± 1 | 52 ± 1 | 3 | 1.50M | 0.25 |"), "\(md)")
        #expect(md.contains("| one seed | 90.0 | – | 100.0 | 100 | 80 | 1 |"), "\(md)")
        #expect(md.contains("## Claims"))

        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("results.json"))) as? [String: Any])
        #expect((json["chance"] as? Double) == 50)
        let variants = try #require(json["variants"] as? [[String: Any]])
        #expect(variants.map { $0["name"] as? String } == ["C2D", "NL C2D 5-block", "I3D", "one seed"])
        let top1 = try #require(variants[0]["top1"] as? [String: Any])
        let ci = try #require(top1["ci95"] as? [Double])
        #expect(abs(ci[0] - 59.516) < 1e-3 && abs(ci[1] - 64.484) < 1e-3, "\(ci)")
        #expect((variants[3]["top1"] as? [String: Any])?["ci95"] == nil)
        #expect(((variants[0]["per_class"] as? [String: Any])?["right_to_left"] as? [String: Any])?["mean"] as? Double ?? 0 > 51.9)
        let claims = try #require(json["claims"] as? [[String: Any]])
        #expect(claims.map { $0["verdict"] as? String } == ["beyond noise", "not beyond noise", "opposite, beyond noise", "untestable"])
        #expect((claims[0]["p"] as? Double ?? 1) < 0.001 && (claims[1]["p"] as? Double ?? 0) > 0.05 && claims[3]["p"] == nil)

        let svg = try String(contentsOf: dir.appendingPathComponent("results.svg"), encoding: .utf8)
        #expect(svg.contains(">top-1 (%)</text>") && svg.contains(">chance</text>") && svg.contains("stroke-dasharray"))
        for tick in [0, 25, 50, 75, 100] { #expect(svg.contains(">\(tick)</text>"), "tick \(tick)") }
        #expect(svg.components(separatedBy: "<rect x=").count - 1 == 4, "a bar per variant")
        #expect(svg.components(separatedBy: "<path d=").count - 1 == 3, "a CI whisker per variant with 2+ seeds")
        // Names are whole (in one or two lines), never cut.
        #expect(svg.contains(">NL C2D</text>") && svg.contains(">5-block</text>"), "\(svg)")
        #expect(svg.contains(">74.0</text>"), "the value above the bar")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("curves.svg").path), "no curves: key, no curves")
    }

    @Test func curvesFromValidationLogs() throws {
        let dir = try Self.temporary("curves")
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = try Self.plan(in: dir, "curves: [C2D, NL C2D 5-block]")
        // Per seed: validation top-1 at steps 200, 400, 600 (a half-written last line in one).
        func folder(_ variant: String, _ seed: Int, _ top1: [Double], tail: String = "") throws -> String {
            let run = dir.appendingPathComponent("runs/\(variant)/seed\(seed)")
            try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
            let lines = top1.enumerated().map { "{\"step\": \(200 * ($0 + 1)), \"top1\": \($1), \"top5\": 1.0}\n" }
            try (lines.joined() + tail).write(to: run.appendingPathComponent("validation.jsonl"), atomically: true, encoding: .utf8)
            return run.path
        }
        let c2d = [try folder("c2d", 0, [0.5, 0.6, 0.7]), try folder("c2d", 1, [0.5, 0.7, 0.8], tail: "{\"step\": 80")]
        let nl = [try folder("nl", 0, [0.55, 0.75, 0.9]), try folder("nl", 1, [0.45, 0.65, 0.8])]
        let results = Self.results("C2D", [0.7, 0.8], folder: { c2d[$0] }) + Self.results("NL C2D 5-block", [0.9, 0.8], folder: { nl[$0] })
            + Self.results("I3D", [0.9, 0.9])
        try p.writeReports(results, to: dir)

        let csv = try String(contentsOf: dir.appendingPathComponent("curves.csv"), encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(csv.first == "variant,seed,step,top1")
        #expect(csv.count == 1 + 2 * 2 * 3, "a row per variant × seed × step: \(csv)")
        #expect(csv.contains("\"C2D\",1,400,0.7") && csv.contains("\"NL C2D 5-block\",0,600,0.9"), "\(csv)")
        #expect(!csv.contains { $0.hasPrefix("\"I3D\"") }, "I3D is not in curves:")

        let svg = try String(contentsOf: dir.appendingPathComponent("curves.svg"), encoding: .utf8)
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 2, "a line per listed variant")
        #expect(svg.components(separatedBy: "<polygon").count - 1 == 2, "a min–max band per listed variant")
        #expect(svg.contains(">training step</text>") && svg.contains(">validation top-1 (%)</text>") && svg.contains(">chance</text>"))
        #expect(svg.contains(">C2D</text>") && svg.contains(">NL C2D 5-block</text>"), "legend")
        // The C2D line's mean points: 50, 65, 75 % at steps 200, 400, 600. The plot spans x 64…544
        // over steps 0…600 and y 320…50 over 0…100 %.
        let c2dLine = try #require(svg.components(separatedBy: "<polyline").dropFirst().first)
        #expect(c2dLine.contains("points='224.0,185.0 384.0,144.5 544.0,117.5'"), "\(c2dLine.prefix(200))")
    }

    @Test func aVariantWithoutValidationLogsIsDrawnAsNoData() throws {
        let dir = try Self.temporary("nodata")
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = try Self.plan(in: dir, "curves: [I3D]")
        try p.writeReports(Self.results("I3D", [0.9, 0.9]), to: dir)
        #expect(try String(contentsOf: dir.appendingPathComponent("curves.csv"), encoding: .utf8) == "variant,seed,step,top1\n")
        #expect(try String(contentsOf: dir.appendingPathComponent("curves.svg"), encoding: .utf8).contains("I3D (no data)"))
    }
}
