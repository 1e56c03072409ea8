import ArgumentParser
import Foundation
import NLTrain

struct Ablate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train and evaluate every variant of an ablation plan; write results.md, results.csv and results.svg.",
        discussion: "Plans for the paper's Table 2 are in Configs/ablations/. Each run has its own folder, named by the variant and a digest of what decides it, and resumes; finished runs are reused.")

    @Argument(help: "The plan (YAML).")
    var plan: String

    @Option(help: "Output folder.")
    var out: String

    @Option(help: "Folder of runs and generated data (default: --out). Plans sharing one train a shared variant once.")
    var runs: String?

    @Option(help: "Seeds per variant (default: the plan's).")
    var seeds: Int?

    @Flag(help: "Apply the plan's quick: overrides (a few steps, for a smoke run).")
    var quick = false

    func run() throws {
        let p = try AblationPlan.load(path: plan)
        let start = Date()
        let results = try p.run(output: out, runs: runs, seeds: seeds, quick: quick) { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        print(try String(contentsOfFile: out + "/results.md", encoding: .utf8))
        print("\(results.count) runs in \(String(format: "%.0f", Date().timeIntervalSince(start))) s; \(out)/results.md, results.csv, results.svg")
    }
}
