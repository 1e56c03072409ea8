import NLTensor

/// What happens to frame indices past the end of a short video.
public enum FrameBoundary: String, Sendable, Codable, CaseIterable {
    /// index mod N, as the official Caffe2 code (docs/protocol.md#testing).
    case wrap
    /// the last frame repeats, as SlowFast does.
    case clamp
}

/// Chooses which frames form a clip: T frames, `stride` apart.
public struct ClipSampler: Sendable, Equatable {
    /// Frames T per clip (at least 1).
    public var frames: Int
    /// Video frames between two sampled frames (at least 1): 8 for 8×8 clips, 2 for 32×2.
    public var stride: Int
    /// What indices past the video's ends become: wrapped mod N (official) or clamped.
    public var boundary: FrameBoundary

    /// A sampler; `frames` and `stride` below 1 are raised to 1.
    public init(frames: Int, stride: Int, boundary: FrameBoundary = .wrap) {
        self.frames = max(frames, 1)
        self.stride = max(stride, 1)
        self.boundary = boundary
    }

    /// Frames spanned by one clip.
    public var span: Int { (frames - 1) * stride + 1 }

    /// The T frame indices from `start` at `stride` apart, each folded into 0..<n by `boundary`
    /// (a negative start is allowed). Requires n > 0.
    public func clip(startingAt start: Int, frameCount n: Int) -> [Int] {
        (0..<frames).map { k in
            let i = start + k * stride
            switch boundary {
            case .wrap: return ((i % n) + n) % n
            case .clamp: return min(max(i, 0), n - 1)
            }
        }
    }

    /// `clips` test clips evenly spaced over the video: clip i starts at ⌊N/clips · i⌋
    /// (the official test protocol, docs/protocol.md#testing).
    public func testClips(frameCount n: Int, clips: Int) -> [[Int]] {
        require(n > 0, "testClips: the video has no frames")
        return (0..<max(clips, 1)).map { i in
            clip(startingAt: Int(Double(n) / Double(max(clips, 1)) * Double(i)), frameCount: n)
        }
    }

    /// A random training clip: start uniform in 0...max(0, N − T·stride).
    public func trainingClip(frameCount n: Int, using rng: inout RandomSource) -> [Int] {
        require(n > 0, "trainingClip: the video has no frames")
        let last = max(0, n - frames * stride)
        return clip(startingAt: Int(rng.next() % UInt64(last + 1)), frameCount: n)
    }
}
