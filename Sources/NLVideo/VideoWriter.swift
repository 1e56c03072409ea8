import CVideoShim
import NLTensor

/// Writes generated RGB24 frames as a video file (H.264 via libx264, else MPEG-4 part 2).
public final class VideoWriter {
    public let path: String
    public let width: Int, height: Int
    private var handle: OpaquePointer?

    public init(path: String, width: Int, height: Int, fps: Int) throws {
        self.path = path
        self.width = width
        self.height = height
        var err = [CChar](repeating: 0, count: 256)
        let code = nl_writer_open(path, Int32(width), Int32(height), Int32(fps), &handle, &err, err.count)
        guard code == 0 else { throw VideoError(path: path, code: code, buffer: err) }
    }

    /// One frame: height rows of width × 3 bytes.
    public func append(_ rgb: [UInt8]) throws {
        require(rgb.count == width * height * 3, "VideoWriter: \(rgb.count) bytes for a \(width)×\(height) RGB24 frame")
        var err = [CChar](repeating: 0, count: 256)
        let code = nl_writer_add(handle, rgb, &err, err.count)
        guard code == 0 else { throw VideoError(path: path, code: code, buffer: err) }
    }

    public func finish() throws {
        var err = [CChar](repeating: 0, count: 256)
        let code = nl_writer_close(handle, &err, err.count)
        handle = nil
        guard code == 0 else { throw VideoError(path: path, code: code, buffer: err) }
    }

    deinit { if handle != nil { nl_writer_close(handle, nil, 0) } }
}
