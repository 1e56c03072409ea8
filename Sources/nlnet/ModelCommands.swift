import ArgumentParser
import Foundation
import NLModels
import NLTensor

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Layers, output shapes, parameters and multiply-adds (non-local matrix products included).",
        discussion: "Without --weights or --config, the default model (as for classify); --config alone needs no weights.")

    @OptionGroup var selection: ModelSelection

    @OptionGroup var clip: ClipShape

    @Flag(help: "One JSON object.")
    var json = false

    /// The JSON: the table's first line (model, backbone, input) and the summary.
    struct Report: Encodable {
        var model: String, arch: String, depth: Int, layout: String
        var summary: ModelSummary
        enum CodingKeys: String, CodingKey { case model, arch, depth, layout }
        func encode(to encoder: Encoder) throws {
            try summary.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(model, forKey: .model)
            try c.encode(arch, forKey: .arch)
            try c.encode(depth, forKey: .depth)
            try c.encode(layout, forKey: .layout)
        }
    }

    func run() throws {
        if let weights = selection.weights { try requireReadable(weights, option: "--weights") }
        guard let config = try selection.configOrDefault() else { _ = try selection.model(); return }
        let architecture = Architecture(config.model)
        let (t, size) = (clip.frames ?? config.input.frames, clip.size ?? 224)
        let s = ModelSummary.of(architecture, options: config.model, frames: t, size: size)
        if json {
            print(try jsonLine(Report(model: config.name, arch: config.model.arch.rawValue, depth: config.model.depth,
                                      layout: config.model.layout.rawValue, summary: s)))
            return
        }
        print("\(config.name): \(config.model.arch.rawValue.uppercased()) ResNet-\(config.model.depth), "
              + "layout \(config.model.layout.rawValue), input \(t)×\(size)×\(size)")
        print(pad("layer", 18) + pad("output T×H×W×C", 22) + pad("params", 12) + pad("GMACs", 10) + "other GFLOPs")
        for l in s.layers {
            print(pad(l.name, 18) + pad(l.output.map(String.init).joined(separator: "×"), 22) + pad(String(l.parameters), 12)
                  + pad(String(format: "%.3f", Double(l.macs) / 1e9), 10) + (l.otherFLOPs > 0 ? String(format: "%.4f", Double(l.otherFLOPs) / 1e9) : ""))
        }
        print(String(format: "total: %.2fM parameters, %.2f GMACs, %.2f GFLOPs (2×MACs + softmax)",
                     Double(s.parameters) / 1e6, Double(s.macs) / 1e9, Double(s.flops) / 1e9))
    }
}

struct Forward: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the network on a stored input tensor and write its outputs (for checking conversions).",
        discussion: """
        Writes 'logits' [N, classes] (global-pool head), 'probabilities' [N, classes] and \
        'window_logits' [N, t, h, w, classes] (the fully convolutional test head). The model is chosen as in classify.
        """)

    @OptionGroup var selection: ModelSelection

    @OptionGroup var precision: PrecisionOption

    @Flag(help: "Allow random weights (--config without --weights).")
    var allowUntrained = false

    @Option(help: "A .safetensors file with the input clip batch.")
    var input: String

    @Option(help: "Name of the input tensor in the file (default: its only tensor, or 'input').")
    var key: String?

    @Option(help: "Layout of the input tensor: ncthw (PyTorch) or nthwc.")
    var layout: String = "ncthw"

    @Option(name: .shortAndLong, help: "Output .safetensors file.")
    var output: String

    func validate() throws {
        guard ["ncthw", "nthwc"].contains(layout) else { throw ValidationError("--layout must be ncthw or nthwc, got '\(layout)'") }
    }

    func run() throws {
        try requireReadable(input, option: "--input")
        let model = try selection.predictionModel(allowUntrained: allowUntrained, verb: "forward").model
        try precision.apply(to: model)
        let file = try SafeTensors(contentsOf: input)
        let name = key ?? (file.names.count == 1 ? file.names[0] : "input")
        var x = try file.tensor(name)
        guard x.rank == 5 else { throw ModelError("\(input): tensor '\(name)' has shape \(x.shape); expected 5 dimensions (\(layout.uppercased()))") }
        if layout == "ncthw" { x = x.permuted([0, 2, 3, 4, 1]) }
        guard x.shape[4] == 3 else { throw ModelError("\(input): tensor '\(name)' has \(x.shape[4]) channels after \(layout) → NTHWC; expected 3") }
        let logits = model.logits(x)
        let prediction = model.predict(x)
        try SafeTensors.write(["logits": logits, "probabilities": prediction.probabilities, "window_logits": prediction.windowLogits],
                              metadata: ["model": model.config.name], to: output)
        FileHandle.standardError.write(Data("\(output): logits \(logits.shape), window_logits \(prediction.windowLogits.shape)\n".utf8))
    }
}

/// Inference speed of a whole network, against the machine's measured FMA peak, square sgemm,
/// and PyTorch (eager, torch.compile, bf16 autocast) on the same network in the same run.
struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "ms/clip, GFLOP/s and per-layer times of inference on one clip, beside the FMA peak, sgemm 2048³ and PyTorch.",
        discussion: """
        Without --weights or --config, the default model; --config alone times random weights. PyTorch runs \
        Scripts/bench_infer_pytorch.py on the same network and clip with NLNET_TORCH_PYTHON (else python3): eager, \
        torch.compile (inductor, freezing) and bf16 autocast, each forward alternating with nlnet's, and each run \
        timed once PyTorch's threads have gone idle (its OpenMP workers spin after a forward); without torch the \
        PyTorch side is reported as not run.
        """)

    @OptionGroup var selection: ModelSelection

    @OptionGroup var precision: PrecisionOption

    @OptionGroup var clip: ClipShape

    @OptionGroup var output: BenchOutput

    @Flag(name: .customLong("no-pytorch"), help: "Skip the PyTorch reference.")
    var noPyTorch = false

    struct Report: Codable {
        var model: String
        var input: [Int]
        var blasKernel: String
        /// The project's own kernels' instruction set (KernelLevel).
        var kernelLevel: String
        /// --precision: the one msPerClip, the ratios and the per-layer table are of.
        var precision: String
        var msPerClip: Double
        /// nlnet in each precision this CPU runs (fp32; bf16 with AVX512_BF16), same rounds.
        var fp32MsPerClip: Double
        var bf16MsPerClip: Double?
        var gflops: Double
        var gflopsPerSecond: Double
        var squareSgemmGFLOPS: Double
        var fractionOfSgemm: Double
        /// FMAPeak: fp32 over all threads, its loop's instruction set and thread count.
        var fmaPeakGFLOPS: Double
        var fmaPeakISA: String
        var fmaPeakThreads: Int
        /// Absent where the CPU has no AVX512_BF16.
        var bf16PeakGFLOPS: Double?
        var fractionOfFMAPeak: Double
        /// "torch 2.5.1, 2 threads", or why the PyTorch side did not run.
        var pytorch: String
        /// Per mode (eager, compile, bf16): how it ran (layout, compile mode), or why it failed.
        var torchModes: [String: String]?
        var torchEagerMsPerClip: Double?
        var torchCompileMsPerClip: Double?
        var torchBf16MsPerClip: Double?
        /// torch time / nlnet time: above 1, nlnet is faster.
        var torchEagerRatio: Double?
        var torchCompileRatio: Double?
        var torchBf16Ratio: Double?
        /// Mean wait after each PyTorch reply for its threads to go idle before the next run.
        var torchIdleWaitMs: Double?
        var layers: [LayerTime]
    }

    struct LayerTime: Codable { var name: String; var ms: Double; var share: Double }

    /// The PyTorch modes bench_infer_pytorch.py offers, as its request words.
    static let torchModes = ["eager", "compile", "bf16"]

    func run() throws {
        let model = try selection.modelOrDefault()
        try precision.apply(to: model)
        let (t, size) = (clip.frames ?? model.config.input.frames, clip.size ?? 224)
        if let problem = model.memoryProblem(batch: 1, frames: t, size: size, training: false) { throw ValidationError(problem) }
        let x = Tensor(repeating: 0.1, shape: [1, t, size, size, 3])
        let summary = model.summary(frames: t, size: size)
        let fma = FMAPeak.measure()
        let peak = ConvBenchmark.squareSgemmGFLOPS(2048, repeats: output.repeats)
        // Each PyTorch forward alternates with ours (ConvBenchmark.bestOfEach), so both see the
        // same load on a shared machine, and each run starts once PyTorch's threads are idle
        // (PyTorchReference.settle); inductor compiles before the script says it is ready.
        let torch = noPyTorch ? nil : PyTorchReference(script: "Scripts/bench_infer_pytorch.py", config: model.config,
                                                        arguments: [t, size, Parallel.cores].map(String.init))
        let ready = (torch?.ready["modes"] as? [String: String]) ?? [:]
        let modes = Self.torchModes.filter { ready[$0] != nil }
        // nlnet in every precision the CPU has, then PyTorch's modes, all in the same rounds.
        let precisions = Precision.allCases.filter { $0.unsupportedReason == nil }
        var runs: [() -> Void] = precisions.map { p in
            { var options = ForwardOptions(); options.precision = p; _ = model.predict(x, options: options) }
        }
        if let torch { runs += modes.map { mode in { _ = torch.time(mode) } } }
        let allTimes = ConvBenchmark.bestOfEach(output.repeats, runs) { torch?.settle() }
        let nlnetTimes = Dictionary(uniqueKeysWithValues: zip(precisions, allTimes))
        let seconds = nlnetTimes[precision.precision]!
        let times = [seconds] + allTimes.dropFirst(precisions.count)
        // Each layer's best of `repeats` profiled forwards (one forward's table swung by ±30% on
        // a shared machine).
        var layerSeconds: [String: Double] = [:]
        for _ in 0..<output.repeats {
            var once: [String: Double] = [:]
            _ = model.profile(x) { name, s in once[name, default: 0] += s }
            for (name, s) in once { layerSeconds[name] = min(layerSeconds[name] ?? .infinity, s) }
        }
        let total = layerSeconds.values.reduce(0, +)
        let layers = summary.layers.compactMap { l in layerSeconds[l.name].map { LayerTime(name: l.name, ms: 1000 * $0, share: $0 / total) } }
        let rate = Double(summary.flops) / seconds / 1e9
        var report = Report(model: model.config.name, input: [t, size, size, 3], blasKernel: BLASKernel.coreName,
                            kernelLevel: KernelLevel.current, precision: precision.precision.rawValue, msPerClip: 1000 * seconds,
                            fp32MsPerClip: 1000 * nlnetTimes[.fp32]!, bf16MsPerClip: nlnetTimes[.bf16].map { 1000 * $0 },
                            gflops: Double(summary.flops) / 1e9,
                            gflopsPerSecond: rate, squareSgemmGFLOPS: peak, fractionOfSgemm: rate / peak,
                            fmaPeakGFLOPS: fma.gflops, fmaPeakISA: fma.isa, fmaPeakThreads: fma.threads, bf16PeakGFLOPS: fma.bf16GFLOPS,
                            fractionOfFMAPeak: rate / fma.gflops, pytorch: torch?.description ?? "PyTorch side not run: --no-pytorch",
                            layers: layers)
        if let torch, torch.unavailable == nil {
            var described = ready
            for (mode, reason) in (torch.ready["failed"] as? [String: String]) ?? [:] { described[mode] = "failed: \(reason)" }
            for (i, mode) in modes.enumerated() {
                if let reason = torch.failures[mode] { described[mode] = "failed: \(reason)"; continue }
                report.setTorch(mode, seconds: times[i + 1], nlnet: seconds)
            }
            report.torchModes = described
            report.torchIdleWaitMs = torch.meanSettleMs
        }
        if output.json { print(try jsonLine(report)); return }
        print("\(report.model), input \(t)×\(size)×\(size), OpenBLAS \(report.blasKernel), kernels \(report.kernelLevel), "
              + "precision \(report.precision)")
        print(String(format: "nlnet fp32 %.1f ms/clip, bf16 %@ (same rounds)", report.fp32MsPerClip,
                     report.bf16MsPerClip.map { String(format: "%.1f ms/clip", $0) } ?? "not run (\(Precision.bf16.unsupportedReason ?? ""))"))
        print(String(format: "%.1f ms/clip, %.1f GFLOP/clip, %.1f GFLOP/s = %.0f%% of sgemm 2048³ (%.1f GFLOP/s, same run)",
                     report.msPerClip, report.gflops, rate, 100 * report.fractionOfSgemm, peak))
        print(String(format: "FMA peak %.1f GFLOP/s (%d threads, %@); model at %.0f%% of peak; bf16 peak %@", fma.gflops, fma.threads,
                     fma.isa, 100 * report.fractionOfFMAPeak, fma.bf16GFLOPS.map { String(format: "%.1f GFLOP/s", $0) } ?? "n/a (no AVX512_BF16)"))
        report.printTorchComparison()
        print(pad("layer", 18) + pad("ms", 10) + "share")
        for l in layers { print(pad(l.name, 18) + pad(String(format: "%.2f", l.ms), 10) + String(format: "%.1f%%", 100 * l.share)) }
    }
}

extension BenchModel.Report {
    /// Fills mode's ms/clip and ratio (torch time / nlnet time) from best-of wall seconds.
    mutating func setTorch(_ mode: String, seconds: Double, nlnet: Double) {
        let (ms, ratio) = (1000 * seconds, seconds / nlnet)
        switch mode {
        case "eager": (torchEagerMsPerClip, torchEagerRatio) = (ms, ratio)
        case "compile": (torchCompileMsPerClip, torchCompileRatio) = (ms, ratio)
        default: (torchBf16MsPerClip, torchBf16Ratio) = (ms, ratio)
        }
    }

    /// The comparison block: nlnet and each PyTorch mode in ms/clip, with the ratios.
    func printTorchComparison() {
        guard let described = torchModes else { print(pytorch); return }
        let idle = torchIdleWaitMs.map { String(format: ", each run after PyTorch's threads went idle (%.0f ms per reply)", $0) } ?? ""
        print("PyTorch \(pytorch.replacingOccurrences(of: "torch ", with: "")), forwards alternating with nlnet's\(idle) "
              + "(ratio = torch time / nlnet time, > 1: nlnet faster):")
        print("  " + pad("nlnet \(precision)", 16) + String(format: "%9.1f ms/clip", msPerClip))
        let rows = [("eager", torchEagerMsPerClip, torchEagerRatio), ("compile", torchCompileMsPerClip, torchCompileRatio),
                    ("bf16", torchBf16MsPerClip, torchBf16Ratio)]
        for (mode, ms, ratio) in rows {
            let how = described[mode] ?? "not run"
            guard let ms, let ratio else { print("  " + pad("torch \(mode)", 16) + "        — ms/clip          \(how)"); continue }
            print("  " + pad("torch \(mode)", 16) + String(format: "%9.1f ms/clip  %6.2f×  ", ms, ratio) + how)
        }
    }
}
