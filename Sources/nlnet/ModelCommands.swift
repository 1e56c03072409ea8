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

/// Inference speed of a whole network, against square sgemm in the same run.
struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "ms/clip, GFLOP/s and per-layer times of inference on one clip, with sgemm 2048³ as the reference.",
        discussion: "Without --weights or --config, the default model; --config alone times random weights.")

    @OptionGroup var selection: ModelSelection

    @OptionGroup var precision: PrecisionOption

    @OptionGroup var clip: ClipShape

    @OptionGroup var output: BenchOutput

    struct Report: Codable {
        var model: String
        var input: [Int]
        var blasKernel: String
        /// The project's own kernels' instruction set (KernelLevel).
        var kernelLevel: String
        var msPerClip: Double
        var gflops: Double
        var gflopsPerSecond: Double
        var squareSgemmGFLOPS: Double
        var fractionOfSgemm: Double
        var layers: [LayerTime]
    }

    struct LayerTime: Codable { var name: String; var ms: Double; var share: Double }

    func run() throws {
        let model = try selection.modelOrDefault()
        try precision.apply(to: model)
        let (t, size) = (clip.frames ?? model.config.input.frames, clip.size ?? 224)
        let x = Tensor(repeating: 0.1, shape: [1, t, size, size, 3])
        let summary = model.summary(frames: t, size: size)
        let peak = ConvBenchmark.squareSgemmGFLOPS(2048, repeats: output.repeats)
        let seconds = ConvBenchmark.best(output.repeats) { _ = model.predict(x) }
        var times: [String: Double] = [:]
        _ = model.profile(x) { name, s in times[name, default: 0] += s }
        let total = times.values.reduce(0, +)
        let layers = summary.layers.compactMap { l in times[l.name].map { LayerTime(name: l.name, ms: 1000 * $0, share: $0 / total) } }
        let report = Report(model: model.config.name, input: [t, size, size, 3], blasKernel: BLASKernel.coreName,
                            kernelLevel: KernelLevel.current, msPerClip: 1000 * seconds, gflops: Double(summary.flops) / 1e9,
                            gflopsPerSecond: Double(summary.flops) / seconds / 1e9, squareSgemmGFLOPS: peak,
                            fractionOfSgemm: Double(summary.flops) / seconds / 1e9 / peak, layers: layers)
        if output.json { print(try jsonLine(report)); return }
        print("\(report.model), input \(t)×\(size)×\(size), OpenBLAS \(report.blasKernel), kernels \(report.kernelLevel)")
        print(String(format: "%.1f ms/clip, %.1f GFLOP/clip, %.1f GFLOP/s = %.0f%% of sgemm 2048³ (%.1f GFLOP/s, same run)",
                     report.msPerClip, report.gflops, report.gflopsPerSecond, 100 * report.fractionOfSgemm, peak))
        print(pad("layer", 18) + pad("ms", 10) + "share")
        for l in layers { print(pad(l.name, 18) + pad(String(format: "%.2f", l.ms), 10) + String(format: "%.1f%%", 100 * l.share)) }
    }
}
