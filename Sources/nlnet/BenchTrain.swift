import ArgumentParser
import Foundation
import NLModels
import NLTensor
import NLTrain

/// Training speed (forward + backward + SGD on one batch), and PyTorch eager on the same network
/// in the same run when a Python with torch is available (NLNET_TORCH_PYTHON, else python3).
struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Training clips/s and ms/step, beside PyTorch eager running Scripts/bench_train_pytorch.py on the same network.")

    @OptionGroup var selection: ModelSelection

    @Option(help: "Clips per step.")
    var batch = 4

    @OptionGroup var clip: ClipShape

    @OptionGroup var output: BenchOutput

    struct Report: Codable {
        var model: String
        var batch: Int
        var input: [Int]
        var nlnetSecondsPerStep: Double
        var nlnetClipsPerSecond: Double
        var pytorchSecondsPerStep: Double?
        var pytorchClipsPerSecond: Double?
        var ratio: Double?
        var pytorch: String
        var threads: Int
    }

    func validate() throws {
        guard (1...256).contains(batch) else { throw ValidationError("--batch must be 1…256 clips, got \(batch)") }
    }

    func run() throws {
        let model = try selection.modelOrDefault()
        let t = clip.frames ?? model.config.input.frames, size = clip.size ?? model.config.input.crop
        let x = Tensor(repeating: 0.1, shape: [batch, t, size, size, 3])
        let labels = (0..<batch).map { $0 % model.architecture.classes }
        var optimizer = SGD()
        var rng = RandomSource(seed: 0)
        var runs: [() -> Void] = [{ model.trainStep(x, labels: labels, optimizer: &optimizer, learningRate: 0.01, rng: &rng) }]
        // PyTorch's steps alternate with ours, so both see the same load on a shared machine.
        let torch = try PyTorchReference(config: model.config, batch: batch, frames: t, size: size, threads: Parallel.cores)
        if let torch { runs.append { torch.step() } }
        let times = ConvBenchmark.bestOfEach(output.repeats, runs)
        var report = Report(model: model.config.name, batch: batch, input: [t, size, size, 3],
                            nlnetSecondsPerStep: times[0], nlnetClipsPerSecond: Double(batch) / times[0], pytorch: "not run",
                            threads: Parallel.cores)
        if let torch, torch.failure == nil {
            report.pytorchSecondsPerStep = times[1]
            report.pytorchClipsPerSecond = Double(batch) / times[1]
            report.ratio = times[1] / times[0]
            report.pytorch = torch.description
        } else {
            report.pytorch = torch?.failure ?? "no Python with torch (set NLNET_TORCH_PYTHON); PyTorch side not run"
        }
        if output.json { print(try jsonLine(report)); return }
        print("\(report.model): batch \(batch) × \(t)×\(size)², \(Parallel.cores) threads")
        print(String(format: "nlnet    %.1f ms/step, %.2f clips/s", 1000 * report.nlnetSecondsPerStep, report.nlnetClipsPerSecond))
        if let s = report.pytorchSecondsPerStep, let r = report.ratio {
            print(String(format: "PyTorch  %.1f ms/step, %.2f clips/s (%@)   nlnet/PyTorch %.2f×", 1000 * s, Double(batch) / s, report.pytorch, r))
        } else {
            print("PyTorch: \(report.pytorch)")
        }
    }
}

/// Scripts/bench_train_pytorch.py running in a child process: one training step of the reference
/// network per request, so its steps can alternate with ours.
final class PyTorchReference: CustomStringConvertible {
    private let process = Process()
    private let requests = Pipe(), replies = Pipe()
    private var pending = Data()
    private(set) var description = ""
    /// Why the reference stopped answering, if it did.
    private(set) var failure: String?

    /// nil when the script or a Python with torch is not available.
    init?(config: ModelConfig, batch: Int, frames: Int, size: Int, threads: Int) throws {
        guard let script = ProjectFiles.locate("Scripts/bench_train_pytorch.py") else { return nil }
        let python = ProcessInfo.processInfo.environment["NLNET_TORCH_PYTHON"] ?? "python3"
        // The reference model reads the config as JSON, whose keys are the YAML's.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-bench-\(getpid()).json").path
        try JSONEncoder().encode(config).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, script, path, String(batch), String(frames), String(size), String(threads)]
        process.standardInput = requests
        process.standardOutput = replies
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        // The first line says the network is built (torch missing: the process ends instead).
        guard let ready = readLine(), let object = try? JSONSerialization.jsonObject(with: Data(ready.utf8)) as? [String: Any] else {
            process.terminate()
            return nil
        }
        description = "torch \(object["torch"] ?? "?") eager, \(object["threads"] ?? "?") threads"
    }

    deinit {
        try? requests.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    /// Runs one step in the child and waits for it.
    func step() {
        guard failure == nil else { return }
        requests.fileHandleForWriting.write(Data("step\n".utf8))
        if readLine().flatMap(Double.init) == nil { failure = "the PyTorch reference stopped answering" }
    }

    private func readLine() -> String? {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return line
            }
            let more = replies.fileHandleForReading.availableData
            if more.isEmpty { return nil }
            pending.append(more)
        }
    }
}
