import ArgumentParser
import NLVideo

/// How every verb that reads videos opens them: which stream, and a frames folder's rate.
struct VideoInputOptions: ParsableArguments {
    @Option(help: "The video stream to read (default: the one the ffmpeg CLI picks: most pixels, the default-flagged stream first).")
    var stream: Int?

    @Option(help: "Frames per second of a frames folder (numbered images carry no timing).")
    var frameRate = 30.0

    func validate() throws {
        if let stream, !(0...65_535).contains(stream) { throw ValidationError("--stream must be 0…65535, got \(stream)") }
        guard frameRate.isFinite, frameRate > 0, frameRate <= 1000 else { throw ValidationError("--frame-rate must be in (0, 1000], got \(frameRate)") }
    }

    var open: VideoOpenOptions { VideoOpenOptions(stream: stream, folderFrameRate: frameRate) }
}
