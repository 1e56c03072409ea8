import CVideoShim
import Foundation

/// A video file that could not be read, with the file and the cause.
public struct VideoError: Error, CustomStringConvertible, Equatable {
    /// What went wrong: open (the file or URL), noVideo (no video stream), codec (no decoder), decode,
    /// argument (a bad frame index or time range), memory, timeout (see `VideoReader(timeout:)`), tooLarge.
    public enum Kind: String, Sendable, Codable { case open, noVideo, codec, decode, argument, memory, timeout, tooLarge }
    /// The file, folder or URL that was being read.
    public let path: String
    /// The kind of failure, for callers that handle some kinds differently.
    public let kind: Kind
    /// The reason, in words (FFmpeg's or the shim's).
    public let message: String
    /// "path: message".
    public var description: String { "\(path): \(message)" }

    init(path: String, kind: Kind, message: String) {
        self.path = path
        self.kind = kind
        self.message = message
    }

    /// An error the shim reported: its code and the message it wrote into `buffer` (NUL-ended).
    init(path: String, code: Int32, buffer: [CChar]) {
        self.init(path: path, code: code, message: String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    init(path: String, code: Int32, message: String) {
        self.path = path
        self.message = message
        switch code {
        case Int32(NL_ERR_NO_VIDEO): kind = .noVideo
        case Int32(NL_ERR_CODEC): kind = .codec
        case Int32(NL_ERR_DECODE): kind = .decode
        case Int32(NL_ERR_ARGUMENT): kind = .argument
        case Int32(NL_ERR_MEMORY): kind = .memory
        case Int32(NL_ERR_TIMEOUT): kind = .timeout
        case Int32(NL_ERR_TOO_LARGE): kind = .tooLarge
        default: kind = .open
        }
    }
}

/// What the shim found in a file.
public struct VideoInfo: Sendable, Codable, Equatable {
    /// The file, folder or URL as opened.
    public var path: String
    /// The container format's FFmpeg name (e.g. "mov,mp4,m4a,3gp,3g2,mj2", "avi").
    public var container: String
    /// The codec's FFmpeg name (e.g. "h264").
    public var codec: String
    /// The decoded pixel format's FFmpeg name (e.g. "yuv420p").
    public var pixelFormat: String
    /// Coded frame size in pixels, before the sample aspect ratio and rotation (see `displaySize`).
    public var width: Int, height: Int
    /// Display rotation in degrees clockwise: 0, 90, 180 or 270.
    public var rotation: Int
    /// Sample (pixel) aspect ratio as [numerator, denominator]; [1, 1] for square pixels.
    public var sampleAspectRatio: [Int]
    /// Frames per second (0 when the container does not say; readers then assume 25).
    public var frameRate: Double
    /// Seconds of video (the stream's, or the time range's when one was given).
    public var duration: Double
    /// Seconds of the first frame's timestamp.
    public var startTime: Double
    /// Frames the container's header claims (0: it does not say).
    public var headerFrameCount: Int
    /// Frames actually present, counted from the packets.
    public var frameCount: Int
    /// Keyframes among the counted packets: the points a seek can start decoding from.
    public var keyframeCount: Int
    /// Index of the chosen video stream among all the file's streams.
    public var streamIndex: Int
    /// Video streams in the file, cover art excluded.
    public var videoStreams: Int
    /// Bits per component of the decoded pixels (8, 10…).
    public var bitDepth: Int
    /// True for full-range (JPEG) YUV, false for limited (TV) range.
    public var fullRange: Bool
    /// Frames are numbered in the order the decoder gives them, because the container's
    /// timestamps cannot identify them: missing (MPEG-4 Part 2 with B-frames in AVI, raw
    /// streams), restarting part-way, or repeated.
    public var numberedInDecoderOrder: Bool
    /// Opened to be read in order once (a live source): frameCount and keyframeCount are 0.
    public var live: Bool

    /// Width and height as shown: non-square pixels stretched, rotation applied.
    public var displaySize: (width: Int, height: Int) {
        let sar = Double(sampleAspectRatio[0]) / Double(max(sampleAspectRatio[1], 1))
        var w = Int((Double(width) * sar).rounded()), h = height
        if sar < 1 { w = width; h = Int((Double(height) / sar).rounded()) }
        return rotation % 180 == 90 ? (h, w) : (w, h)
    }
}

/// Frames decoded to RGB24, frame after frame, each `height` rows of `width`×3 bytes.
public struct RGBFrames: Sendable {
    /// Frame size in pixels.
    public let width: Int, height: Int
    /// The video's index of each frame, in the order they are stored.
    public let indices: [Int]
    /// RGB24 bytes, `indices.count` frames of `frameBytes` each.
    public var bytes: [UInt8]
    /// Bytes of one frame: width × height × 3.
    public var frameBytes: Int { width * height * 3 }

    /// Frames from bytes already laid out as described above; `bytes.count` must be `indices.count × frameBytes`.
    public init(width: Int, height: Int, indices: [Int], bytes: [UInt8]) {
        self.width = width
        self.height = height
        self.indices = indices
        self.bytes = bytes
    }

    /// The RGB24 bytes of the i-th stored frame (a position in `indices`, not a video frame index).
    public func frame(_ i: Int) -> ArraySlice<UInt8> { bytes[(i * frameBytes)..<((i + 1) * frameBytes)] }
}

/// Decoding counters, e.g. to check that no frame was decoded twice.
public struct DecodeStats: Sendable, Codable {
    /// Frames the decoder produced, every decode counted (frames on the way to a wanted one included).
    public var framesDecoded: Int
    /// Seeks to a keyframe made so far.
    public var seeks: Int
    /// Packets the decoder rejected and skipped.
    public var corruptPackets: Int
    /// Frames output with damaged parts concealed by the decoder.
    public var concealedFrames: Int
    /// Requested frames that could not be decoded, replaced by the nearest decoded one
    /// (more than half replaced is an error).
    public var substitutedFrames: Int
    /// Frames decoded more than once (a seek went back over them).
    public var redecodedFrames: Int
}

/// One open video. Reading frames by index seeks to the keyframe before each wanted frame
/// and decodes forward; frames are identified by timestamp (or, where the timestamps cannot
/// do it, by decoder order), so seeking gives the same pixels as decoding from the start.
/// Not for use from two threads at once.
public final class VideoReader {
    /// The path it was opened with.
    public let path: String
    private let opened: OpenedVideo
    /// What the shim found; with a time range, frameCount and duration are the range's.
    public let info: VideoInfo
    /// Index in the whole video of this reader's frame 0 (non-zero with a time range).
    private let firstFrame: Int
    private var handle: OpaquePointer { opened.handle }

    /// - Parameters:
    ///   - path: a file, a folder of numbered images, `-` (standard input), a FIFO or a URL
    ///     FFmpeg reads (see `VideoSource`).
    ///   - threads: decoder threads (frame-threaded decoding); 0 lets FFmpeg choose.
    ///   - timeout: seconds any one open or decode call may take before it gives up.
    public init(path: String, threads: Int = 2, timeout: Double = 120, options: VideoOpenOptions = .init()) throws {
        self.path = path
        opened = try OpenedVideo(path: path, options: options, threads: threads, timeout: timeout, access: .indexed)
        var info = opened.info
        var first = 0
        if let range = options.timeRange {
            let fps = info.frameRate > 0 ? info.frameRate : 25
            first = max(0, Int((range.lowerBound * fps).rounded(.up)))
            let end = min(info.frameCount, Int((range.upperBound * fps).rounded(.up)))
            guard range.lowerBound >= 0, first < end else {
                throw VideoError(path: path, kind: .argument,
                                 message: String(format: "the time range %.3f–%.3f s holds no frame (the video has %d frames at %.3f fps)",
                                                 range.lowerBound, range.upperBound, info.frameCount, fps))
            }
            info.frameCount = end - first
            info.duration = Double(end - first) / fps
        }
        self.info = info
        firstFrame = first
    }

    /// The decoding counters so far.
    public var stats: DecodeStats {
        var s = nl_video_stats()
        nl_video_get_stats(handle, &s)
        return DecodeStats(framesDecoded: Int(s.frames_decoded), seeks: Int(s.seeks),
                           corruptPackets: Int(s.corrupt_packets), concealedFrames: Int(s.concealed), substitutedFrames: Int(s.substituted),
                           redecodedFrames: Int(s.redecoded))
    }

    /// The frames with these indices (any order, repeats allowed) as RGB24 at width×height
    /// in display orientation. Each distinct frame is decoded once.
    public func frames(_ indices: [Int], width: Int, height: Int) throws -> RGBFrames {
        let distinct = Array(Set(indices)).sorted()
        if let bad = distinct.first(where: { $0 < 0 || $0 >= info.frameCount }) {
            throw VideoError(path: path, code: Int32(NL_ERR_ARGUMENT),
                             message: "frame \(bad) is outside the video (frames 0…\(info.frameCount - 1))")
        }
        let frameBytes = width * height * 3
        var err = [CChar](repeating: 0, count: 512)
        let wanted = distinct.map { Int64($0 + firstFrame) }
        var code: Int32 = 0
        // Not zero-filled first: the shim writes every byte, or fails and the buffer is dropped.
        let decoded = [UInt8](unsafeUninitializedCapacity: distinct.count * frameBytes) { buffer, initialized in
            code = nl_video_decode(handle, wanted, Int32(wanted.count), Int32(width), Int32(height), buffer.baseAddress, &err, err.count)
            initialized = buffer.count
        }
        guard code == 0 else { throw VideoError(path: path, code: code, buffer: err) }
        if distinct == indices { return RGBFrames(width: width, height: height, indices: indices, bytes: decoded) }
        let position = Dictionary(uniqueKeysWithValues: distinct.enumerated().map { ($1, $0) })
        var out = [UInt8](repeating: 0, count: indices.count * frameBytes)
        for (i, index) in indices.enumerated() {
            let src = position[index]! * frameBytes
            out.replaceSubrange((i * frameBytes)..<((i + 1) * frameBytes), with: decoded[src..<(src + frameBytes)])
        }
        return RGBFrames(width: width, height: height, indices: indices, bytes: out)
    }
}

extension VideoInfo {
    init(_ raw: nl_video_info, path: String) {
        func text<T>(_ tuple: T) -> String {
            withUnsafeBytes(of: tuple) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        self.path = path
        container = text(raw.container)
        codec = text(raw.codec)
        pixelFormat = text(raw.pixel_format)
        width = Int(raw.width); height = Int(raw.height)
        rotation = Int(raw.rotation)
        sampleAspectRatio = [Int(raw.sar_num), Int(raw.sar_den)]
        frameRate = raw.frame_rate
        duration = raw.duration
        startTime = raw.start_time
        headerFrameCount = Int(raw.header_frames)
        frameCount = Int(raw.frame_count)
        keyframeCount = Int(raw.keyframe_count)
        streamIndex = Int(raw.stream_index)
        videoStreams = Int(raw.video_streams)
        bitDepth = Int(raw.bit_depth)
        fullRange = raw.full_range != 0
        numberedInDecoderOrder = raw.ordinal != 0
        live = raw.sequential != 0
    }
}
