import Foundation
import TestSupport

/// Test videos made with the ffmpeg CLI (installed by `make test`), once per test process,
/// in a temporary folder.
enum Corpus {
    static let directory: URL = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-corpus-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }()

    static let lock = NSLock()

    /// The path of corpus file `name`, made by `ffmpeg args…` (the output path is appended).
    static func file(_ name: String, _ args: [String]) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        let path = directory.appendingPathComponent(name).path
        if FileManager.default.fileExists(atPath: path) { return path }
        try ExternalTool.run("ffmpeg", ["-v", "error", "-y"] + args + [path])
        return path
    }

    /// A file with the given bytes.
    static func raw(_ name: String, _ bytes: [UInt8]) -> String {
        let path = directory.appendingPathComponent(name).path
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    /// RGB24 frames decoded by the ffmpeg CLI at the given size, bilinear: every frame the
    /// decoder gives, in its order (no frame dropped or repeated for a constant rate).
    /// `input` replaces `-i path` (e.g. an image2 pattern with its options).
    static func ffmpegFrames(_ path: String, width: Int, height: Int, extraFilters: String = "", input: [String] = [],
                             map: [String] = []) throws -> [UInt8] {
        let vf = (extraFilters.isEmpty ? "" : extraFilters + ",") + "scale=\(width):\(height):flags=bilinear"
        return [UInt8](try ExternalTool.run("ffmpeg", ["-v", "error"] + (input.isEmpty ? ["-i", path] : input) + map
                                            + ["-vf", vf, "-fps_mode", "passthrough", "-pix_fmt", "rgb24", "-f", "rawvideo", "-"]))
    }

    static let testsrc = ["-f", "lavfi", "-i"]

    // The videos the tests share.
    static func h264BFrames() throws -> String {
        try file("bframes.mp4", testsrc + ["testsrc2=size=176x144:rate=25:duration=4", "-c:v", "libx264", "-bf", "3", "-g", "25", "-pix_fmt", "yuv420p"])
    }

    /// Open GOPs (x264's open-gop: leading B-frames reference the previous GOP).
    static func openGOP() throws -> String {
        try file("opengop.mkv", testsrc + ["testsrc2=size=160x120:rate=24:duration=4", "-c:v", "libx264", "-bf", "3", "-g", "20",
                                           "-x264-params", "open-gop=1:keyint=20:min-keyint=20:scenecut=0", "-pix_fmt", "yuv420p"])
    }

    /// Variable frame rate: frames at uneven timestamps.
    static func variableFrameRate() throws -> String {
        try file("vfr.mp4", testsrc + ["testsrc2=size=128x96:rate=30:duration=3", "-vf", "setpts='PTS+0.02*sin(N)/TB'",
                                       "-fps_mode", "vfr", "-c:v", "libx264", "-bf", "2", "-g", "15", "-pix_fmt", "yuv420p"])
    }
}

/// Where two byte buffers differ, as text (nil when equal). Swift Testing's own `==` on
/// large arrays computes a collection diff on failure, which is quadratic.
func byteDifference<A: Collection<UInt8>, B: Collection<UInt8>>(_ a: A, _ b: B) -> String? {
    guard a.count == b.count else { return "sizes differ: \(a.count) vs \(b.count) bytes" }
    var differing = 0, first = -1, maxDelta = 0
    for (i, (x, y)) in zip(a, b).enumerated() where x != y {
        differing += 1
        if first < 0 { first = i }
        maxDelta = max(maxDelta, abs(Int(x) - Int(y)))
    }
    return differing == 0 ? nil : "\(differing) of \(a.count) bytes differ (first at \(first), max difference \(maxDelta))"
}
