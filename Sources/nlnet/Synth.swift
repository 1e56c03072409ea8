import ArgumentParser
import Foundation
import NLTrain

struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the synthetic long-range action dataset: real video files and train.csv / val.csv.",
        discussion: """
        Classes: \(SyntheticAction.benchmark.map(\.rawValue).joined(separator: ", ")) by default; \
        also \(SyntheticAction.allCases.filter { !SyntheticAction.benchmark.contains($0) }.map(\.rawValue).joined(separator: ", ")) \
        with --classes. Configs/ablations/README.md describes them. Deterministic from --seed.
        """)

    @Option(help: "Output folder.")
    var out: String

    @Option(help: "Comma-separated classes (default: the four benchmark classes).")
    var classes: String?

    @Option(help: "Training clips per class.")
    var train = 40

    @Option(help: "Validation clips per class.")
    var val = 20

    @Option(help: "Frames per clip.")
    var frames = 16

    @Option(help: "Width and height (even).")
    var size = 64

    @Option(help: "Seed.")
    var seed: UInt64 = 0

    @Option(help: "Drifting walkers per clip (distractors).")
    var walkers = 3

    @Option(help: "Randomly blinking decoy squares per clip (distractors).")
    var decoys = 2

    @Option(help: "Colours an event of colours_match / colours_differ can have (2–4).")
    var colours = 2

    @Option(help: "list (train.csv, val.csv beside split/<class>_<i>.mp4) or folders (split/<class>/<i>.mp4, for train --data).")
    var layout: SyntheticDataset.Layout = .list

    @Flag(help: "No progress lines.")
    var quiet = false

    /// The data set these options describe (classes checked, every number in range).
    func dataset() throws -> SyntheticDataset {
        var data = SyntheticDataset()
        if let classes {
            data.classes = try classes.split(separator: ",").map { name in
                guard let c = SyntheticAction(rawValue: String(name)) else {
                    throw ValidationError("--classes: unknown class '\(name)' (have \(SyntheticAction.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                return c
            }
        }
        data.train = train; data.val = val; data.frames = frames; data.size = size; data.seed = seed
        data.walkers = walkers; data.decoys = decoys; data.colours = colours
        if let problem = data.problem { throw ValidationError(problem) }
        return data
    }

    func validate() throws { _ = try dataset() }

    func run() throws {
        let data = try dataset()
        let start = Date()
        let progress = ProgressLine(total: (train + val) * data.classes.count, quiet: quiet)
        try data.write(to: out, layout: layout) { done, _ in progress.update(completed: done, detail: "clips") }
        progress.finish()
        print("\(out): \((train + val) * data.classes.count) clips of \(frames)×\(size)² "
              + "in \(String(format: "%.1f", Date().timeIntervalSince(start))) s; "
              + "\(layout == .list ? "train.csv, val.csv" : "train/<class>/, val/<class>/")")
    }
}

extension SyntheticDataset.Layout: ExpressibleByArgument {}
