import ArgumentParser
import Foundation
import NLModels
import NLTensor
import NLTrain
import NLVideo

struct Features: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write each video's pooled features (for retrieval or a linear probe) to a safetensors file with a JSONL index.",
        discussion: """
        The features are a stage's output (default res5: what the classifier sees) averaged over \
        time and space, one row per video (--per video: the mean over its views) or per view \
        (--per clip). OUTPUT.safetensors holds 'features' [rows, C]; OUTPUT.jsonl beside it names \
        each row: {"row", "path", "view", "frames"}, and each video that failed: {"path", "error"}.

        Streaming (Spark RDD.pipe, Hadoop Streaming, GNU parallel): `nlnet features @- --jsonl -` reads \
        paths from standard input and writes one JSON line per video to standard output as soon as it \
        is done: {"path", "layer", "features": [C]} (--per clip: "views": [[C]] and "frames", one \
        list of frame indices per view), or {"path", "error"}. The exit status is 1 when a video \
        failed (0 with --keep-going), 64 for a usage error.
        """)

    @Argument(help: "Videos, directories, globs, @list files, or @- for paths on standard input (as classify takes).")
    var paths: [String]

    @OptionGroup var selection: ModelSelection

    @OptionGroup var precision: PrecisionOption

    @OptionGroup var input: VideoInputOptions

    @Option(name: .shortAndLong, help: "Output .safetensors file (the index is written beside it as .jsonl).")
    var output: String?

    @Option(help: "Write one JSON line per video with its features, as each finishes: a file, or '-' for standard output.")
    var jsonl: String?

    @OptionGroup var sharding: ShardOptions

    @Option(help: "The stage whose output is pooled: res2, res3, res4, res5 (or 'pool', the same as res5).")
    var layer = "pool"

    @Option(help: "One row per video (the mean over its views) or per clip view: video or clip.")
    var per = "video"

    @Option(help: "Clips per video (evenly spaced).")
    var clips = 10

    @Option(help: "Crops per clip.")
    var crops = 1

    @Flag(help: "Exit with status 0 even when some videos failed.")
    var keepGoing = false

    @Flag(help: "Allow random weights (--config without --weights): for trying the pipeline.")
    var allowUntrained = false

    func validate() throws {
        guard ["video", "clip"].contains(per) else { throw ValidationError("--per must be video or clip, got '\(per)'") }
        try OptionRange.views(clips: clips, crops: crops)
        guard output != nil || jsonl != nil else { throw ValidationError("give -o FILE.safetensors, --jsonl FILE (or -), or both") }
        if let output, !output.hasSuffix(".safetensors") {
            throw ValidationError("--output must end in .safetensors (the index goes beside it as .jsonl), got '\(output)'")
        }
    }

    struct IndexLine: Codable {
        var row: Int?
        var path: String
        var view: Int?
        var frames: [Int]?
        var error: String?
    }

    /// A line of --jsonl: one video's features (per video) or its views' (per clip).
    struct FeatureLine: Codable {
        var path: String
        var layer: String?
        var features: [Float]?
        var views: [[Float]]?
        var frames: [[Int]]?
        var error: String?
    }

    func run() throws {
        let (model, _) = try selection.trainedModel(allowUntrained: allowUntrained)
        try precision.apply(to: model)
        let stage = layer == "pool" ? nil : layer
        if let stage, !model.stageNames.contains(stage) {
            throw ValidationError("--layer must be pool or one of \(model.stageNames.joined(separator: ", ")), got '\(layer)'")
        }
        var views = ViewProtocol(config: model.config)
        views.clips = clips
        views.crops = crops
        let shard = try sharding.resolved()
        let inputs: PathStream
        if PathStream.readsStandardInput(paths) {
            inputs = PathStream(arguments: paths, shard: shard)
        } else {
            let entries = InputList.expand(paths)
            guard !entries.isEmpty else { throw ValidationError("no videos in \(paths.joined(separator: " "))") }
            inputs = PathStream(entries: shard.map { InputList.shard(entries, index: $0.index, count: $0.count) } ?? entries)
        }
        let indexPath = output.map { String($0.dropLast(".safetensors".count)) + ".jsonl" }
        let index = try indexPath.map { try LineOutput(path: $0) }
        let lines = try jsonl.map { try LineOutput(path: $0) }
        var rows: [[Float]] = []
        var failed = 0
        let decoder = Prefetcher(source: inputs.next) { [input] in try VideoClassifier.decodeViews($0, views: views, input: input.open) }
        while let (entry, decoded) = decoder.next() {
            do {
                let video = try decoded.get()
                let perView = video.views.tensors.map { model.pooledFeatures($0.reshaped([1] + $0.shape), through: stage).scalars }
                let frames = perView.indices.map { video.views.clips[$0 / crops] }
                if per == "clip" {
                    try lines?.write(try jsonLine(FeatureLine(path: entry.path, layer: layer, views: perView, frames: frames)) + "\n")
                    // The safetensors file, if any, is written at the end; only its rows are kept.
                    guard let index else { continue }
                    for (v, features) in perView.enumerated() {
                        try index.write(try jsonLine(IndexLine(row: rows.count, path: entry.path, view: v, frames: frames[v])) + "\n")
                        rows.append(features)
                    }
                } else {
                    let mean = (0..<perView[0].count).map { j in perView.reduce(0) { $0 + $1[j] } / Float(perView.count) }
                    try lines?.write(try jsonLine(FeatureLine(path: entry.path, layer: layer, features: mean)) + "\n")
                    guard let index else { continue }
                    try index.write(try jsonLine(IndexLine(row: rows.count, path: entry.path)) + "\n")
                    rows.append(mean)
                }
            } catch {
                failed += 1
                let text = "\(error)".hasPrefix(entry.path) ? "\(error)" : "\(entry.path): \(error)"
                reportError(text)
                try index?.write(try jsonLine(IndexLine(path: entry.path, error: text)) + "\n")
                try lines?.write(try jsonLine(FeatureLine(path: entry.path, error: text)) + "\n")
            }
        }
        guard let output, let indexPath else {
            if failed > 0 {
                FileHandle.standardError.write(Data("nlnet features: \(failed) video(s) failed\n".utf8))
                if !keepGoing { throw ExitCode(1) }
            }
            return
        }
        guard let width = rows.first?.count else { throw ValidationError("no video could be read (\(failed) failed)") }
        let matrix = Tensor(shape: [rows.count, width], scalars: rows.flatMap { $0 })
        try SafeTensors.write(["features": matrix], metadata: ["nlnet.layer": layer, "nlnet.per": per, "nlnet.model": model.config.name,
                                                              "nlnet.index": (indexPath as NSString).lastPathComponent], to: output)
        let failures = failed > 0 ? "; \(failed) video(s) failed" : ""
        let summary = "nlnet features: \(rows.count) rows of \(width) (\(layer), per \(per)) → \(output), index \(indexPath)\(failures)\n"
        FileHandle.standardError.write(Data(summary.utf8))
        if failed > 0 && !keepGoing { throw ExitCode(1) }
    }
}
