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
    }

    func run() throws {
        let model = try selection.model()
        let t = clip.frames ?? model.config.input.frames, size = clip.size ?? model.config.input.crop
        let x = Tensor(repeating: 0.1, shape: [batch, t, size, size, 3])
        let labels = (0..<batch).map { $0 % model.architecture.classes }
        var optimizer = SGD()
        var rng = RandomSource(seed: 0)
        let seconds = ConvBenchmark.best(output.repeats) {
            model.trainStep(x, labels: labels, optimizer: &optimizer, learningRate: 0.01, rng: &rng)
        }
        var report = Report(model: model.config.name, batch: batch, input: [t, size, size, 3],
                            nlnetSecondsPerStep: seconds, nlnetClipsPerSecond: Double(batch) / seconds, pytorch: "not run")
        if let (torchSeconds, note) = try runPyTorch(model.config, frames: t, size: size) {
            report.pytorchSecondsPerStep = torchSeconds
            report.pytorchClipsPerSecond = Double(batch) / torchSeconds
            report.ratio = torchSeconds / seconds
            report.pytorch = note
        } else {
            report.pytorch = "no Python with torch (set NLNET_TORCH_PYTHON); PyTorch side not run"
        }
        if output.json { print(try jsonLine(report)); return }
        print("\(report.model): batch \(batch) × \(t)×\(size)², \(BLASKernel.threads) threads")
        print(String(format: "nlnet    %.1f ms/step, %.2f clips/s", 1000 * seconds, report.nlnetClipsPerSecond))
        if let s = report.pytorchSecondsPerStep, let r = report.ratio {
            print(String(format: "PyTorch  %.1f ms/step, %.2f clips/s (%@)   nlnet/PyTorch %.2f×", 1000 * s, Double(batch) / s, report.pytorch, r))
        } else {
            print("PyTorch: \(report.pytorch)")
        }
    }

    /// Seconds per step of the PyTorch reference, or nil when torch is not importable.
    func runPyTorch(_ config: ModelConfig, frames: Int, size: Int) throws -> (Double, String)? {
        guard let script = locate("Scripts/bench_train_pytorch.py") else { return nil }
        let python = ProcessInfo.processInfo.environment["NLNET_TORCH_PYTHON"] ?? "python3"
        // The reference model reads the config as JSON, whose keys are the YAML's.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-bench-\(getpid()).json").path
        try JSONEncoder().encode(config).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [python, script, path, String(batch), String(frames), String(size), String(output.repeats), String(BLASKernel.threads)]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0, let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let s = object["seconds_per_step"] as? Double else { return nil }
        return (s, "torch \(object["torch"] ?? "?") eager, \(object["threads"] ?? "?") threads")
    }
}
