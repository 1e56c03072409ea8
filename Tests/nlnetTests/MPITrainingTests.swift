import Foundation
import NLTensor
import Testing

/// `mpirun -n 2 nlnet train …` (Open MPI, both ranks on this machine): the weights equal one
/// process's with the same global batch, resume works on every rank, and a rank that fails
/// ends the job instead of leaving the other waiting. Skipped when Open MPI is not installed
/// (`make deps` installs it).
@Suite("Data-parallel training over MPI",
       .enabled(if: MPIRun.path != nil, "Open MPI's mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev): MPI tests skipped"))
struct MPITrainingTests {
    /// Float tolerance between N ranks and one process: the gradients are summed in the same
    /// order (bit-equal in practice); BN running statistics go through the closed form of
    /// GradientExchange, a few ulps off the sequential updates.
    static let tolerance: Float = 1e-5

    /// A small NL C2D (a non-local block, dropout 0.5: every per-micro-batch draw is exercised),
    /// 3 steps of 2 micro-batches of 2 clips, on 16 synthetic clips.
    static func setup(_ name: String) throws -> (dir: URL, arguments: [String]) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-mpi-\(name)-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let synth = try CLI.run(["synth", "--out", dir.appendingPathComponent("data").path, "--train", "4", "--val", "1", "--quiet"])
        #expect(synth.status == 0, "\(synth.stderr)")
        let base = ClassifyCommandTests.root.appendingPathComponent("Configs/ablations/base.yaml").path
        return (dir, ["train", "--config", base, "--train", dir.appendingPathComponent("data/train.csv").path,
                      "--set", "model.nonlocal.blocks=1-block", "--set", "model.dropout=0.5", "--set", "train.batch_size=2",
                      "--set", "train.accumulate=2", "--set", "train.max_iterations=3", "--set", "train.eval_every=0",
                      "--set", "train.checkpoint_every=2", "--set", "train.log_every=1"])
    }

    /// The largest difference between the tensors of two weights files (which must hold the same names).
    static func maxDifference(_ a: String, _ b: String) throws -> (Float, String) {
        let x = try SafeTensors(contentsOf: a), y = try SafeTensors(contentsOf: b)
        #expect(x.names == y.names)
        var worst: (Float, String) = (0, "")
        for name in x.names {
            let d = zip(try x.tensor(name).scalars, try y.tensor(name).scalars).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
            if d > worst.0 { worst = (d, name) }
        }
        return worst
    }

    @Test func twoRanksGiveOneProcesssWeightsAndResume() throws {
        let (dir, arguments) = try Self.setup("equal")
        defer { try? FileManager.default.removeItem(at: dir) }
        let single = try CLI.run(arguments + ["--out", dir.appendingPathComponent("single").path], environment: ["NLNET_THREADS": "1"])
        #expect(single.status == 0, "\(single.stderr)")
        let ranks = try MPIRun.run(2, arguments + ["--out", dir.appendingPathComponent("mpi").path])
        #expect(ranks.status == 0, "\(ranks.stderr)")
        #expect(ranks.stderr.contains("on 2 MPI ranks") && ranks.stderr.components(separatedBy: "step 3/3").count == 2,
                "rank 0 alone logs: \(ranks.stderr)")
        let (difference, name) = try Self.maxDifference(dir.appendingPathComponent("single/model.safetensors").path,
                                                        dir.appendingPathComponent("mpi/model.safetensors").path)
        #expect(difference <= Self.tolerance, "2 ranks vs 1 process: \(name) differs by \(difference)")
        let losses = { (run: String) in try String(contentsOfFile: dir.appendingPathComponent("\(run)/metrics.csv").path, encoding: .utf8)
            .split(separator: "\n").dropFirst().map { $0.split(separator: ",")[2] } }
        #expect(try losses("single") == losses("mpi"), "the logged loss is the global batch's")

        // Stopped after the checkpoint at step 2 and resumed: every rank reads rank 0's checkpoint.
        let resumedDir = dir.appendingPathComponent("resumed").path
        let first = try MPIRun.run(2, arguments + ["--out", resumedDir, "--stop-after", "2"])
        let second = try MPIRun.run(2, arguments + ["--out", resumedDir, "--resume"])
        #expect(first.status == 0 && second.status == 0, "\(first.stderr)\n\(second.stderr)")
        let (resumed, resumedName) = try Self.maxDifference(dir.appendingPathComponent("single/model.safetensors").path, resumedDir + "/model.safetensors")
        #expect(resumed <= Self.tolerance, "resumed on 2 ranks: \(resumedName) differs by \(resumed)")
    }

    /// A rank whose input is bad ends the job with a message naming the rank and the file; a
    /// rank killed in the middle of training ends it too (mpirun stops the others). Neither hangs.
    @Test func aFailingRankEndsTheJob() throws {
        let (dir, arguments) = try Self.setup("fail")
        defer { try? FileManager.default.removeItem(at: dir) }
        let nlnet = CLI.binary.path
        let quoted = arguments.map { "'\($0)'" }.joined(separator: " ")
        let bad = try MPIRun.run(2, ["sh", "-c", "if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then L=/no/such/list.csv; else L='\(dir.path)/data/train.csv'; fi; "
                                     + "exec '\(nlnet)' \(quoted) --out '\(dir.path)/bad' --train \"$L\""], program: nil)
        #expect(bad.status != 0 && bad.stderr.contains("rank 1 of 2 failed") && bad.stderr.contains("/no/such/list.csv"), "\(bad.stderr)")

        let start = Date()
        let killed = try MPIRun.run(2, ["sh", "-c", "if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then T='timeout -s KILL 3'; fi; "
                                        + "exec $T '\(nlnet)' \(quoted) --out '\(dir.path)/killed' --set train.max_iterations=100000"], program: nil)
        #expect(killed.status != 0 && Date().timeIntervalSince(start) < 60,
                "status \(killed.status) after \(Date().timeIntervalSince(start)) s: \(killed.stderr)")
    }

    @Test func aWorldSizeTheRecipeCannotSplitIsRefused() throws {
        let (dir, arguments) = try Self.setup("split")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try MPIRun.run(2, arguments + ["--out", dir.appendingPathComponent("odd").path, "--set", "train.accumulate=1"])
        #expect(r.status != 0 && r.stderr.contains("train.accumulate is 1") && r.stderr.contains("multiple of 2"), "\(r.stderr)")
    }
}

/// Open MPI's mpirun, run with a time limit (a hang fails the test instead of stalling it).
enum MPIRun {
    static let path: String? = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// `mpirun -n ranks nlnet arguments…` (or `arguments` as the command when `program` is nil),
    /// one thread per rank. Root needs --allow-run-as-root; --oversubscribe lets 2 ranks share
    /// fewer cores.
    static func run(_ ranks: Int, _ arguments: [String], program: String? = CLI.binary.path) throws -> CLI.Result {
        let root = getuid() == 0 ? ["--allow-run-as-root"] : []
        return try CLI.run(["180", path!, "-n", "\(ranks)", "--oversubscribe"] + root + (program.map { [$0] } ?? []) + arguments,
                           environment: ["NLNET_THREADS": "1"], executable: URL(fileURLWithPath: "/usr/bin/timeout"))
    }
}
