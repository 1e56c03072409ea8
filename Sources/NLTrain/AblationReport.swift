import Foundation

extension AblationPlan {
    /// Writes the reports of a finished ablation into `directory` (created if needed).
    ///
    /// - results.csv: one row per run (variant, seed, top-1 and top-5 as fractions, size, folder).
    /// - results.md: per variant top-1 mean ± sample std and its 95% confidence interval
    ///   x̄ ± t₀.₉₇₅,ₙ₋₁ · s/√n, top-5, per-class top-1 (for ≤ 8 classes), seeds, params, GFLOPs;
    ///   then one line per claim of ``claims`` with Welch's t, ν and two-sided p, called beyond
    ///   noise when p < 0.05.
    /// - results.json: the same figures for scripts, in percent: `{name, chance,
    ///   variants: [{name, seeds, parameters, gflops, top1, top5, per_class: {class: …}}],
    ///   claims: [{better, than, metric, mean_better, mean_than, difference, t, df, p, verdict, text}]}`,
    ///   each figure `{values, mean, std, ci95: [lo, hi]}`; `std`, `ci95`, `t`, `df`, `p` are left
    ///   out where undefined (one seed; no spread in either variant).
    /// - results.svg: top-1 bars with 95% CI whiskers and the chance level.
    /// - curves.svg, curves.csv (only when ``curves`` names variants): validation top-1 against
    ///   training step from each run folder's validation.jsonl (`{"step": 200, "top1": 0.62, …}`
    ///   per line), mean over seeds with a min–max band.
    public func writeReports(_ results: [Result], to directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let report = AblationReport(plan: self, results: results)
        func write(_ text: String, _ file: String) throws {
            try text.write(to: directory.appendingPathComponent(file), atomically: true, encoding: .utf8)
        }
        try write(report.csv(), "results.csv")
        try write(report.markdown(), "results.md")
        try report.json().write(to: directory.appendingPathComponent("results.json"), options: .atomic)
        try write(SVGChart.bars(title: "\(name): top-1 (%)", yLabel: "top-1 (%)",
                                bars: report.variants.map { .init(name: $0.name, value: $0.top1.mean, interval: $0.top1.interval) },
                                chance: report.chance), "results.svg")
        if !curves.isEmpty {
            let runs = report.validationRuns()
            var csv = ["variant,seed,step,top1"]
            for run in runs {
                for p in run.points { csv.append("\(AblationReport.csvField(run.variant)),\(run.seed),\(p.step),\(p.top1)") }
            }
            try write(csv.joined(separator: "\n") + "\n", "curves.csv")
            try write(SVGChart.curves(title: "\(name): validation top-1", xLabel: "training step", yLabel: "validation top-1 (%)",
                                      curves: AblationReport.meanCurves(runs, variants: curves), chance: report.chance), "curves.svg")
        }
    }
}

/// The figures behind the reports: per-variant summaries over seeds and the tested claims.
struct AblationReport {
    /// One figure over seeds, in percent.
    struct Summary: Encodable {
        var values: [Double]
        var mean: Double
        var std: Double?
        var interval: ClosedRange<Double>?

        init(_ values: [Double]) {
            self.values = values
            mean = Statistics.mean(values)
            std = Statistics.standardDeviation(values)
            interval = Statistics.confidenceInterval95(values)
        }

        enum CodingKeys: String, CodingKey { case values, mean, std, ci95 }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(values, forKey: .values)
            try c.encode(mean, forKey: .mean)
            try c.encodeIfPresent(std, forKey: .std)
            try c.encodeIfPresent(interval.map { [$0.lowerBound, $0.upperBound] }, forKey: .ci95)
        }

        /// "74.1 ± 1.9", or the mean alone for one seed (a spread of 0 would claim certainty).
        var text: String { std.map { String(format: "%.1f ± %.1f", mean, $0) } ?? String(format: "%.1f", mean) }
    }

    struct Variant: Encodable {
        var name: String
        var seeds: Int
        var parameters: Int
        var gflops: Double
        var top1: Summary
        var top5: Summary
        var perClass: [String: Summary]
    }

    enum Verdict: String, Encodable { case beyondNoise = "beyond noise", notBeyondNoise = "not beyond noise", opposite = "opposite, beyond noise", untestable }

    struct ClaimOutcome: Encodable {
        var better: String
        var than: String
        var metric: String
        var meanBetter: Double?
        var meanThan: Double?
        var difference: Double?
        var t: Double?
        var df: Double?
        var p: Double?
        var verdict: Verdict
        var text: String
    }

    /// Beyond noise means a two-sided p below this: a 1-in-20 chance of calling seed noise a difference.
    static let significance = 0.05

    let plan: AblationPlan
    let results: [AblationPlan.Result]
    let classes: [String]
    let variants: [Variant]
    let claims: [ClaimOutcome]

    init(plan: AblationPlan, results: [AblationPlan.Result]) {
        self.plan = plan
        self.results = results
        classes = Set(results.flatMap { $0.perClass.map { Array($0.keys) } ?? [] }).sorted()
        variants = plan.variants.compactMap { variant in
            let rs = results.filter { $0.variant == variant.name }
            guard let first = rs.first else { return nil }
            var perClass: [String: Summary] = [:]
            for c in Set(rs.flatMap { $0.perClass.map { Array($0.keys) } ?? [] }) {
                perClass[c] = Summary(rs.compactMap { $0.perClass?[c] }.map { 100 * $0 })
            }
            return Variant(name: variant.name, seeds: rs.count, parameters: first.parameters, gflops: first.gflops,
                           top1: Summary(rs.map { 100 * $0.top1 }), top5: Summary(rs.map { 100 * $0.top5 }), perClass: perClass)
        }
        claims = plan.claims.map { Self.test($0, results) }
    }

    /// 100 / classes: a classifier that ignores its input scores this in expectation on a
    /// balanced validation set. Nil when the runs kept no per-class accuracies.
    var chance: Double? { classes.isEmpty ? nil : 100 / Double(classes.count) }

    /// A metric's per-seed values in percent: `top1`, `top5`, a class's top-1, or the mean top-1
    /// of classes joined by `+` (`colours_match+colours_differ`: accuracy on a class pair, which
    /// one class's column cannot give — a network that always answers "match" scores 100 there).
    static func values(_ metric: String, of rs: [AblationPlan.Result]) -> [Double] {
        switch metric {
        case "top1": rs.map { 100 * $0.top1 }
        case "top5": rs.map { 100 * $0.top5 }
        default:
            rs.compactMap { r -> Double? in
                let parts = metric.split(separator: "+").map { r.perClass?[String($0)] }
                guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { return nil }
                return 100 * parts.map { $0! }.reduce(0, +) / Double(parts.count)
            }
        }
    }

    static func test(_ claim: AblationPlan.Claim, _ results: [AblationPlan.Result]) -> ClaimOutcome {
        let a = values(claim.metric, of: results.filter { $0.variant == claim.better })
        let b = values(claim.metric, of: results.filter { $0.variant == claim.than })
        let on = switch claim.metric { case "top1": ""; case "top5": " on top-5"; default: " on \(claim.metric)" }
        var outcome = ClaimOutcome(better: claim.better, than: claim.than, metric: claim.metric, verdict: .untestable,
                                   text: "\(claim.better) > \(claim.than)\(on)")
        guard !a.isEmpty, !b.isEmpty else {
            outcome.text += ": — untestable: no \(claim.metric) figures for \(a.isEmpty ? claim.better : claim.than)"
            return outcome
        }
        let ma = Statistics.mean(a), mb = Statistics.mean(b)
        (outcome.meanBetter, outcome.meanThan, outcome.difference) = (ma, mb, ma - mb)
        outcome.text += String(format: ": %+.1f points (mean %.1f vs %.1f)", ma - mb, ma, mb)
        guard let w = Statistics.welch(a, b) else {
            outcome.text += " — untestable: \(a.count) and \(b.count) seeds (Welch's test needs at least 2 of each)"
            return outcome
        }
        outcome.t = w.t.isFinite ? w.t : nil
        outcome.df = w.degreesOfFreedom.isFinite ? w.degreesOfFreedom : nil
        outcome.p = w.p
        let pText = w.p == 0 ? "0" : w.p >= 0.001 ? String(format: "%.3f", w.p) : String(format: "%.1e", w.p)
        if w.degreesOfFreedom.isFinite {
            outcome.text += String(format: ", Welch t = %.1f, df = %.1f, p = %@", w.t, w.degreesOfFreedom, pText)
        } else {
            outcome.text += ", no spread across seeds in either variant, p = \(pText)"
        }
        if w.p < significance {
            outcome.verdict = ma > mb ? .beyondNoise : .opposite
            outcome.text += ma > mb ? " — beyond noise (p < 0.05)" : " — the opposite, beyond noise (p < 0.05)"
        } else {
            outcome.verdict = .notBeyondNoise
            outcome.text += " — not beyond noise"
        }
        return outcome
    }

    static func csvField(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    func csv() -> String {
        var rows = ["variant,seed,top1,top5,parameters,gflops,folder"]
        for r in results {
            rows.append("\(Self.csvField(r.variant)),\(r.seed),\(r.top1),\(r.top5),\(r.parameters),\(r.gflops),\(Self.csvField(r.folder ?? ""))")
        }
        return rows.joined(separator: "\n") + "\n"
    }

    func markdown() -> String {
        // Per-class columns only for small label sets (the synthetic benchmark's four).
        let classColumns = classes.count <= 8 ? classes : []
        var md = ["# \(plan.name)", "",
                  "| variant | top-1 (%) | top-1 95% CI | top-5 (%) | " + classColumns.map { "\($0) (%) | " }.joined() + "seeds | params | GFLOPs |",
                  "|---|---|---|---|" + String(repeating: "---|", count: classColumns.count) + "---|---|---|"]
        for v in variants {
            let interval = v.top1.interval.map { String(format: "[%.1f, %.1f]", $0.lowerBound, $0.upperBound) } ?? "–"
            let perClass = classColumns.map { c in
                v.perClass[c].map { s in s.std.map { String(format: "%.0f ± %.0f", s.mean, $0) } ?? String(format: "%.0f", s.mean) } ?? "–"
            }
            md.append("| \(v.name) | \(v.top1.text) | \(interval) | \(v.top5.text) | " + perClass.map { "\($0) | " }.joined()
                      + String(format: "%d | %.2fM | %.2f |", v.seeds, Double(v.parameters) / 1e6, v.gflops))
        }
        md.append("")
        md.append("Mean ± sample standard deviation over seeds of top-1 / top-5 (and top-1 per class) on the validation list; "
                  + "the 95% CI of the mean top-1 is x̄ ± t₀.₉₇₅,ₙ₋₁ · s/√n (none for one seed); "
                  + "GFLOPs per clip (2 × multiply-adds + softmax)"
                  + (chance.map { String(format: "; chance is %.1f%%.", $0) } ?? "."))
        if !claims.isEmpty {
            md += ["", "## Claims", "",
                   "Welch's two-sample t-test over seeds (no equal-variance assumption), two-sided; a difference is beyond noise when p < 0.05. "
                   + "With 2–3 seeds only large, consistent differences pass, so \"not beyond noise\" is not \"equal\".", ""]
            md += claims.map { "- " + $0.text }
        }
        return md.joined(separator: "\n") + "\n"
    }

    func json() throws -> Data {
        struct Document: Encodable {
            var name: String
            var chance: Double?
            var classes: [String]
            var variants: [Variant]
            var claims: [ClaimOutcome]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(Document(name: plan.name, chance: chance, classes: classes, variants: variants, claims: claims))
    }

    /// One run's validation curve: top-1 as a fraction, as validation.jsonl stores it.
    struct ValidationRun { var variant: String; var seed: Int; var points: [(step: Int, top1: Double)] }

    /// The validation.jsonl of every run of the plan's `curves` variants, in plan order; a run
    /// without the file (trained before it was written, or not yet evaluated) has no points.
    func validationRuns() -> [ValidationRun] {
        plan.curves.flatMap { variant in
            results.filter { $0.variant == variant }.sorted { $0.seed < $1.seed }.map { r in
                let points = (r.folder.map(Validation.curve(in:)) ?? []).map { (step: $0.step, top1: $0.top1) }
                return ValidationRun(variant: variant, seed: r.seed, points: points.sorted { $0.step < $1.step })
            }
        }
    }

    /// Per variant, at each step any seed evaluated: the mean, min and max top-1 (%) over the
    /// seeds that have that step.
    static func meanCurves(_ runs: [ValidationRun], variants: [String]) -> [SVGChart.Curve] {
        variants.map { variant in
            var bySteps: [Int: [Double]] = [:]
            for run in runs where run.variant == variant {
                for p in run.points { bySteps[p.step, default: []].append(100 * p.top1) }
            }
            return SVGChart.Curve(name: variant, points: bySteps.keys.sorted().map { step in
                let v = bySteps[step]!
                return (Double(step), Statistics.mean(v), v.min()!, v.max()!)
            })
        }
    }
}

extension SVGChart {
    /// A bar of ``bars(title:yLabel:bars:chance:)``: a value in percent and an optional interval
    /// (drawn as a whisker) around it.
    public struct Bar: Sendable {
        /// The label under the bar (a variant's name).
        public var name: String
        /// The bar's height, in percent.
        public var value: Double
        /// The whisker's ends in percent (e.g. a 95% confidence interval); nil: no whisker.
        public var interval: ClosedRange<Double>?
        /// A bar from its parts.
        public init(name: String, value: Double, interval: ClosedRange<Double>?) {
            self.name = name; self.value = value; self.interval = interval
        }
    }

    /// A line of ``curves(title:xLabel:yLabel:curves:chance:)``: at each x the value y (percent)
    /// and the band low…high around it.
    public struct Curve: Sendable {
        /// The curve's name in the legend.
        public var name: String
        /// The points in x order: y and its band low…high, in percent.
        public var points: [(x: Double, y: Double, low: Double, high: Double)]
        /// A curve from its parts.
        public init(name: String, points: [(x: Double, y: Double, low: Double, high: Double)]) {
            self.name = name; self.points = points
        }
    }

    /// The plot area of a percent chart, 0…100 bottom to top, and the parts every such chart
    /// shares: the y axis with ticks and grid every 25, its label, the x axis line, the chance line.
    struct PercentFrame {
        var left: Double, top: Double, right: Double, bottom: Double

        func y(_ value: Double) -> Double { bottom - (bottom - top) * min(max(value, 0), 100) / 100 }

        func axes(yLabel: String) -> String {
            var s = ""
            for tick in stride(from: 0.0, through: 100, by: 25) {
                let y = y(tick)
                if tick > 0 { s += "<line x1='\(left)' y1='\(y)' x2='\(right)' y2='\(y)' stroke='#dddddd'/>" }
                s += "<line x1='\(left - 5)' y1='\(y)' x2='\(left)' y2='\(y)' stroke='black'/>"
                s += "<text x='\(left - 8)' y='\(y + 4)' text-anchor='end' font-size='11'>\(Int(tick))</text>"
            }
            let middle = (top + bottom) / 2
            s += "<text x='18' y='\(middle)' transform='rotate(-90 18 \(middle))' text-anchor='middle' font-size='12'>\(escape(yLabel))</text>"
            s += "<line x1='\(left)' y1='\(top)' x2='\(left)' y2='\(bottom)' stroke='black'/>"
            s += "<line x1='\(left)' y1='\(bottom)' x2='\(right)' y2='\(bottom)' stroke='black'/>"
            return s
        }

        func chance(_ level: Double?) -> String {
            guard let level else { return "" }
            let y = y(level)
            return "<line x1='\(left)' y1='\(y)' x2='\(right)' y2='\(y)' stroke='#d62728' stroke-width='1.2' stroke-dasharray='6 4'/>"
                + "<text x='\(right - 2)' y='\(y - 4)' text-anchor='end' font-size='11' fill='#d62728'>chance</text>"
        }
    }

    /// A name in at most two lines, broken at the space that makes the longer line shortest;
    /// the caller widens the slot to the longer line rather than cutting the name.
    static func twoLines(_ name: String) -> [String] {
        let words = name.split(separator: " ").map(String.init)
        guard words.count > 1, name.count > 12 else { return [name] }
        let splits = (1..<words.count).map { [words[..<$0].joined(separator: " "), words[$0...].joined(separator: " ")] }
        return splits.min { max($0[0].count, $0[1].count) < max($1[0].count, $1[1].count) }!
    }

    /// Vertical bars of percentages on a labelled 0…100 axis: the value above each bar, its
    /// interval as a whisker (none when nil, e.g. one seed), and a dashed chance line.
    public static func bars(title: String, yLabel: String, bars: [Bar], chance: Double?) -> String {
        let labels = bars.map { twoLines($0.name) }
        // ~6.2 px per character at 11 px: slots grow to the longest label line instead of cutting it.
        let longest = Double(labels.flatMap { $0 }.map(\.count).max() ?? 0)
        let slot = max(80.0, 6.2 * longest + 12), barWidth = 50.0
        let frame = PercentFrame(left: 64, top: 50, right: 64 + slot * Double(max(bars.count, 1)) + 10, bottom: 300)
        var body = "<text x='\((frame.left + frame.right) / 2)' y='24' text-anchor='middle' font-size='16'>\(escape(title))</text>"
        body += frame.axes(yLabel: yLabel)
        for (i, bar) in bars.enumerated() {
            let center = frame.left + 10 + slot * (Double(i) + 0.5), top = frame.y(bar.value)
            body += String(format: "<rect x='%.1f' y='%.1f' width='%.0f' height='%.1f' fill='#4c78a8'/>",
                           center - barWidth / 2, top, barWidth, frame.bottom - top)
            var labelY = top
            if let interval = bar.interval {
                let (hi, lo) = (frame.y(interval.upperBound), frame.y(interval.lowerBound))
                body += String(format: "<path d='M%.1f %.1fH%.1fM%.1f %.1fV%.1fM%.1f %.1fH%.1f' stroke='black' fill='none'/>",
                               center - 6, hi, center + 6, center, hi, lo, center - 6, lo, center + 6)
                labelY = min(labelY, hi)
            }
            body += String(format: "<text x='%.1f' y='%.1f' text-anchor='middle' font-size='11'>%.1f</text>", center, labelY - 5, bar.value)
            for (line, text) in labels[i].enumerated() {
                body += "<text x='\(center)' y='\(frame.bottom + 16 + 14 * Double(line))' text-anchor='middle' font-size='11'>\(escape(text))</text>"
            }
        }
        body += frame.chance(chance)
        return svg(frame.right + 20, frame.bottom + 50, body)
    }

    /// Percent curves against a step axis from 0: per curve a polyline through the points' y and
    /// a light band between low and high, on a labelled 0…100 axis with a chance line and a
    /// legend right of the plot.
    public static func curves(title: String, xLabel: String, yLabel: String, curves: [Curve], chance: Double?) -> String {
        let frame = PercentFrame(left: 64, top: 50, right: 544, bottom: 320)
        // No red: it marks the chance line.
        let colors = ["#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]
        let maxX = curves.flatMap { $0.points.map(\.x) }.max() ?? 1
        let ticks = niceTicks(upTo: max(maxX, 1))
        let xEnd = max(ticks.last ?? 1, maxX)
        func x(_ value: Double) -> Double { frame.left + (frame.right - frame.left) * value / xEnd }
        var body = "<text x='\((frame.left + frame.right) / 2)' y='24' text-anchor='middle' font-size='16'>\(escape(title))</text>"
        body += frame.axes(yLabel: yLabel)
        for tick in ticks {
            body += "<line x1='\(x(tick))' y1='\(frame.bottom)' x2='\(x(tick))' y2='\(frame.bottom + 5)' stroke='black'/>"
            body += String(format: "<text x='%.1f' y='%.0f' text-anchor='middle' font-size='11'>%g</text>", x(tick), frame.bottom + 18, tick)
        }
        body += "<text x='\((frame.left + frame.right) / 2)' y='\(frame.bottom + 40)' text-anchor='middle' font-size='12'>\(escape(xLabel))</text>"
        body += frame.chance(chance)
        for (i, curve) in curves.enumerated() {
            let color = colors[i % colors.count]
            let xy = { (px: Double, py: Double) in String(format: "%.1f,%.1f", x(px), frame.y(py)) }
            if !curve.points.isEmpty {
                let band = curve.points.map { xy($0.x, $0.high) } + curve.points.reversed().map { xy($0.x, $0.low) }
                body += "<polygon points='\(band.joined(separator: " "))' fill='\(color)' fill-opacity='0.15' stroke='none'/>"
            }
            body += "<polyline fill='none' stroke='\(color)' stroke-width='1.8' points='\(curve.points.map { xy($0.x, $0.y) }.joined(separator: " "))'/>"
            for p in curve.points { body += String(format: "<circle cx='%.1f' cy='%.1f' r='2' fill='%@'/>", x(p.x), frame.y(p.y), color) }
            let legendY = frame.top + 8 + 18 * Double(i)
            body += "<line x1='\(frame.right + 14)' y1='\(legendY)' x2='\(frame.right + 34)' y2='\(legendY)' stroke='\(color)' stroke-width='2'/>"
            body += "<text x='\(frame.right + 40)' y='\(legendY + 4)' font-size='11'>\(escape(curve.name + (curve.points.isEmpty ? " (no data)" : "")))</text>"
        }
        body += "<text x='\(frame.right + 14)' y='\(frame.top + 8 + 18 * Double(curves.count) + 6)' font-size='10' fill='#555555'>line: mean over seeds</text>"
        body += "<text x='\(frame.right + 14)' y='\(frame.top + 8 + 18 * Double(curves.count) + 20)' font-size='10' fill='#555555'>band: min–max</text>"
        let longest = Double(curves.map { $0.name.count + ($0.points.isEmpty ? 10 : 0) }.max() ?? 0)
        return svg(frame.right + max(130, 46 + 6.2 * longest), frame.bottom + 56, body)
    }

    /// Ticks 0, d, 2d, … covering `upTo`, with d = 1, 2 or 5 × 10ᵏ giving at most 6 intervals.
    static func niceTicks(upTo maxValue: Double) -> [Double] {
        let raw = maxValue / 6, magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw }!
        return stride(from: 0.0, through: ceil(maxValue / step) * step + step / 2, by: step).map { $0 }
    }
}
