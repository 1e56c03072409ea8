import Foundation
import TestSupport
import Testing

/// Videos that are not plain files, from the command line: standard input, a chosen stream,
/// and `nlnet watch` on a live stream from a local ffmpeg (loopback UDP, bounded in time).
@Suite("Video input and nlnet watch")
struct VideoInputCommandTests {
    static let directory: URL = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-input-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }()

    static func make(_ name: String, _ args: [String]) throws -> String {
        let path = directory.appendingPathComponent(name).path
        if !FileManager.default.fileExists(atPath: path) { try ExternalTool.run("ffmpeg", ["-v", "error", "-y"] + args + [path]) }
        return path
    }

    static func xvid() throws -> String {
        try make("xvid.avi", ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2", "-c:v", "mpeg4", "-vtag", "xvid", "-bf", "1"])
    }

    /// `cat x.avi | nlnet classify -` and `nlnet probe -`: a video on standard input.
    @Test func standardInput() throws {
        let avi = try Self.xvid()
        let probe = try CLI.run(["probe", "-", "--json"], stdin: avi)
        #expect(probe.status == 0, "\(probe.stderr)")
        #expect(probe.stdout.contains("\"frameCount\":50") && probe.stdout.contains("\"numberedInDecoderOrder\":true"), "\(probe.stdout)")
        let classify = try CLI.run(["classify", "-", "--top", "1", "--quiet"], stdin: avi)
        #expect(classify.status == 0 && classify.stdout.contains("-  (50 frames"), "\(classify.stdout) \(classify.stderr)")
        let empty = try CLI.run(["probe", "-"])
        #expect(empty.status == 1 && empty.stderr.contains("-: the input is empty"), "\(empty.stderr)")
    }

    /// --stream N decodes that stream; a stream that is not video is one clear error.
    @Test func aChosenStream() throws {
        let two = try Self.make("two.mkv", ["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=0.4", "-f", "lavfi", "-i",
                                            "testsrc=size=96x64:rate=25:duration=0.4", "-f", "lavfi", "-i", "sine=duration=0.4",
                                            "-map", "0:v", "-map", "1:v", "-map", "2:a", "-c:v", "libx264", "-pix_fmt", "yuv420p"])
        let out = Self.directory.appendingPathComponent("stream1.rgb").path
        let r = try CLI.run(["decode", two, "--stream", "1", "--frames", "0", "-o", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect((try? Data(contentsOf: URL(fileURLWithPath: out)).count) == 96 * 64 * 3)
        let audio = try CLI.run(["probe", two, "--stream", "2"])
        #expect(audio.status == 1 && audio.stderr.contains("stream 2 is not a video stream") && audio.stderr.contains("video: 0, 1"), "\(audio.stderr)")
    }

    /// A stream sent in real time over UDP: one JSON line per window, stream times one
    /// --every apart, and a clean end when the sender stops (silence, UDP having no end).
    @Test(.timeLimit(.minutes(1))) func watchALiveStream() throws {
        let port = 21_000 + Int(getpid() % 20_000)
        let sender = try Self.sender(seconds: 4, port: port)
        defer { sender.terminate(); sender.waitUntilExit() }
        let r = try CLI.run(["watch", "udp://127.0.0.1:\(port)", "--every", "1", "--jsonl", "-", "--timeout", "3"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(lines.count >= 2, "\(r.stdout)")
        let times = lines.compactMap { $0["time"] as? Double }
        #expect(zip(times, times.dropFirst()).allSatisfy { $1 - $0 >= 0.99 }, "\(times)")
        #expect(lines.allSatisfy { ($0["top"] as? [Any])?.count == 3 && ($0["lag"] as? Double).map { $0 >= 0 } == true })
        #expect(r.stderr.contains("windows/s"), "\(r.stderr)")
    }

    /// Ctrl-C (SIGINT) ends watch cleanly and soon: exit 0 and the summary.
    @Test(.timeLimit(.minutes(1))) func watchEndsOnSIGINT() throws {
        let port = 22_000 + Int(getpid() % 20_000)
        let sender = try Self.sender(seconds: 30, port: port)
        defer { sender.terminate(); sender.waitUntilExit() }
        let watch = Process()
        watch.executableURL = CLI.binary
        watch.arguments = ["watch", "udp://127.0.0.1:\(port)", "--every", "0.5", "--timeout", "5"]
        let out = Pipe(), err = Pipe()
        watch.standardOutput = out
        watch.standardError = err
        try watch.run()
        Thread.sleep(forTimeInterval: 3)
        kill(watch.processIdentifier, SIGINT)
        let sent = Date()
        let stdout = out.fileHandleForReading.readDataToEndOfFile(), stderr = err.fileHandleForReading.readDataToEndOfFile()
        watch.waitUntilExit()
        #expect(Date().timeIntervalSince(sent) < 3)
        #expect(watch.terminationReason == .exit && watch.terminationStatus == 0, "\(String(decoding: stderr, as: UTF8.self))")
        #expect(String(decoding: stderr, as: UTF8.self).contains("windows/s"))
        #expect(!stdout.isEmpty)
    }

    /// A file is read at the network's pace: every due window is classified.
    @Test func watchAFileClassifiesEveryWindow() throws {
        let file = try Self.make("four.mp4", ["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=4", "-c:v", "libx264", "-pix_fmt", "yuv420p"])
        let r = try CLI.run(["watch", file, "--every", "0.5", "--jsonl", "-"])
        #expect(r.status == 0, "\(r.stderr)")
        let times = r.stdout.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["time"] as? Double
        }
        // The default model's clip spans 15 frames (8 × stride 2): the first window ends at
        // frame 14 (1.4 s), then every 0.5 s to the last frame (3.9 s).
        #expect(times.map { ($0 * 10).rounded() / 10 } == [1.4, 1.9, 2.4, 2.9, 3.4, 3.9], "\(times)")
        let missing = try CLI.run(["watch", "/dev/video97"])
        #expect(missing.status == 1 && missing.stderr.contains("/dev/video97") && missing.stderr.contains("No such file"), "\(missing.stderr)")
    }

    /// ffmpeg sending testsrc2 as MPEG-TS over loopback UDP in real time for `seconds`.
    static func sender(seconds: Int, port: Int) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["ffmpeg", "-v", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=\(seconds)",
                       "-c:v", "mpeg2video", "-f", "mpegts", "udp://127.0.0.1:\(port)?pkt_size=1316"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }
}
