import Foundation
import NLVideo
import Testing

/// Bad and odd files: correct frames, or one clear error naming the file and the cause.
@Suite("Bad and odd input")
struct OddInputTests {
    static let src = Corpus.testsrc

    func expectError(_ path: String, _ kind: VideoError.Kind, mentioning text: String,
                     sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let reader = try VideoReader(path: path, timeout: 20)
            _ = try reader.frames(Array(0..<reader.info.frameCount), width: 32, height: 32)
            Issue.record("\(path): no error", sourceLocation: sourceLocation)
        } catch let error as VideoError {
            #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
            #expect(error.description.hasPrefix(path + ": "), "\(error)", sourceLocation: sourceLocation)
            #expect(error.message.lowercased().contains(text), "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("\(path): unexpected \(error)", sourceLocation: sourceLocation)
        }
    }

    /// All frames at the display size, compared with the ffmpeg CLI (which autorotates).
    func expectSameAsFFmpeg(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let reader = try VideoReader(path: path)
        let d = reader.info.displaySize
        let ours = try reader.frames(Array(0..<reader.info.frameCount), width: d.width, height: d.height)
        let theirs = try Corpus.ffmpegFrames(path, width: d.width, height: d.height)
        let difference = byteDifference(ours.bytes, theirs)
        #expect(difference == nil, "\(path): \(difference ?? "")", sourceLocation: sourceLocation)
    }

    @Test func notVideoFilesAreRefused() throws {
        expectError(Corpus.raw("empty.mp4", []), .open, mentioning: "cannot open")
        expectError(Corpus.raw("text.mp4", Array("this is not a video, only text renamed to .mp4\n".utf8)), .open, mentioning: "cannot open")
        var rng = SystemRandomNumberGenerator()
        expectError(Corpus.raw("random.mp4", (0..<65536).map { _ in UInt8.random(in: 0...255, using: &rng) }), .open, mentioning: "cannot open")
        expectError("/nonexistent/video.mp4", .open, mentioning: "no such file")
    }

    @Test func filesWithoutAVideoStreamAreRefused() throws {
        expectError(try Corpus.file("audio.m4a", ["-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac"]), .noVideo, mentioning: "no video stream")
        let art = try Corpus.file("art.png", Self.src + ["testsrc2=size=64x64:duration=0.04", "-frames:v", "1"])
        expectError(try Corpus.file("cover.mp3", ["-f", "lavfi", "-i", "sine=duration=1", "-i", art, "-map", "0:a", "-map", "1:v",
                                                  "-c:a", "libmp3lame", "-c:v", "png", "-disposition:v", "attached_pic"]),
                    .noVideo, mentioning: "cover art")
        let srt = Corpus.raw("subs.srt", Array("1\n00:00:00,000 --> 00:00:01,000\nhello\n\n".utf8))
        expectError(try Corpus.file("subs.mkv", ["-i", srt, "-c:s", "srt"]), .noVideo, mentioning: "no video stream")
    }

    @Test func truncatedFiles() throws {
        // moov at the end: cut in half, the index is gone.
        let tail = try Corpus.file("moov-end.mp4", Self.src + ["testsrc2=size=128x96:duration=2", "-c:v", "libx264"])
        let tailBytes = try Data(contentsOf: URL(fileURLWithPath: tail))
        expectError(Corpus.raw("moov-end-cut.mp4", [UInt8](tailBytes.prefix(tailBytes.count / 2))), .open, mentioning: "cannot")
        // faststart: the index is first; the missing half of the samples cannot be read.
        let fast = try Corpus.file("faststart.mp4", Self.src + ["testsrc2=size=128x96:duration=2", "-c:v", "libx264", "-movflags", "+faststart"])
        let fastBytes = try Data(contentsOf: URL(fileURLWithPath: fast))
        let cut = Corpus.raw("faststart-cut.mp4", [UInt8](fastBytes.prefix(fastBytes.count * 6 / 10)))
        do {
            let reader = try VideoReader(path: cut, timeout: 20)
            let rgb = try reader.frames(Array(0..<min(10, reader.info.frameCount)), width: 32, height: 32)
            #expect(rgb.indices.count == min(10, reader.info.frameCount))
        } catch let error as VideoError {
            #expect(error.description.hasPrefix(cut), "\(error)")
        }
    }

    @Test func corruptPacketsMidStreamAreSkipped() throws {
        let clean = try Corpus.file("clean.ts", Self.src + ["testsrc2=size=160x120:rate=25:duration=4", "-c:v", "libx264", "-g", "10", "-bf", "0"])
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: clean)))
        // Garbage over a stretch of payload in the middle (TS packets are 188 bytes; keep sync bytes).
        var rng = RandomNumberGeneratorWithSeed(seed: 42)
        for packet in stride(from: bytes.count / 2, to: bytes.count / 2 + 188 * 12, by: 188) {
            for i in (packet + 8)..<min(packet + 188, bytes.count) { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
        }
        let path = Corpus.raw("corrupt.ts", bytes)
        let reader = try VideoReader(path: path)
        let rgb = try reader.frames(Array(0..<reader.info.frameCount), width: 40, height: 30)
        #expect(rgb.indices.count == reader.info.frameCount)
        #expect(reader.stats.corruptPackets + reader.stats.concealedFrames + reader.stats.substitutedFrames > 0,
                "the damage went unnoticed: \(reader.stats)")
    }

    @Test func veryShortVideosGiveFullClips() throws {
        for frames in [1, 3] {
            let path = try Corpus.file("frames\(frames).mp4", Self.src + ["testsrc2=size=64x48:rate=25", "-frames:v", "\(frames)", "-c:v", "libx264"])
            let reader = try VideoReader(path: path)
            #expect(reader.info.frameCount == frames)
            let views = try reader.testViews(sampler: ClipSampler(frames: 8, stride: 2), clips: 10, crops: 3, shortSide: 48, cropSize: 48)
            #expect(views.tensors.count == 30 && views.tensors[0].shape == [8, 48, 48, 3])
            try expectSameAsFFmpeg(path)
        }
    }

    @Test(arguments: [
        ("tiny16.mp4", ["testsrc2=size=16x16:duration=0.4", "-c:v", "libx264", "-pix_fmt", "yuv420p"]),
        ("odd321x241.mkv", ["testsrc2=size=321x241:duration=0.4", "-c:v", "libx264", "-pix_fmt", "yuv444p"]),
        ("ten-bit.mkv", ["testsrc2=size=96x64:duration=0.4", "-c:v", "libx264", "-pix_fmt", "yuv420p10le"]),
        ("yuv444.mp4", ["testsrc2=size=96x64:duration=0.4", "-c:v", "libx264", "-pix_fmt", "yuv444p"]),
        ("gray.mkv", ["testsrc2=size=96x64:duration=0.4", "-c:v", "ffv1", "-pix_fmt", "gray"]),
        ("fullrange.mp4", ["testsrc2=size=96x64:duration=0.4", "-c:v", "libx264", "-pix_fmt", "yuvj420p"]),
        ("mjpeg.avi", ["testsrc2=size=96x64:duration=0.4", "-c:v", "mjpeg", "-q:v", "3"]),
        ("vp9.webm", ["testsrc2=size=96x64:duration=0.4", "-c:v", "libvpx-vp9", "-deadline", "realtime"]),
        ("hevc.mp4", ["testsrc2=size=96x64:duration=0.4", "-c:v", "libx265", "-x265-params", "log-level=none"]),
    ])
    func oddFormatsDecodeExactly(_ name: String, _ args: [String]) throws {
        try expectSameAsFFmpeg(try Corpus.file(name, Self.src + args))
    }

    @Test func rotationMetadataIsApplied() throws {
        // FFmpeg 5.1 no longer turns `-metadata rotate=` into a display matrix, so the test
        // writes the matrix into the track header itself: 90° clockwise is
        // (a, b, c, d) = (0, 1, −1, 0) in 16.16 fixed point.
        let plain = try Corpus.file("unrotated.mp4", Self.src + ["testsrc2=size=96x64:duration=0.4", "-c:v", "libx264"])
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: plain)))
        let tkhd = try #require(bytes.indices.dropLast(4).first { Array(bytes[$0..<($0 + 4)]) == Array("tkhd".utf8) })
        let matrix: [UInt32] = [0, 0x0001_0000, 0, 0xFFFF_0000, 0, 0, 0, 0, 0x4000_0000]
        for (i, value) in matrix.enumerated() {
            for b in 0..<4 { bytes[tkhd + 44 + 4 * i + b] = UInt8((value >> (24 - 8 * UInt32(b))) & 0xFF) }
        }
        let path = Corpus.raw("rotated.mp4", bytes)
        let info = try VideoReader(path: path).info
        #expect(info.rotation == 90, "rotation \(info.rotation)")
        #expect(info.displaySize.width == 64 && info.displaySize.height == 96)
        try expectSameAsFFmpeg(path)
    }

    @Test func nonSquarePixelsWidenTheDisplay() throws {
        let path = try Corpus.file("sar.mp4", Self.src + ["testsrc2=size=96x64:duration=0.4", "-vf", "setsar=2", "-c:v", "libx264"])
        let info = try VideoReader(path: path).info
        #expect(info.sampleAspectRatio == [2, 1])
        #expect(info.displaySize.width == 192 && info.displaySize.height == 64)
    }

    @Test func a4KFrameDecodesToAClip() throws {
        let path = try Corpus.file("uhd.mp4", Self.src + ["testsrc2=size=3840x2160", "-frames:v", "2", "-c:v", "libx264", "-preset", "ultrafast"])
        let reader = try VideoReader(path: path)
        let size = SpatialTransform.resized(width: 3840, height: 2160, shortSide: 256)
        let rgb = try reader.frames([0, 1], width: size.width, height: size.height)
        #expect(size.width == 455 && rgb.bytes.count == 2 * 455 * 256 * 3)
    }

    @Test func aStartTimeFarFromZero() throws {
        let path = try Corpus.file("offset.mp4", Self.src + ["testsrc2=size=64x48:rate=25:duration=1", "-c:v", "libx264",
                                                             "-output_ts_offset", "3600"])
        let info = try VideoReader(path: path).info
        #expect(info.startTime > 3599)
        try expectSameAsFFmpeg(path)
    }
}

/// A seeded generator so the corruption is the same every run.
struct RandomNumberGeneratorWithSeed: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Fuzzer findings stay fixed")
struct FuzzRegressionTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fuzz/regressions")

    /// Each input that once crashed the shim now opens and decodes, or gives a clear error.
    @Test func crashInputsAreHandled() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.directory.path).sorted()
        #expect(!files.isEmpty)
        for name in files {
            let path = Self.directory.appendingPathComponent(name).path
            do {
                let reader = try VideoReader(path: path, timeout: 10)
                let n = reader.info.frameCount
                _ = try? reader.frames([0, n / 2, n - 1, 0], width: 24, height: 16)
            } catch let error as VideoError {
                #expect(error.description.hasPrefix(path), "\(error)")
            }
        }
    }
}

@Suite("Image enlarging")
struct EnlargeTests {
    /// A 2×2 image (and two stacked 1×1 frames) enlarged 2×: every pixel becomes a 2×2 block.
    @Test func pixelsBecomeBlocks() {
        let a: [UInt8] = [1, 2, 3], b: [UInt8] = [4, 5, 6], c: [UInt8] = [7, 8, 9], d: [UInt8] = [10, 11, 12]
        let out = ImageWriter.enlarged(a + b + c + d, width: 2, height: 2, factor: 2)
        let rowAB = a + a + b + b, rowCD = c + c + d + d
        #expect(out == rowAB + rowAB + rowCD + rowCD)
        #expect(ImageWriter.enlarged(a + b, width: 1, height: 2, factor: 3) == a + a + a + a + a + a + a + a + a + b + b + b + b + b + b + b + b + b)
        #expect(ImageWriter.enlarged(a, width: 1, height: 1, factor: 1) == a)
    }
}
