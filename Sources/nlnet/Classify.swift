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

    @Option(help: "Clips per video (evenly spaced).")
    var clips = 10

    @Option(help: "Crops per clip (along the longer side).")
    var crops = 3

    @Option(help: "Frames per clip (default: the model's).")
    var frames: Int?

    @Option(help: "Frame stride within a clip (default: the model's).")
    var stride: Int?

    @Option(help: "Short side and square crop size in pixels (default: the model's, 256).")
    var size: Int?

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

    @Option(help: "Classify only shard k of n (k/n, 1-based) of the sorted inputs.")
    var shard: String?

    @Flag(help: "Exit with status 0 even when some files failed.")
    var keepGoing = false

    @Flag(help: "No progress display.")
    var quiet = false

    @Flag(help: "Allow random weights: --config without --weights, or no model at all (the default preset). Predictions are meaningless; for trying the pipeline.")
    var allowUntrained = false

    func validate() throws {
        guard top >= 1 else { throw ValidationError("--top must be at least 1, got \(top)") }
        try OptionRange.views(clips: clips, crops: crops)
        try OptionRange.frames(frames)
        try OptionRange.size(size)
        if let stride, !(1...1000).contains(stride) { throw ValidationError("--stride must be 1…1000, got \(stride)") }
        if let shard { _ = try parseShard(shard) }
        if let timeline, timeline <= 0 { throw ValidationError("--timeline must be a positive number of seconds") }
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
        let (model, untrained) = try selection.trainedModel(allowUntrained: allowUntrained)
        if untrained {
            FileHandle.standardError.write(Data("""
            nlnet classify: --allow-untrained: running '\(model.config.name)' with RANDOM weights:
              the classes below are meaningless.
              Convert an official checkpoint (README, "Official checkpoints") for real predictions.

            """.utf8))
        }
        var protocolUsed = ViewProtocol(config: model.config)
        protocolUsed.clips = clips
        protocolUsed.crops = crops
        if let frames { protocolUsed.frames = frames }
        if let stride { protocolUsed.stride = stride }
        if let size { protocolUsed.shortSide = size; protocolUsed.crop = size }
        let classifier = VideoClassifier(model: model, labels: try selection.labels(for: model, file: labels), views: protocolUsed, input: input.open)

        var entries = InputList.expand(paths)
        guard !entries.isEmpty else {
            throw ValidationError("nothing to classify: no video files in \(paths.joined(separator: " ")) (folders are searched for video files and folders of numbered images)")
        }
        let weightsFile = untrained ? nil : try selection.weightsFile()
        if !json { printHeader(model, weights: weightsFile, labels: classifier.labels) }
        if let shard {
            let (k, n) = try parseShard(shard)
            entries = InputList.shard(entries, index: k, count: n)
        }
        let jsonlOutput = try jsonl.map { try LineOutput(path: $0) }
        let progress = Progress(total: entries.count * protocolUsed.clips * protocolUsed.crops, quiet: quiet)
        let viewsPerVideo = protocolUsed.clips * protocolUsed.crops
        var records: [VideoRecord] = []

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
                if let timeline { record.timeline = try classifier.timeline(entry.path, interval: timeline, top: 1) }
            } catch {
                record = VideoRecord(path: entry.path, error: "\(error)".hasPrefix(entry.path) ? "\(error)" : "\(entry.path): \(error)")
                progress.update(completed: (i + 1) * viewsPerVideo, detail: "failed")
            }
            records.append(record)
            if let jsonlOutput { try jsonlOutput.write(try jsonLine(record) + "\n") }
            if !json { progress.finish(); printRecord(record) }
        }
        progress.finish()
        if json {
            let document = Document(model: model.config.name, weights: weightsFile, classes: classifier.labels, untrained: untrained, protocolUsed: protocolUsed,
                                    ensemble: ensemble, videos: records)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            print(String(decoding: try encoder.encode(document), as: UTF8.self))
        }
        let failed = records.filter { $0.error != nil }.count
        if failed > 0 {
            FileHandle.standardError.write(Data("nlnet classify: \(failed) of \(records.count) file(s) failed\n".utf8))
            if !keepGoing { throw ExitCode(1) }
        }
    }

    /// Which model answers, so a top class is never read without knowing the label set: the
    /// shipped default model knows four synthetic classes only.
    func printHeader(_ model: ResNet3D, weights: String?, labels: [String]) {
        let shown = labels.count <= 8 ? labels.joined(separator: ", ") : labels.prefix(4).joined(separator: ", ") + ", …"
        print("model: \(model.config.name) (\(weights ?? "random weights")), \(labels.count) classes: \(shown)")
        if selection.usesShippedModel {
            print("  the shipped default model, trained on the synthetic benchmark only; for Kinetics-400 convert an official checkpoint (README, \"Official checkpoints\") and pass --weights")
        }
    }

    func printRecord(_ r: VideoRecord) {
        if let error = r.error {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            return
        }
        let timing = String(format: "decode %.2f s, network %.2f s", r.decodeSeconds ?? 0, r.networkSeconds ?? 0)
        print("\(r.path)  (\(r.frameCount ?? 0) frames, \(r.clips?.count ?? 0)×\(crops) views, \(timing))")
        for c in r.top ?? [] {
            print("  \(pad(String(c.rank), 3))\(pad(c.label, 36))\(String(format: "%.4f", c.probability))")
        }
        if let t = r.timeline {
            print("  timeline: " + t.map { String(format: "%.1fs ", $0.time) + "\($0.top.first?.label ?? "?") (" + String(format: "%.2f", $0.top.first?.probability ?? 0) + ")" }
                .joined(separator: " | "))
        }
    }
}

/// A project file, looked up from the working directory, then beside the executable's
/// build folder (.build/release/nlnet → the package root).
func locate(_ relative: String) -> String? {
    let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    let roots = [FileManager.default.currentDirectoryPath,
                 exe.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path,
                 exe.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path]
    return roots.map { ($0 as NSString).appendingPathComponent(relative) }.first { FileManager.default.fileExists(atPath: $0) }
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
