import Foundation
import NLVideo
import TestSupport
import Testing

/// Files as other software writes them, and sources that are not seekable files: every frame
/// equals the ffmpeg CLI's (`-fps_mode passthrough`: the frames the decoder gives, in order).
@Suite("Real-world input")
struct RealWorldInputTests {
    static let src = Corpus.testsrc

    /// Frames 0…n−1 equal ffmpeg's, and frames fetched in a scattered order (seeking back
    /// and forth) equal them too.
    func expectExact(_ path: String, _ what: String, width: Int = 64, height: Int = 48, options: VideoOpenOptions = .init(),
                     map: [String] = [], input: [String] = []) throws {
        let reader = try VideoReader(path: path, options: options)
        let n = reader.info.frameCount
        let theirs = try Corpus.ffmpegFrames(path, width: width, height: height, input: input, map: map)
        #expect(theirs.count == n * width * height * 3, "\(what): \(n) frames, ffmpeg gives \(theirs.count / (width * height * 3))")
        let ours = try reader.frames(Array(0..<n), width: width, height: height)
        #expect(byteDifference(ours.bytes, theirs) == nil, "\(what): \(byteDifference(ours.bytes, theirs) ?? "")")
        let seeker = try VideoReader(path: path, options: options)
        for index in [n - 1, 0, n / 2, 1, n / 3, n - 2].filter({ $0 >= 0 && $0 < n }) {
            let one = try seeker.frames([index], width: width, height: height)
            #expect(byteDifference(one.bytes, ours.frame(index)) == nil, "\(what): frame \(index) differs after a seek")
        }
        #expect(seeker.stats.substitutedFrames == 0)
    }

    /// MPEG-4 Part 2 with B-frames in AVI (Xvid/DivX, as UCF101 and HMDB51 ship): the packets
    /// carry no presentation timestamps, so frames are numbered in decoder order. Before, frame
    /// i came out as ffmpeg's frame i−1 (frame 0 twice, the last never).
    @Test(arguments: [("xvid.avi", ["-c:v", "mpeg4", "-vtag", "xvid", "-bf", "1", "-g", "12"]),
                      ("divx-bf2.avi", ["-c:v", "mpeg4", "-vtag", "DX50", "-bf", "2", "-g", "30"])])
    func mpeg4PartTwoWithBFramesInAVI(_ name: String, _ codec: [String]) throws {
        let path = try Corpus.file(name, Self.src + ["testsrc2=size=320x240:rate=25:duration=2"] + codec)
        let info = try VideoReader(path: path).info
        #expect(info.numberedInDecoderOrder)
        try expectExact(path, name)
    }

    /// Timestamps that restart part-way (two MPEG-TS recordings joined byte-wise; a Matroska
    /// file from 2012 by Lavf53 did the same): frames in decoder order, not sorted by time,
    /// which interleaved the two halves.
    @Test func timestampsThatRestart() throws {
        let first = try Corpus.file("part1.ts", Self.src + ["testsrc2=size=160x120:rate=25:duration=1", "-c:v", "mpeg2video", "-bf", "2"])
        let second = try Corpus.file("part2.ts", Self.src + ["testsrc=size=160x120:rate=25:duration=1", "-c:v", "mpeg2video", "-bf", "2"])
        let joined = Corpus.raw("joined.ts", [UInt8](try Data(contentsOf: URL(fileURLWithPath: first)) + Data(contentsOf: URL(fileURLWithPath: second))))
        let info = try VideoReader(path: joined).info
        #expect(info.numberedInDecoderOrder && info.frameCount == 50)
        try expectExact(joined, "joined.ts")
    }

    /// Raw elementary streams (no container timestamps at all) with B-frames.
    @Test(arguments: [("raw.m4v", ["-c:v", "mpeg4", "-bf", "2", "-f", "m4v"]),
                      ("raw.h264", ["-c:v", "libx264", "-bf", "3", "-g", "20", "-pix_fmt", "yuv420p", "-f", "h264"])])
    func rawStreamsWithBFrames(_ name: String, _ codec: [String]) throws {
        try expectExact(try Corpus.file(name, Self.src + ["testsrc2=size=320x240:rate=25:duration=2"] + codec), name)
    }

    /// AVI without B-frames keeps its timestamps (and its fast seeks).
    @Test func aviWithoutBFramesKeepsTimestamps() throws {
        let path = try Corpus.file("nob.avi", Self.src + ["testsrc2=size=160x120:rate=25:duration=1", "-c:v", "mpeg4", "-bf", "0", "-g", "10"])
        #expect(try VideoReader(path: path).info.numberedInDecoderOrder == false)
        try expectExact(path, "nob.avi")
    }

    /// Matroska written to a pipe has no duration, cues or seek head: the duration comes from
    /// the frames, and seeks are still exact.
    @Test func matroskaWrittenToAPipe() throws {
        let mkv = Corpus.directory.appendingPathComponent("piped.mkv").path
        try ExternalTool.run("sh", ["-c", "ffmpeg -v error -y -f lavfi -i testsrc2=size=160x120:rate=25:duration=2 -f lavfi -i sine=duration=2 "
                                    + "-c:v mpeg4 -g 1000 -c:a aac -f matroska - > '\(mkv)'"])
        let info = try VideoReader(path: mkv).info
        #expect(info.frameCount == 50 && info.keyframeCount == 1)
        #expect(abs(info.duration - 2.0) < 0.05, "duration \(info.duration)")
        try expectExact(mkv, "piped.mkv")
    }

    /// Two video streams: the one the ffmpeg CLI picks (the default-flagged one wins over a
    /// larger one), and --stream N picks another.
    @Test func streamChoiceFollowsFFmpeg() throws {
        let path = try Corpus.file("twostreams.mkv", Self.src + ["testsrc2=size=160x120:rate=25:duration=1", "-f", "lavfi", "-i",
                                                                  "testsrc=size=320x240:rate=25:duration=1", "-map", "0:v", "-map", "1:v",
                                                                  "-c:v", "libx264", "-pix_fmt", "yuv420p",
                                                                  "-disposition:v:0", "default", "-disposition:v:1", "0"])
        let chosen = try VideoReader(path: path).info
        #expect(chosen.videoStreams == 2)
        #expect(chosen.streamIndex == 0 && chosen.width == 160)
        try expectExact(path, "default stream")
        let other = try VideoReader(path: path, options: VideoOpenOptions(stream: 1)).info
        #expect(other.streamIndex == 1 && other.width == 320)
        try expectExact(path, "stream 1", options: VideoOpenOptions(stream: 1), map: ["-map", "0:1"])
        // Without a default flag, the larger stream (ffmpeg's rule: most pixels).
        let plain = try Corpus.file("twoplain.mkv", Self.src + ["testsrc2=size=64x48:rate=25:duration=1", "-f", "lavfi", "-i",
                                                                "testsrc=size=160x120:rate=25:duration=1", "-map", "0:v", "-map", "1:v",
                                                                "-c:v", "libx264", "-pix_fmt", "yuv420p", "-disposition:v:0", "0",
                                                                "-disposition:v:1", "0", "-default_mode", "passthrough"])
        #expect(try VideoReader(path: plain).info.streamIndex == 1)
        try expectExact(plain, "larger stream")
        do {
            _ = try VideoReader(path: path, options: VideoOpenOptions(stream: 7))
            Issue.record("stream 7 was accepted")
        } catch let error as VideoError {
            #expect(error.kind == .argument && error.message.contains("stream 7") && error.message.contains("video: 0, 1"), "\(error)")
        }
    }

    // MARK: Frame folders

    func frameFolder(_ name: String, pattern: String = "img_%05d.jpg", start: Int = 1, frames: Int = 12, size: String = "96x64") throws -> String {
        let dir = Corpus.directory.appendingPathComponent(name)
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try ExternalTool.run("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=\(size):rate=25", "-frames:v", "\(frames)",
                                        "-start_number", "\(start)", "-q:v", "3", dir.appendingPathComponent(pattern).path])
        return dir.path
    }

    /// mmaction2's rawframes: a folder of img_00001.jpg … is a video whose frames equal
    /// `ffmpeg -framerate R -start_number 1 -i dir/img_%05d.jpg`.
    @Test func aFramesFolderIsAVideo() throws {
        let dir = try frameFolder("rawframes")
        // Optical-flow images beside the frames are not frames.
        try ExternalTool.run("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc=size=96x64:rate=25", "-frames:v", "11", "-start_number", "1",
                                        (dir as NSString).appendingPathComponent("flow_x_%05d.jpg")])
        let reader = try VideoReader(path: dir, options: VideoOpenOptions(folderFrameRate: 12.5))
        #expect(reader.info.frameCount == 12 && reader.info.container == "image2")
        #expect(abs(reader.info.frameRate - 12.5) < 1e-9)
        try expectExact(dir, "rawframes", options: VideoOpenOptions(folderFrameRate: 12.5),
                        input: ["-framerate", "12.5", "-start_number", "1", "-i", (dir as NSString).appendingPathComponent("img_%05d.jpg")])
        // PNG frames numbered from 0 without padding.
        let png = try frameFolder("pngframes", pattern: "%d.png", start: 0, frames: 11)
        #expect(try VideoReader(path: png).info.frameCount == 11)
    }

    @Test func framesFolderMistakesAreClearErrors() throws {
        let gap = try frameFolder("gap")
        try FileManager.default.removeItem(atPath: (gap as NSString).appendingPathComponent("img_00005.jpg"))
        expectFolderError(gap, "frame 5 is missing")
        let mixed = try frameFolder("mixed", frames: 4)
        try ExternalTool.run("ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=48x32", "-frames:v", "1",
                                        (mixed as NSString).appendingPathComponent("img_00005.jpg")])
        do {
            let reader = try VideoReader(path: mixed)
            _ = try reader.frames(Array(0..<5), width: 32, height: 32)
            Issue.record("mixed sizes were accepted")
        } catch let error as VideoError {
            #expect(error.message.contains("one size") && error.message.contains("48x32"), "\(error)")
        }
        let empty = Corpus.directory.appendingPathComponent("emptyfolder").path
        try? FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        expectFolderError(empty, "no numbered images")
    }

    func expectFolderError(_ path: String, _ text: String) {
        do {
            _ = try VideoReader(path: path)
            Issue.record("\(path) was accepted")
        } catch {
            #expect("\(error)".hasPrefix(path) && "\(error)".contains(text), "\(error)")
        }
    }

    // MARK: Sources read in order

    /// A FIFO is copied aside, then indexed like a file: the same frames as the file.
    @Test func aFIFOReadsLikeItsFile() throws {
        let file = try Corpus.h264BFrames()
        let fifo = Corpus.directory.appendingPathComponent("video.fifo").path
        unlink(fifo)
        #expect(mkfifo(fifo, 0o600) == 0)
        let writer = Thread { _ = try? ExternalTool.run("sh", ["-c", "cat '\(file)' > '\(fifo)'"]) }
        writer.start()
        let reader = try VideoReader(path: fifo)
        let direct = try VideoReader(path: file)
        #expect(reader.info.frameCount == direct.info.frameCount)
        let picks = [0, 7, 50, direct.info.frameCount - 1]
        #expect(try reader.frames(picks, width: 64, height: 48).bytes == direct.frames(picks, width: 64, height: 48).bytes)
    }

    /// A source read in order gives the indexed reader's frames, one after another, with times.
    @Test func readingInOrderEqualsIndexedReading() throws {
        let file = try Corpus.h264BFrames()
        let indexed = try VideoReader(path: file)
        let n = indexed.info.frameCount
        let all = try indexed.frames(Array(0..<n), width: 64, height: 48)
        let live = try LiveVideo(path: file)
        #expect(live.info.live && live.info.frameCount == 0 && !live.isLive)
        var times: [Double] = []
        while let (frame, seconds) = try live.next(width: 64, height: 48) {
            #expect(times.count < n && frame[...] == all.frame(times.count), "frame \(times.count) differs")
            times.append(seconds)
        }
        #expect(times.count == n)
        #expect(times.first == 0 && abs(times.last! - Double(n - 1) / 25) < 1e-6)
    }

    /// An MPEG-TS stream over TCP from a local ffmpeg (loopback, bounded in time): every frame
    /// arrives, equal to the same stream read from a file.
    @Test(.timeLimit(.minutes(1))) func aTCPStream() throws {
        let ts = try Corpus.file("stream.ts", Self.src + ["testsrc2=size=160x120:rate=25:duration=2", "-c:v", "mpeg2video", "-g", "12", "-bf", "2"])
        let port = 20_000 + Int(getpid() % 20_000)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["ffmpeg", "-v", "error", "-i", ts, "-c", "copy", "-f", "mpegts", "tcp://127.0.0.1:\(port)?listen=1&listen_timeout=20000"]
        try server.run()
        defer { server.terminate(); server.waitUntilExit() }
        var live: LiveVideo?
        for _ in 0..<50 where live == nil {
            live = try? LiveVideo(path: "tcp://127.0.0.1:\(port)", timeout: 5)
            if live == nil { usleep(100_000) }
        }
        let stream = try #require(live)
        #expect(stream.isLive)
        let file = try VideoReader(path: ts)
        let expected = try file.frames(Array(0..<file.info.frameCount), width: 80, height: 60)
        var count = 0
        while let (frame, _) = try stream.next(width: 80, height: 60) {
            #expect(count < file.info.frameCount && frame[...] == expected.frame(count), "frame \(count) differs")
            count += 1
        }
        #expect(count == file.info.frameCount)
    }

    /// A stream that stops mid-packet (a TS cut at an odd byte, through a FIFO): the frames
    /// before the cut, then a clean end — no hang, no crash.
    @Test(.timeLimit(.minutes(1))) func aStreamThatStopsMidPacket() throws {
        let ts = try Corpus.file("cut-source.ts", Self.src + ["testsrc2=size=160x120:rate=25:duration=2", "-c:v", "mpeg2video", "-g", "12"])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: ts))
        let cut = Corpus.raw("cut.ts", [UInt8](bytes.prefix(bytes.count * 3 / 5 + 77)))
        let fifo = Corpus.directory.appendingPathComponent("cut.fifo").path
        unlink(fifo)
        #expect(mkfifo(fifo, 0o600) == 0)
        let writer = Thread { _ = try? ExternalTool.run("sh", ["-c", "cat '\(cut)' > '\(fifo)'"]) }
        writer.start()
        let live = try LiveVideo(path: fifo, timeout: 5)
        var count = 0
        while try live.next(width: 32, height: 24) != nil { count += 1 }
        #expect(count > 10 && count < 50, "\(count) frames before the cut")
    }

    /// Sources that do not answer: one clear error, in bounded time.
    @Test(.timeLimit(.minutes(1))) func absentSourcesAreClearErrors() throws {
        func expectFailure(_ path: String, _ text: String, timeout: Double = 2) {
            let start = Date()
            do {
                _ = try LiveVideo(path: path, timeout: timeout)
                Issue.record("\(path) was accepted")
            } catch {
                #expect("\(error)".hasPrefix(path) && "\(error)".localizedCaseInsensitiveContains(text), "\(error)")
            }
            #expect(Date().timeIntervalSince(start) < timeout + 5, "\(path) took \(Date().timeIntervalSince(start)) s")
        }
        expectFailure("tcp://127.0.0.1:1", "refused")
        expectFailure("/dev/video97", "no such file")
        expectFailure("udp://127.0.0.1:\(30_000 + Int(getpid() % 20_000))", "timed out", timeout: 1)
        do {
            _ = try VideoReader(path: "rtsp://127.0.0.1:1/live")
            Issue.record("an rtsp URL was indexed")
        } catch {
            #expect("\(error)".contains("nlnet watch"), "\(error)")
        }
    }
}
