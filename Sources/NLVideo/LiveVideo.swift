import CVideoShim
import Foundation

/// A video read once, in order, as its frames come: standard input, a FIFO, a network stream
/// (http, tcp, udp, rtsp, …) or a camera. Nothing is indexed or sought, so it suits sources
/// without an end. `cancel()` (from any thread, e.g. on SIGINT) makes a waiting `next` end.
public final class LiveVideo: @unchecked Sendable {
    /// The source as given: a file, `-`, a FIFO, a URL or a camera device.
    public let path: String
    private let opened: OpenedVideo
    /// What the shim found; frameCount and keyframeCount are 0 (`live` is true).
    public var info: VideoInfo { opened.info }
    private var handle: OpaquePointer { opened.handle }

    /// - Parameter timeout: seconds the source may stay silent before `next` fails.
    public init(path: String, threads: Int = 2, timeout: Double = 10, options: VideoOpenOptions = .init()) throws {
        self.path = path
        opened = try OpenedVideo(path: path, options: options, threads: threads, timeout: timeout, access: .sequential)
    }

    /// Whether the source plays at its own pace (a stream, camera, pipe); a file or frames
    /// folder is read as fast as it is asked for.
    public var isLive: Bool { opened.source.isLive }

    /// The next frame as RGB24 of width × height (display orientation) and its time in seconds
    /// since the first frame; nil at the end of the stream or after `cancel()`.
    public func next(width: Int, height: Int) throws -> (frame: [UInt8], seconds: Double)? {
        var err = [CChar](repeating: 0, count: 512)
        var seconds = 0.0
        var code: Int32 = 0
        let frame = [UInt8](unsafeUninitializedCapacity: width * height * 3) { buffer, initialized in
            code = nl_video_next(handle, Int32(width), Int32(height), buffer.baseAddress, &seconds, &err, err.count)
            initialized = code == 1 ? buffer.count : 0
        }
        if code < 0 { throw VideoError(path: path, code: code, buffer: err) }
        return code == 1 ? (frame, seconds) : nil
    }

    /// Makes a waiting or later `next` return nil (end of stream); callable from any thread, e.g. on SIGINT.
    public func cancel() { nl_video_cancel(handle) }
}
