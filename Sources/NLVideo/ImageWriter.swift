import CVideoShim
import NLTensor

/// PNG and animated GIF files from RGB24 pixels, with FFmpeg's encoders.
public enum ImageWriter {
    public static func png(_ path: String, rgb: [UInt8], width: Int, height: Int) throws {
        require(rgb.count == width * height * 3, "png: \(rgb.count) bytes for \(width)×\(height) RGB24")
        var err = [CChar](repeating: 0, count: 256)
        let code = nl_write_png(path, rgb, Int32(width), Int32(height), &err, err.count)
        guard code == 0 else { throw VideoError(path: path, code: code, message: String(cString: err)) }
    }

    /// `frames` holds count × width × height × 3 bytes.
    public static func gif(_ path: String, frames: [UInt8], count: Int, width: Int, height: Int, delayMilliseconds: Int) throws {
        require(frames.count == count * width * height * 3, "gif: \(frames.count) bytes for \(count) frames of \(width)×\(height)")
        var err = [CChar](repeating: 0, count: 256)
        let code = nl_write_gif(path, frames, Int32(count), Int32(width), Int32(height), Int32(delayMilliseconds), &err, err.count)
        guard code == 0 else { throw VideoError(path: path, code: code, message: String(cString: err)) }
    }
}
