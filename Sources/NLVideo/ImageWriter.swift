import CVideoShim
import NLTensor

/// PNG and animated GIF files from RGB24 pixels, with FFmpeg's encoders.
public enum ImageWriter {
    /// Each pixel repeated `factor` times across and down (nearest neighbour), so small frames
    /// stay sharp when enlarged. `rgb` is `height` rows of `width` RGB24 pixels (stacked frames
    /// count as rows).
    public static func enlarged(_ rgb: [UInt8], width: Int, height: Int, factor: Int) -> [UInt8] {
        require(rgb.count == width * height * 3 && factor >= 1, "enlarged: \(rgb.count) bytes for \(width)×\(height) RGB24, factor \(factor)")
        guard factor > 1 else { return rgb }
        var out = [UInt8](repeating: 0, count: rgb.count * factor * factor)
        let rowBytes = width * 3 * factor
        for y in 0..<height {
            let base = y * factor * rowBytes
            for x in 0..<width {
                let src = (y * width + x) * 3
                for r in 0..<factor { let d = base + (x * factor + r) * 3; out[d] = rgb[src]; out[d + 1] = rgb[src + 1]; out[d + 2] = rgb[src + 2] }
            }
            for r in 1..<factor { out.replaceSubrange((base + r * rowBytes)..<(base + (r + 1) * rowBytes), with: out[base..<(base + rowBytes)]) }
        }
        return out
    }

    /// Writes width × height RGB24 pixels as a PNG at `path`; traps on a wrong byte count, throws `VideoError`
    /// when encoding or writing fails.
    public static func png(_ path: String, rgb: [UInt8], width: Int, height: Int) throws {
        require(rgb.count == width * height * 3, "png: \(rgb.count) bytes for \(width)×\(height) RGB24")
        var err = [CChar](repeating: 0, count: 256)
        let code = nl_write_png(path, rgb, Int32(width), Int32(height), &err, err.count)
        guard code == 0 else { throw VideoError(path: path, code: code, buffer: err) }
    }

    /// `frames` holds count × width × height × 3 bytes.
    public static func gif(_ path: String, frames: [UInt8], count: Int, width: Int, height: Int, delayMilliseconds: Int) throws {
        require(frames.count == count * width * height * 3, "gif: \(frames.count) bytes for \(count) frames of \(width)×\(height)")
        var err = [CChar](repeating: 0, count: 256)
        let code = nl_write_gif(path, frames, Int32(count), Int32(width), Int32(height), Int32(delayMilliseconds), &err, err.count)
        guard code == 0 else { throw VideoError(path: path, code: code, buffer: err) }
    }
}
