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
        images, img_00001.jpg …, is one video), a glob ('data/*.mp4'), @list.txt (one path per line), '-' \
        (a video on standard input) or a URL FFmpeg reads; a live stream or camera is for `nlnet watch`. Without --weights or --config, the model is $NLNET_MODEL, \
        else the shipped default: a small NL-I3D trained on the synthetic benchmark (4 classes; \
        Configs/default_model.yaml). For Kinetics-400, convert an official checkpoint (README).
        """)

    @Argument(help: "Videos, directories, globs or @list files.")
    var paths: [String]

    @OptionGroup var selection: ModelSelection

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

    @Option(help: "Also write one JSON object per video to this file, as each finishes.")
    var jsonl: String?

    @Flag(help: "Include each view's top classes in JSON output.")
    var views = false

    @Option(help: "Also predict every N seconds along the video (one centred clip each).")
    var timeline: Double?

    @Option(help: "Write the video with its top classes and the --timeline bar drawn on every frame (H.264): a file for one input, else a folder (NAME.annotated.mp4 each).")
    var annotate: String?

    @Option(help: "Write every probability, per video and per view, for re-aggregating or calibrating: FILE.jsonl, or FILE.safetensors ('video' [videos, classes], 'views' [videos·views, classes]).")
    var scores: String?

    @Option(help: "Classify only shard k of n (k/n, 1-based): every n-th input, in the order given.")
    var shard: String?

    @Flag(help: "Exit with status 0 even when some files failed.")
    var keepGoing = false

    @Flag(help: "No progress display.")
    var quiet = false

    @Flag(help: "Allow random weights: --config without --weights, or no model at all (the default preset). Predictions are meaningless; for trying the pipeline.")
    var allowUntrained = false

    func validate() throws {
        guard top >= 1 else { throw ValidationError("--top must be at least 1, got \(top)") }
        if let shard { _ = try parseShard(shard) }
        if let timeline, !(timeline.isFinite && timeline > 0) { throw ValidationError("--timeline must be a positive number of seconds") }
        if let scores, !(scores.hasSuffix(".jsonl") || scores.hasSuffix(".safetensors")) {
            throw ValidationError("--scores must name a .jsonl or .safetensors file, got '\(scores)'")
        }
    }

    func parseShard(_ text: String) throws -> (Int, Int) {
        let parts = text.split(separator: "/").compactMap { Int($0) }
        guard parts.count == 2, parts[1] >= 1, (1...parts[1]).contains(parts[0]) else {
            throw ValidationError("--shard must be k/n with 1 ≤ k ≤ n, got '\(text)'")
        }
        return (parts[0], parts[1])
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
        let protocolUsed = view.viewProtocol(for: model)
        let classifier = VideoClassifier(model: model, labels: try selection.labels(for: model, file: labels), views: protocolUsed, input: input.open)

        var entries = InputList.expand(paths)
        guard !entries.isEmpty else {
            throw ValidationError("nothing to classify: no video files in \(paths.joined(separator: " ")) (folders are searched for video files and folders of numbered images)")
        }
        let weightsFile = untrained ? nil : try selection.weightsFile()
        if !json { selection.printHeader(model, weights: weightsFile, labels: classifier.labels) }
        if let shard {
            let (k, n) = try parseShard(shard)
            entries = InputList.shard(entries, index: k, count: n)
        }
        let jsonlOutput = try jsonl.map { try LineOutput(path: $0) }
        let progress = ProgressLine(total: entries.count * protocolUsed.clips * protocolUsed.crops, quiet: quiet)
        let viewsPerVideo = protocolUsed.clips * protocolUsed.crops
        var records: [VideoRecord] = []
        let scoreWriter = try scores.map { try ScoreWriter(path: $0, classes: classifier.labels) }
        let annotated = try annotate.map { try AnnotationTarget(path: $0, inputs: entries.count) }

        // Decode the next video on a background queue while the network works on this one.
        let decoder = Prefetcher(entries: entries, classifier: classifier)
        for (i, entry) in entries.enumerated() {
            var record: VideoRecord
            do {
                let video = try decoder.take(i)
                let start = DispatchTime.now().uptimeNanoseconds
                let perView = classifier.classify(video) { v in
                    progress.update(completed: i * viewsPerVideo + v, detail: URL(fileURLWithPath: entry.path).lastPathComponent)
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
                progress.update(completed: (i + 1) * viewsPerVideo, detail: "failed")
            }
            records.append(record)
            if let jsonlOutput { try jsonlOutput.write(try jsonLine(record) + "\n") }
            if !json { progress.finish(); printRecord(record) }
        }
        progress.finish()
        try scoreWriter?.finish()
        if json {
            let document = Document(model: model.config.name, weights: weightsFile, classes: classifier.labels, untrained: untrained, protocolUsed: protocolUsed,
                                    ensemble: ensemble, videos: records)
            print(try jsonDocument(document))
        }
        let failed = records.filter { $0.error != nil }.count
        if failed > 0 {
            FileHandle.standardError.write(Data("nlnet classify: \(failed) of \(records.count) file(s) failed\n".utf8))
            if !keepGoing { throw ExitCode(1) }
        }
    }

    func printRecord(_ r: VideoRecord) {
        if let error = r.error {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            return
        }
        let timing = String(format: "decode %.2f s, network %.2f s", r.decodeSeconds ?? 0, r.networkSeconds ?? 0)
        print("\(r.path)  (\(r.frameCount ?? 0) frames, \(r.clips?.count ?? 0)×\(view.crops) views, \(timing))")
        for c in r.top ?? [] {
            print("  \(pad(String(c.rank), 3))\(pad(c.label, 36))\(String(format: "%.4f", c.probability))")
        }
        if let t = r.timeline {
            print("  timeline: " + t.map { String(format: "%.1fs ", $0.time) + "\($0.top.first?.label ?? "?") (" + String(format: "%.2f", $0.top.first?.probability ?? 0) + ")" }
                .joined(separator: " | "))
        }
    }
}

/// Decodes entry i+1 while entry i is classified: at most two videos' views in memory.
final class Prefetcher: @unchecked Sendable {
    private let entries: [InputList.Entry]
    private let classifier: VideoClassifier
    private let queue = DispatchQueue(label: "nlnet.decode")
    private var pending: [Int: DispatchWorkItem] = [:]
    private var results: [Int: Result<VideoClassifier.DecodedVideo, Error>] = [:]
    private let lock = NSLock()

    init(entries: [InputList.Entry], classifier: VideoClassifier) {
        self.entries = entries
        self.classifier = classifier
    }

    private func start(_ i: Int) {
        guard i < entries.count, pending[i] == nil else { return }
        let entry = entries[i]
        let item = DispatchWorkItem { [self] in
            let result: Result<VideoClassifier.DecodedVideo, Error>
            if let error = entry.error { result = .failure(ValidationError("\(entry.path): \(error)")) }
            else { result = Result { try classifier.decodeViews(entry.path) } }
            lock.lock(); results[i] = result; lock.unlock()
        }
        pending[i] = item
        queue.async(execute: item)
    }

    func take(_ i: Int) throws -> VideoClassifier.DecodedVideo {
        start(i)
        pending[i]!.wait()
        start(i + 1)
        lock.lock(); defer { lock.unlock() }
        let result = results.removeValue(forKey: i)!
        pending[i] = nil
        return try result.get()
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
