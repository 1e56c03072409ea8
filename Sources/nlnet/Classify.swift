import ArgumentParser
import Foundation
import NLModels
import NLTensor
import NLTrain
import NLVideo

struct Classify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify video files: 10 clips × 3 crops per video, softmax per view, mean over views.",
        discussion: """
        PATH is a video file, a directory (searched recursively for video files; a folder of numbered \
        images, img_00001.jpg …, is one video), a glob ('data/*.mp4'), @list.txt (one path per line), @- \
        (paths on standard input, one per line, each classified as it arrives), '-' (a video on standard input) \
        or a URL FFmpeg reads; a live stream or camera is for `nlnet watch`. Without --weights or --config, the model is $NLNET_MODEL, \
        else the shipped default: a small NL-I3D trained on the synthetic benchmark (4 classes; \
        Configs/default_model.yaml). For Kinetics-400, convert an official checkpoint (README).

        Streaming (Spark RDD.pipe, Hadoop Streaming, GNU parallel): `nlnet classify @- --jsonl -` writes \
        one JSON line per input to standard output as soon as it is done, a failed input as \
        {"path", "error"}; progress and errors go to standard error. The exit status is 1 when an input \
        failed (0 with --keep-going), 64 for a usage error; an empty input stream is not an error.
        """)

    @Argument(help: "Videos, directories, globs, @list files, or @- for paths on standard input.")
    var paths: [String]

    @OptionGroup var selection: ModelSelection

    @OptionGroup var precision: PrecisionOption

    @OptionGroup var input: VideoInputOptions

    @Option(help: "Class names, one per line (default: the weights' own, else Configs/labels/kinetics400.txt for 400 classes).")
    var labels: String?

    @Option(help: "How many classes to report.")
    var top = 5

    @OptionGroup var view: ViewOptions

    @Option(help: "How views combine: mean, sum or max.")
    var ensemble: Ensemble = .mean

    @Flag(help: "Print one JSON document instead of tables.")
    var json = false

    @Option(help: "Also write one JSON object per video to this file as each finishes; '-': standard output, instead of the tables.")
    var jsonl: String?

    @Flag(help: "Include each view's top classes in JSON output.")
    var views = false

    @Option(help: "Also predict every N seconds along the video (one centred clip each).")
    var timeline: Double?

    @Option(help: ArgumentHelp("Write the video with its top classes and the --timeline bar drawn on every frame (H.264): a file for "
        + "one input, else a folder (NAME.annotated.mp4 each)."))
    var annotate: String?

    @Option(help: ArgumentHelp("Write every probability, per video and per view, for re-aggregating or calibrating: FILE.jsonl, or FILE.safetensors "
        + "('video' [videos, classes], 'views' [videos·views, classes])."))
    var scores: String?

    @OptionGroup var sharding: ShardOptions

    @Flag(help: "Exit with status 0 even when some files failed.")
    var keepGoing = false

    @Flag(help: "No progress display.")
    var quiet = false

    @Flag(help: ArgumentHelp("Allow random weights: --config without --weights, or no model at all (the default preset). Predictions "
        + "are meaningless; for trying the pipeline."))
    var allowUntrained = false

    func validate() throws {
        guard top >= 1 else { throw ValidationError("--top must be at least 1, got \(top)") }
        if json && jsonl == "-" { throw ValidationError("--json and --jsonl - both write to standard output; choose one") }
        if let timeline, !(timeline.isFinite && timeline > 0) { throw ValidationError("--timeline must be a positive number of seconds") }
        if let scores, !(scores.hasSuffix(".jsonl") || scores.hasSuffix(".safetensors")) {
            throw ValidationError("--scores must name a .jsonl or .safetensors file, got '\(scores)'")
        }
    }

    // MARK: Output records

    struct VideoRecord: Codable {
        var path: String
        var top: [RankedClass]?
        var frameCount: Int?
        var clips: [[Int]]?
        var views: [[RankedClass]]?
        var decodeSeconds: Double?
        var networkSeconds: Double?
        var timeline: [VideoClassifier.TimelineEntry]?
        var error: String?
    }

    struct Document: Codable {
        var model: String
        /// The weights file that answered (nil with --allow-untrained) and its classes.
        var weights: String?
        var classes: [String]
        var untrained: Bool
        var protocolUsed: ViewProtocol
        var ensemble: Ensemble
        var videos: [VideoRecord]
    }

    // MARK: Run

    func run() throws {
        let (model, untrained) = try selection.predictionModel(allowUntrained: allowUntrained, verb: "classify")
        try precision.apply(to: model)
        let protocolUsed = view.viewProtocol(for: model)
        let classifier = VideoClassifier(model: model, labels: try selection.labels(for: model, file: labels), views: protocolUsed, input: input.open)

        let shard = try sharding.resolved()
        // Paths on standard input are classified as they arrive; any other list is known up
        // front (for the progress total, and to refuse a command that names no video).
        let streaming = PathStream.readsStandardInput(paths)
        var known: [InputList.Entry]?
        if !streaming {
            let entries = InputList.expand(paths)
            guard !entries.isEmpty else {
                throw ValidationError("nothing to classify: no video files in \(paths.joined(separator: " ")) "
                                      + "(folders are searched for video files and folders of numbered images)")
            }
            known = shard.map { InputList.shard(entries, index: $0.index, count: $0.count) } ?? entries
        }
        let inputs = known.map { PathStream(entries: $0) } ?? PathStream(arguments: paths, shard: shard)
        // With --jsonl - standard output carries the records only: no header, no tables.
        let tables = !json && jsonl != "-"
        let weightsFile = untrained ? nil : try selection.weightsFile()
        if tables { selection.printHeader(model, weights: weightsFile, labels: classifier.labels) }
        let jsonlOutput = try jsonl.map { try LineOutput(path: $0) }
        let viewsPerVideo = protocolUsed.clips * protocolUsed.crops
        let progress = ProgressLine(total: known.map { $0.count * viewsPerVideo }, quiet: quiet, unit: "views")
        var records: [VideoRecord] = []
        var done = 0, failed = 0
        let scoreWriter = try scores.map { try ScoreWriter(path: $0, classes: classifier.labels) }
        // A stream may hold any number of videos: --annotate is then a folder.
        let annotated = try annotate.map { try AnnotationTarget(path: $0, inputs: known?.count ?? .max) }

        let decoder = Prefetcher(source: inputs.next) { try classifier.decodeViews($0) }
        while let (entry, decoded) = decoder.next() {
            var record: VideoRecord
            do {
                let video = try decoded.get()
                let start = DispatchTime.now().uptimeNanoseconds
                let perView = classifier.classify(video) { v in
                    progress.update(completed: done * viewsPerVideo + v, detail: URL(fileURLWithPath: entry.path).lastPathComponent)
                }
                let network = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                let scores = aggregate(perView, ensemble)
                record = VideoRecord(path: entry.path, top: topK(scores, k: top, labels: classifier.labels),
                                     frameCount: video.info.frameCount, clips: video.views.clips,
                                     views: views ? perView.map { topK($0, k: top, labels: classifier.labels) } : nil,
                                     decodeSeconds: video.decodeSeconds, networkSeconds: network)
                // The annotated video's bar needs a timeline: one prediction a second unless asked otherwise.
                if let interval = timeline ?? (annotated != nil ? 1 : nil) {
                    record.timeline = try classifier.timeline(entry.path, interval: interval, top: 1)
                }
                try scoreWriter?.add(path: entry.path, video: scores, views: perView, clips: video.views.clips)
                if let annotated {
                    try VideoAnnotator.write(video: entry.path, input: input.open, to: annotated.output(for: entry.path),
                                             top: record.top ?? [], timeline: record.timeline ?? [])
                }
            } catch {
                record = VideoRecord(path: entry.path, error: "\(error)".hasPrefix(entry.path) ? "\(error)" : "\(entry.path): \(error)")
                failed += 1
                progress.update(completed: (done + 1) * viewsPerVideo, detail: "failed")
            }
            done += 1
            // The document of --json needs every record; the other outputs are written as they come.
            if json { records.append(record) }
            if let jsonlOutput { try jsonlOutput.write(try jsonLine(record) + "\n") }
            if tables { progress.finish(); printRecord(record) } else if let error = record.error { reportError(error) }
        }
        progress.finish()
        try scoreWriter?.finish()
        if json {
            let document = Document(model: model.config.name, weights: weightsFile, classes: classifier.labels, untrained: untrained,
                                    protocolUsed: protocolUsed, ensemble: ensemble, videos: records)
            print(try jsonDocument(document))
        }
        if failed > 0 {
            FileHandle.standardError.write(Data("nlnet classify: \(failed) of \(done) file(s) failed\n".utf8))
            if !keepGoing { throw ExitCode(1) }
        }
    }

    func printRecord(_ r: VideoRecord) {
        if let error = r.error { return reportError(error) }
        let timing = String(format: "decode %.2f s, network %.2f s", r.decodeSeconds ?? 0, r.networkSeconds ?? 0)
        print("\(r.path)  (\(r.frameCount ?? 0) frames, \(r.clips?.count ?? 0)×\(view.crops) views, \(timing))")
        for c in r.top ?? [] {
            print("  \(pad(String(c.rank), 3))\(pad(c.label, 36))\(String(format: "%.4f", c.probability))")
        }
        if let t = r.timeline {
            print("  timeline: " + t.map {
                String(format: "%.1fs ", $0.time) + "\($0.top.first?.label ?? "?") (" + String(format: "%.2f", $0.top.first?.probability ?? 0) + ")"
            }.joined(separator: " | "))
        }
    }
}

extension Ensemble: ExpressibleByArgument {}

/// Where --annotate writes: the file itself for one input, else NAME.annotated.mp4 in a folder.
struct AnnotationTarget {
    let path: String
    let isFolder: Bool

    init(path: String, inputs: Int) throws {
        self.path = path
        isFolder = inputs > 1 || FrameFolder.isDirectory(path)
        if isFolder { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
    }

    func output(for input: String) -> String {
        guard isFolder else { return path }
        let name = URL(fileURLWithPath: input == "-" ? "stdin" : input).deletingPathExtension().lastPathComponent
        return (path as NSString).appendingPathComponent(name + ".annotated.mp4")
    }
}

/// --scores: every probability vector, per video and per view, as JSON lines (written as each
/// video finishes) or one safetensors file (written at the end, with the paths in its metadata).
final class ScoreWriter {
    struct Line: Codable { var path: String; var video: [Float]; var views: [[Float]]; var clips: [[Int]] }
    let path: String
    let classes: [String]
    private let lines: LineOutput?
    private var paths: [String] = [], video: [Float] = [], views: [Float] = [], viewCounts: [Int] = []

    init(path: String, classes: [String]) throws {
        self.path = path
        self.classes = classes
        lines = path.hasSuffix(".jsonl") ? try LineOutput(path: path) : nil
    }

    func add(path item: String, video scores: [Float], views perView: [[Float]], clips: [[Int]]) throws {
        if let lines { return try lines.write(try jsonLine(Line(path: item, video: scores, views: perView, clips: clips)) + "\n") }
        paths.append(item)
        video += scores
        views += perView.flatMap { $0 }
        viewCounts.append(perView.count)
    }

    func finish() throws {
        guard lines == nil, !paths.isEmpty else { return }
        let k = classes.count
        let metadata = ["nlnet.paths": try jsonLine(paths), "nlnet.classes": try jsonLine(classes), "nlnet.views_per_video": try jsonLine(viewCounts)]
        try SafeTensors.write(["video": Tensor(shape: [paths.count, k], scalars: video),
                               "views": Tensor(shape: [views.count / k, k], scalars: views)], metadata: metadata, to: path)
    }
}
