import CVideoShim
import NLTensor

/// Writes generated RGB24 frames as a video file (H.264 via libx264, else MPEG-4 part 2).
public final class VideoWriter {
    /// The file being written; its extension picks the container (.mp4, .avi, …).
    public let path: String
    /// Frame size in pixels; every appended frame must have it.
    public let width: Int, height: Int
    private var handle: OpaquePointer?

    /// Opens `path` for frames of width × height at `fps` frames per second. Throws `VideoError` when no
    /// encoder is available or the file cannot be created.
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

    /// Flushes the encoder and closes the file; call once after the last frame. Throws `VideoError` on a failed write.
    public func finish() throws {
        var err = [CChar](repeating: 0, count: 256)
        let code = nl_writer_close(handle, &err, err.count)
        handle = nil
        guard code == 0 else { throw VideoError(path: path, code: code, buffer: err) }
    }

    deinit { if handle != nil { nl_writer_close(handle, nil, 0) } }
}
