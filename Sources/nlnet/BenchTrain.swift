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
        /// PyTorch eager time / nlnet time: above 1, nlnet is faster.
        var ratio: Double?
        /// The same step under torch.compile (inductor), and its ratio to nlnet's.
        var pytorchCompileSecondsPerStep: Double?
        var compileRatio: Double?
        /// How torch.compile ran (compile time), or why it did not.
        var pytorchCompile: String?
        var pytorch: String
        var threads: Int
        /// Mean wait after each PyTorch reply for its threads to go idle before the next run.
        var pytorchIdleWaitMs: Double?
    }

    @Flag(name: .customLong("no-torch-compile"), help: "Skip PyTorch's torch.compile step (compiling the training graph takes a minute or more).")
    var noTorchCompile = false

    @Flag(name: .customLong("no-pytorch"), help: "Skip the PyTorch reference.")
    var noPytorch = false

    func validate() throws {
        guard (1...256).contains(batch) else { throw ValidationError("--batch must be 1…256 clips, got \(batch)") }
    }

    func run() throws {
        let model = try selection.modelOrDefault()
        let t = clip.frames ?? model.config.input.frames, size = clip.size ?? model.config.input.crop
        if let problem = model.trainingInputProblem(batch: batch, frames: t, size: size)
            ?? model.memoryProblem(batch: batch, frames: t, size: size, training: true) { throw ValidationError(problem) }
        let x = Tensor(repeating: 0.1, shape: [batch, t, size, size, 3])
        let labels = (0..<batch).map { $0 % model.architecture.classes }
        var optimizer = SGD()
        var rng = RandomSource(seed: 0)
        var runs: [() -> Void] = [{ model.trainStep(x, labels: labels, optimizer: &optimizer, learningRate: 0.01, rng: &rng) }]
        // PyTorch's steps alternate with ours, so both see the same load on a shared machine.
        let reference = noPytorch ? nil
            : PyTorchReference(script: "Scripts/bench_train_pytorch.py", config: model.config,
                               arguments: [batch, t, size, Parallel.cores].map(String.init) + [noTorchCompile ? "eager" : "compile"])
        let torch = reference?.unavailable == nil ? reference : nil
        let compiles = (torch?.ready["modes"] as? [String: String])?["compile"] != nil
        if let torch { runs.append { _ = torch.time("step") } }
        if let torch, compiles { runs.append { _ = torch.time("compile") } }
        let times = ConvBenchmark.bestOfEach(output.repeats, runs) { torch?.settle() }
        var report = Report(model: model.config.name, batch: batch, input: [t, size, size, 3],
                            nlnetSecondsPerStep: times[0], nlnetClipsPerSecond: Double(batch) / times[0],
                            pytorch: reference?.description ?? "PyTorch side not run: --no-pytorch", threads: Parallel.cores)
        if let torch, let failure = torch.failures["step"] {
            report.pytorch = "PyTorch side failed: \(failure)"
        } else if let torch {
            report.pytorchSecondsPerStep = times[1]
            report.pytorchClipsPerSecond = Double(batch) / times[1]
            report.ratio = times[1] / times[0]
            report.pytorch = torch.description + ", eager"
            report.pytorchIdleWaitMs = torch.meanSettleMs
        }
        if let torch, !noTorchCompile {
            let modes = (torch.ready["modes"] as? [String: String]) ?? [:], failed = (torch.ready["failed"] as? [String: String]) ?? [:]
            if compiles, torch.failures["compile"] == nil {
                report.pytorchCompileSecondsPerStep = times[2]
                report.compileRatio = times[2] / times[0]
                report.pytorchCompile = modes["compile"]
            } else {
                report.pytorchCompile = "failed: \(torch.failures["compile"] ?? failed["compile"] ?? "no reply")"
            }
        }
        if output.json { print(try jsonLine(report)); return }
        print("\(report.model): batch \(batch) × \(t)×\(size)², \(Parallel.cores) threads")
        print(String(format: "nlnet    %.1f ms/step, %.2f clips/s", 1000 * report.nlnetSecondsPerStep, report.nlnetClipsPerSecond))
        if let s = report.pytorchSecondsPerStep, let r = report.ratio {
            print(String(format: "PyTorch  %.1f ms/step, %.2f clips/s (%@)   nlnet/PyTorch %.2f×", 1000 * s, Double(batch) / s, report.pytorch, r))
            if let wait = report.pytorchIdleWaitMs {
                print(String(format: "         each run after PyTorch's threads went idle (%.0f ms per reply)", wait))
            }
        } else {
            print(report.pytorch)
        }
        if let s = report.pytorchCompileSecondsPerStep, let r = report.compileRatio {
            print(String(format: "PyTorch  %.1f ms/step, %.2f clips/s (%@)   nlnet/compiled %.2f×", 1000 * s, Double(batch) / s,
                         report.pytorchCompile ?? "", r))
        } else if let how = report.pytorchCompile {
            print("torch.compile: \(how)")
        }
    }
}
