import ArgumentParser
import Foundation
import NLTrain

struct Ablate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train and evaluate every variant of an ablation plan; write results.md, results.csv and results.svg.",
        discussion: "Plans for the paper's Table 2 are in Configs/ablations/. Each run has its own folder, named by the variant "
            + "and a digest of what decides it, and resumes; finished runs are reused.")

    @Argument(help: "The plan (YAML).")
    var plan: String

    @Option(help: "Output folder for the reports (default: --runs).")
    var out: String?

    @Option(help: "Folder of runs and generated data (default: --out). Plans sharing one train a shared variant once.")
    var runs: String?

    @OptionGroup(title: "Sharding (job arrays; implies --train-only)") var sharding: ShardOptions

    @Option(help: "Seeds per variant (default: the plan's).")
    var seeds: Int?

    @Flag(help: "Apply the plan's quick: overrides (a few steps, for a smoke run).")
    var quick = false

    @Flag(help: ArgumentHelp("Only train: claim and train the missing runs no other process holds, then stop (no report).",
                             discussion: "Start several such processes on one --runs store (e.g. NLNET_THREADS=1 each, or job-array tasks on a "
                                 + "shared filesystem); then run once more without it, or with --report, to write the tables."))
    var trainOnly = false

    @Flag(help: "Only write the reports from finished runs; fail naming any run that is missing.")
    var report = false

    func validate() throws {
        guard out != nil || runs != nil else { throw ValidationError("give --out DIR, --runs DIR, or both") }
        let sharded = try sharding.resolved() != nil
        if (trainOnly || sharded) && report { throw ValidationError("--\(sharded ? "shard" : "train-only") and --report exclude each other") }
        if let seeds, !(1...1000).contains(seeds) { throw ValidationError("--seeds must be 1…1000, got \(seeds)") }
    }

    func run() throws {
        try requireReadable(plan, option: "plan")
        let p = try AblationPlan.load(path: plan)
        let start = Date()
        let shard = try sharding.resolved()
        let out = self.out ?? runs!
        let mode: AblationPlan.Mode = trainOnly || shard != nil ? .trainOnly : report ? .report : .trainAndReport
        let results = try p.run(output: out, runs: runs, seeds: seeds, quick: quick, mode: mode, shard: shard) {
            FileHandle.standardError.write(Data(($0 + "\n").utf8))
        }
        if mode == .trainOnly {
            let total = p.variants.count * (seeds ?? p.seeds)
            let share = shard.map { "shard \($0.index)/\($0.count): " } ?? ""
            print("\(share)\(results.count) of the \(total) runs of \(p.name) are finished in the store and seen by this "
                + "task after \(String(format: "%.0f", Date().timeIntervalSince(start))) s; the others belong to other shards or processes")
            return
        }
        print(try String(contentsOfFile: out + "/results.md", encoding: .utf8))
        print("\(results.count) runs in \(String(format: "%.0f", Date().timeIntervalSince(start))) s; \(out)/results.md, results.csv, results.svg")
    }
}
