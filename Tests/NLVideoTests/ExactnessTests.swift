import Foundation
import NLVideo
import Testing

@Suite("Decoded pixels are exact")
struct ExactnessTests {
    static let videos: [(String, @Sendable () throws -> String)] = [
        ("h264 B-frames", Corpus.h264BFrames), ("open GOP", Corpus.openGOP), ("variable frame rate", Corpus.variableFrameRate),
    ]

    /// Frames fetched in a scattered order (seeking back and forth) equal the frames decoded
    /// from the start in one pass, bit for bit.
    @Test(arguments: 0..<3)
    func seekingEqualsDecodingFromTheStart(_ which: Int) throws {
        let path = try Self.videos[which].1()
        let sequential = try VideoReader(path: path)
        let n = sequential.info.frameCount
        let w = sequential.info.width, h = sequential.info.height
        let all = try sequential.frames(Array(0..<n), width: w, height: h)
        #expect(sequential.stats.redecodedFrames == 0)
        var rng = SystemRandomNumberGenerator()
        let seeker = try VideoReader(path: path)
        // Single frames in random order: each call seeks.
        for index in (0..<12).map({ _ in Int.random(in: 0..<n, using: &rng) }) + [n - 1, 0, n / 2, 1] {
            let one = try seeker.frames([index], width: w, height: h)
            let difference = byteDifference(one.bytes, all.frame(index))
            #expect(difference == nil, "\(Self.videos[which].0): frame \(index) differs after a seek: \(difference ?? "")")
        }
        #expect(seeker.stats.seeks > 0)
        #expect(seeker.stats.substitutedFrames == 0)
    }

    /// RGB at a given size equals `ffmpeg -vf scale=W:H:flags=bilinear -pix_fmt rgb24`.
    @Test(arguments: [(0, 96, 64), (0, 176, 144), (1, 161, 99), (2, 64, 48)])
    func rgbEqualsTheFFmpegCLI(_ which: Int, _ width: Int, _ height: Int) throws {
        let path = try Self.videos[which].1()
        let reader = try VideoReader(path: path)
        let ours = try reader.frames(Array(0..<reader.info.frameCount), width: width, height: height)
        let theirs = try Corpus.ffmpegFrames(path, width: width, height: height)
        let difference = byteDifference(ours.bytes, theirs)
        #expect(difference == nil, "pixels differ from ffmpeg's: \(difference ?? "")")
    }

    /// With more than one thread, frames are scaled on a scaler thread while the next ones
    /// decode; the bytes equal scaling on the caller's thread (threads: 1) over several calls,
    /// a change of output size (a new swscale context) and seeks back.
    @Test func scalerThreadEqualsScalingInline() throws {
        let path = try Corpus.h264BFrames()
        let inline = try VideoReader(path: path, threads: 1)
        let background = try VideoReader(path: path, threads: 2)
        let calls: [([Int], Int, Int)] = [([0, 1, 5, 9], 97, 61), (Array(10..<60), 97, 61), ([60, 61, 99], 64, 48), ([3, 4], 97, 61)]
        for (indices, width, height) in calls {
            let a = try inline.frames(indices, width: width, height: height)
            let b = try background.frames(indices, width: width, height: height)
            let difference = byteDifference(a.bytes, b.bytes)
            #expect(difference == nil, "frames \(indices) at \(width)×\(height) differ with a scaler thread: \(difference ?? "")")
        }
        #expect(background.stats.seeks > 0)
    }

    /// The test views decode each needed frame once.
    @Test func overlappingViewsDecodeEachFrameOnce() throws {
        let path = try Corpus.h264BFrames()
        let reader = try VideoReader(path: path)
        let views = try reader.testViews(sampler: ClipSampler(frames: 8, stride: 4), clips: 10, crops: 3, shortSide: 64, cropSize: 64)
        #expect(views.tensors.count == 30)
        #expect(views.tensors[0].shape == [8, 64, 64, 3])
        #expect(reader.stats.redecodedFrames == 0)
        #expect(reader.stats.framesDecoded <= reader.info.frameCount)
    }
}
