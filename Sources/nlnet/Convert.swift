import ArgumentParser
import Foundation
import NLModels

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert an official checkpoint (Caffe2 .pkl, PySlowFast .pyth, mmaction2 .pth, ImageNet ResNet) to .safetensors; no Python needed.",
        discussion: """
        Without --config the network is read from the checkpoint's shapes (depth, I3D/C2D, non-local positions); \
        what shapes cannot tell follows the source's conventions and is reported. ImageNet 2D weights need --config and are inflated.
        """)

    @Argument(help: "The checkpoint file.")
    var input: String

    @Option(name: .shortAndLong, help: "Output .safetensors file.")
    var output: String

    @Option(help: "The preset the checkpoint fits: a YAML file or a preset's name (`nlnet presets` lists each one's checkpoint).")
    var config: String?

    @Option(help: "Class names to embed, one per line (default: Configs/labels/kinetics400.txt for 400 classes).")
    var labels: String?

    @Flag(help: "List every skipped and initialised tensor.")
    var verbose = false

    @Flag(help: "Print the report as one JSON object (every skipped and initialised tensor included).")
    var json = false

    struct Report: Encodable {
        struct Skipped: Encodable { var name: String; var reason: String }
        var input: String, output: String, scheme: String
        var model: String, arch: String, depth: Int, layout: String, nonlocal: String
        var loaded: Int, inflated: Int
        var skipped: [Skipped]
        var initialized: [String]
        var notes: [String]
    }

    func run() throws {
        try requireReadable(input, option: "checkpoint")
        let preset = try config.map { try ModelConfig.load(path: try Presets.path($0)) }
        let (model, report) = try CheckpointConverter.convert(path: input, config: preset)
        var file = ModelFile(model: model, source: URL(fileURLWithPath: input).lastPathComponent)
        let labelFile = labels ?? (model.architecture.classes == 400 ? ProjectFiles.locate("Configs/labels/kinetics400.txt") : nil)
        if let labelFile {
            let names = try readNames(labelFile, option: "--labels")
            guard names.count == model.architecture.classes else {
                throw ValidationError("\(labelFile): \(names.count) names for \(model.architecture.classes) classes")
            }
            file.labels = names
        }
        try file.save(to: output)
        let m = model.config.model
        let placement = m.nonlocal.blocks.sorted { $0.key < $1.key }
            .map { "\($0.key)=\($0.value.map(String.init).joined(separator: ","))" }.joined(separator: " ")
        if json {
            print(try jsonLine(Report(input: input, output: output, scheme: report.scheme, model: model.config.name, arch: m.arch.rawValue,
                                      depth: m.depth, layout: m.layout.rawValue, nonlocal: placement.isEmpty ? "none" : placement,
                                      loaded: report.loaded, inflated: report.inflated,
                                      skipped: report.skipped.map { Report.Skipped(name: $0.0, reason: $0.1) },
                                      initialized: report.initialized, notes: report.notes)))
            return
        }
        print("\(input) (\(report.scheme)) → \(output)")
        print("  network    \(model.config.name): \(m.arch.rawValue.uppercased()) R\(m.depth), layout \(m.layout.rawValue), non-local \(placement)")
        print("  loaded     \(report.loaded) tensors\(report.inflated > 0 ? " (\(report.inflated) inflated from 2D)" : "")")
        print("  skipped    \(report.skipped.count)" + summary(report.skipped.map(\.1)))
        print("  initialised \(report.initialized.count)")
        for note in report.notes { print("  note: \(note)") }
        if verbose {
            for (name, why) in report.skipped { print("    skipped \(name): \(why)") }
            for name in report.initialized { print("    initialised \(name)") }
        }
    }

    func summary(_ reasons: [String]) -> String {
        guard !reasons.isEmpty else { return "" }
        let counts = Dictionary(grouping: reasons, by: { $0 }).mapValues(\.count).sorted { $0.value > $1.value }
        return " (" + counts.map { "\($0.value) \($0.key)" }.joined(separator: "; ") + ")"
    }
}
