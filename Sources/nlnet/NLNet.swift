import ArgumentParser

struct NLNet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nlnet",
        abstract: "Video action recognition with spacetime non-local networks (Wang et al., CVPR 2018).",
        version: "nlnet 0.5.0 (NonLocalNet; default model: the synthetic benchmark's, generator v3)",
        subcommands: [Classify.self, Watch.self, Features.self, Train.self, Eval.self, Attention.self, Synth.self, Ablate.self,
                      Convert.self, Info.self, ListPresets.self, Forward.self, Probe.self, Decode.self, Bench.self])
}

/// Options every benchmark takes.
struct BenchOutput: ParsableArguments {
    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Option(help: "Timed repetitions per measurement (the best is kept, after one warm-up).")
    var repeats = 3

    func validate() throws {
        guard (1...1000).contains(repeats) else { throw ValidationError("--repeats must be 1…1000, got \(repeats)") }
    }
}
