import Foundation
import TestSupport
import NLTensor
import Testing

@Suite("nlnet train, eval")
struct TrainCommandTests {
    /// Made once per process: the tests run in parallel and must not rewrite each other's files.
    static let shared = Result { try makeDataset() }
    static func dataset() throws -> URL { try shared.get() }

    static func makeDataset() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-cli-train-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var lines = ["path,label"]
        for i in 1...2 {
            for (name, source) in [("warm", "testsrc2=size=64x48:rate=10:duration=1.2"), ("cold", "mandelbrot=size=64x48:rate=10")] {
                let file = dir.appendingPathComponent("\(name)\(i).mp4").path
                try ExternalTool.lavfiClip(source, seconds: 1.2, to: file)
                lines.append("\(name)\(i).mp4,\(name)")
            }
        }
        try lines.joined(separator: "\n").write(to: dir.appendingPathComponent("train.csv"), atomically: true, encoding: .utf8)
        try """
        model: {arch: i3d, width: 4, classes: 2, dropout: 0.5, train_crop: 32, nonlocal: {blocks: {res3: [1]}}}
        input: {frames: 4, stride: 2, short_side: 32, crop: 32}
        train: {batch_size: 2, base_lr: 0.05, steps: [1000], max_iterations: 60, jitter: [32, 40], crop: 32, checkpoint_every: 3, log_every: 10, seed: 3}
        """.write(to: dir.appendingPathComponent("tiny.yaml"), atomically: true, encoding: .utf8)
        return dir
    }

    /// A run killed with SIGKILL at a random moment and resumed ends with the same weights,
    /// bit for bit, as a run that was never interrupted.
    @Test func killedAndResumedEqualsUninterrupted() throws {
        let dir = try Self.dataset()
        let args = ["train", "--config", dir.appendingPathComponent("tiny.yaml").path, "--train", dir.appendingPathComponent("train.csv").path, "--quiet"]
        let straight = try CLI.run(args + ["--out", dir.appendingPathComponent("straight").path])
        #expect(straight.status == 0, "\(straight.stderr)")

        let killed = Process()
        killed.executableURL = CLI.binary
        killed.arguments = args + ["--out", dir.appendingPathComponent("killed").path]
        killed.standardError = FileHandle.nullDevice
        try killed.run()
        usleep(UInt32.random(in: 150_000...600_000))
        kill(killed.processIdentifier, SIGKILL)
        killed.waitUntilExit()
        let resumed = try CLI.run(args + ["--out", dir.appendingPathComponent("killed").path, "--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")

        let a = try SafeTensors(contentsOf: dir.appendingPathComponent("straight/model.safetensors").path)
        let b = try SafeTensors(contentsOf: dir.appendingPathComponent("killed/model.safetensors").path)
        #expect(a.names == b.names)
        let differing = a.names.filter { (try? a.tensor($0).scalars) != (try? b.tensor($0).scalars) }
        #expect(differing.isEmpty, "after SIGKILL and resume, \(differing.count) tensors differ, e.g. \(differing.first ?? "")")
    }

    /// A fresh run into a used folder drops the earlier run's evaluation; --resume without a
    /// checkpoint says it starts from step 0.
    @Test func freshRunsDropStaleResultsAndResumeSaysWhatItResumes() throws {
        let dir = try Self.dataset()
        let run = dir.appendingPathComponent("stalerun").path
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        try "{\"top1\": 1}".write(toFile: run + "/eval.json", atomically: true, encoding: .utf8)
        let r = try CLI.run(["train", "--config", dir.appendingPathComponent("tiny.yaml").path, "--train",
                             dir.appendingPathComponent("train.csv").path, "--out", run, "--set", "train.max_iterations=1", "--resume"])
        #expect(r.status == 0 && r.stderr.contains("no checkpoint in \(run) yet; starting from step 0"), "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: run + "/eval.json"), "a resumed run keeps the folder as it is")
        let fresh = try CLI.run(["train", "--config", dir.appendingPathComponent("tiny.yaml").path, "--train",
                                 dir.appendingPathComponent("train.csv").path, "--out", run, "--set", "train.max_iterations=1", "--quiet"])
        #expect(fresh.status == 0, "\(fresh.stderr)")
        #expect(!FileManager.default.fileExists(atPath: run + "/eval.json"), "the earlier run's eval.json is not this run's")
    }

    @Test func evalWritesTheReports() throws {
        let dir = try Self.dataset()
        let run = dir.appendingPathComponent("evalrun").path
        let trained = try CLI.run(["train", "--config", dir.appendingPathComponent("tiny.yaml").path, "--train",
                                   dir.appendingPathComponent("train.csv").path, "--out", run, "--set", "train.max_iterations=6", "--quiet"])
        #expect(trained.status == 0, "\(trained.stderr)")
        let r = try CLI.run(["eval", "--weights", run + "/model.safetensors", "--data", dir.appendingPathComponent("train.csv").path,
                             "--clips", "2", "--crops", "1", "--out", run + "/eval", "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("top-1") && r.stdout.contains("mean class accuracy"))
        for file in ["confusion.csv", "confusion.svg", "predictions.jsonl", "eval.json"] {
            #expect(FileManager.default.fileExists(atPath: run + "/eval/" + file), "\(file)")
        }
        #expect(FileManager.default.fileExists(atPath: run + "/curve.svg"))
    }
}
