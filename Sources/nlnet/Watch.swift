import ArgumentParser
import Foundation
import NLModels
import NLTensor
import NLTrain
import NLVideo

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify a live source with a sliding window: one line per window as the stream plays.",
        discussion: """
        SOURCE is a stream FFmpeg reads (udp://, tcp://, rtsp://, http://, …), a camera (/dev/video0), \
        '-' (standard input), a FIFO, or a file or frames folder (read at the network's pace, every \
        window classified). Each window is the model's clip (frames at its stride) ending at the newest \
        frame, centre crop, due every --every seconds of stream time. When the network is slower than \
        a live stream, windows are skipped, never queued: the lag stays bounded. Ends at the end of the \
        stream, after --duration, or on Ctrl-C (SIGINT), with a summary on standard error.
        """)

    @Argument(help: "The live source.")
    var source: String

    @OptionGroup var selection: ModelSelection

    @OptionGroup var precision: PrecisionOption

    @Option(help: "Seconds of stream time between windows.")
    var every = 1.0

    @Option(help: "Write one JSON object per window to this file ('-': standard output, instead of the table).")
    var jsonl: String?

    @Option(help: "How many classes to report per window.")
    var top = 3

    @Option(help: "Stop after this many seconds of stream time.")
    var duration: Double?

    @Option(help: "Seconds the source may stay silent before the stream counts as ended (UDP has no end).")
    var timeout = 10.0

    @OptionGroup var input: VideoInputOptions

    @Option(help: "Class names, one per line (default: the weights' own).")
    var labels: String?

    @Flag(help: "Allow random weights (--config without --weights): for trying the pipeline.")
    var allowUntrained = false

    func validate() throws {
        guard every.isFinite, every > 0, every <= 86_400 else { throw ValidationError("--every must be a number of seconds in (0, 86400], got \(every)") }
        guard (1...1000).contains(top) else { throw ValidationError("--top must be 1…1000, got \(top)") }
        if let duration, !(duration.isFinite && duration > 0) { throw ValidationError("--duration must be a positive number of seconds, got \(duration)") }
        guard timeout.isFinite, timeout > 0, timeout <= 3600 else { throw ValidationError("--timeout must be in (0, 3600] seconds, got \(timeout)") }
    }

    /// One line of --jsonl.
    struct Record: Codable {
        var time: Double
        var frames: [Int]
        var top: [RankedClass]
        /// Seconds from the window's newest frame leaving the decoder to its prediction.
        var lag: Double
        var network: Double
    }

    func run() throws {
        let (model, untrained) = try selection.trainedModel(allowUntrained: allowUntrained)
        try precision.apply(to: model)
        let views = ViewProtocol(config: model.config)
        let classifier = VideoClassifier(model: model, labels: try selection.labels(for: model, file: labels), views: views)
        let live = try LiveVideo(path: source, threads: 2, timeout: timeout,
                                 options: input.open)
        let display = live.info.displaySize
        let size = SpatialTransform.resized(width: display.width, height: display.height, shortSide: views.shortSide)
        // A file or a frames folder has no clock of its own: read it at the network's pace.
        let paced = !live.isLive
        let window = LiveWindow(frames: views.frames, stride: views.stride, every: every, width: size.width, height: size.height, paced: paced)
        let out = try jsonl.map { try LineOutput(path: $0) }
        FileHandle.standardError.write(Data(("nlnet watch: \(source): \(live.info.codec) \(live.info.width)×\(live.info.height)"
            + (live.info.frameRate > 0 ? String(format: " at %.2f fps", live.info.frameRate) : "")
            + "; model \(model.config.name)\(untrained ? " (RANDOM weights)" : ""), \(views.frames)×\(views.stride) frames per window, "
            + (paced ? "every window classified" : "late windows skipped") + "\n").utf8))

        // Ctrl-C ends the stream: the reader stops, the last due window is still classified.
        signal(SIGINT, SIG_IGN)
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        interrupt.setEventHandler { live.cancel() }
        interrupt.resume()
        defer { interrupt.cancel() }

        let failure = ReaderFailure()
        let reader = Thread { [duration] in
            defer { window.finish() }
            do {
                while let (rgb, seconds) = try live.next(width: size.width, height: size.height) {
                    if let duration, seconds > duration { break }
                    window.push(rgb: rgb, seconds: seconds)
                }
            } catch let error as VideoError where error.kind == .timeout && window.windowsTaken > 0 {
                // A source that goes quiet after playing (UDP) has ended.
            } catch {
                failure.set(error)
            }
        }
        reader.stackSize = 1 << 20
        reader.start()

        var lags: [Double] = []
        var firstDone: UInt64 = 0, lastDone: UInt64 = 0
        while let w = window.next() {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let p = classifier.centreClipProbabilities(w.frames)
            let now = DispatchTime.now().uptimeNanoseconds
            let record = Record(time: w.seconds, frames: w.frames.indices, top: topK(p, k: top, labels: classifier.labels),
                                lag: Double(now - min(w.arrival, now)) / 1e9, network: Double(now - t0) / 1e9)
            lags.append(record.lag)
            if firstDone == 0 { firstDone = now }
            lastDone = now
            if let out { try out.write(try jsonLine(record) + "\n") }
            if jsonl != "-" {
                print(String(format: "%8.2f s  ", record.time)
                      + record.top.map { "\($0.label) \(String(format: "%.3f", $0.probability))" }.joined(separator: "  ")
                      + String(format: "   (lag %.2f s)", record.lag))
            }
        }
        // From the first prediction to the last: neither the wait for the stream to start nor
        // the silence that ends a UDP stream is work.
        let wall = Double(lastDone - firstDone) / 1e9
        if let error = failure.error { throw error }
        let meanLag = lags.isEmpty ? 0 : lags.reduce(0, +) / Double(lags.count)
        FileHandle.standardError.write(Data(String(format: "nlnet watch: %d windows in %.1f s (%.2f windows/s), lag mean %.2f s, max %.2f s\n",
                                                   lags.count, wall, Double(max(lags.count - 1, 0)) / max(wall, 1e-9), meanLag, lags.max() ?? 0).utf8))
        if lags.isEmpty { throw ValidationError("\(source): the stream ended before a single frame was decoded") }
    }
}

/// The reader thread's failure, for the main thread to report.
final class ReaderFailure: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Error?
    var error: Error? { lock.withLock { stored } }
    func set(_ error: Error) { lock.withLock { stored = error } }
}
