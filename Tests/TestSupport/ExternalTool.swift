import Foundation

/// The ffmpeg and ffprobe command-line tools (installed by `make test`): the tests' reference
/// for decoded pixels and their maker of sample videos.
public enum ExternalTool {
    /// Runs `program args…` found on PATH and returns its standard output; a non-zero exit is
    /// an error carrying the command line and its standard error.
    @discardableResult
    public static func run(_ program: String, _ args: [String]) throws -> Data {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [program] + args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw NSError(domain: program, code: Int(p.terminationStatus),
                          userInfo: [NSLocalizedDescriptionKey: "\(program) \(args.joined(separator: " ")): \(String(decoding: errData, as: UTF8.self))"])
        }
        return data
    }

    /// `seconds` of an FFmpeg lavfi source (e.g. "testsrc2=size=64x48:rate=10") as H.264 at `path`.
    public static func lavfiClip(_ source: String, seconds: Double, to path: String) throws {
        try run("ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", source, "-t", "\(seconds)", "-c:v", "libx264", "-pix_fmt", "yuv420p", path])
    }
}
