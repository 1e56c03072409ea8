import Foundation

/// A monospaced bitmap font for labels drawn on frames: printable ASCII in DejaVu Sans Mono
/// 14 px, 8 × 16 pixels a character, coverage 0…255 (anti-aliased), scaled by whole
/// multiples for large frames. Other characters are drawn as '?'.
public enum BitmapFont {
    /// Size in pixels of one character cell at scale 1.
    public static let cellWidth = 8, cellHeight = 16

    /// 95 glyphs × 128 coverage bytes.
    static let glyphs: [UInt8] = {
        let bytes = [UInt8](Data(base64Encoded: String(glyphData.filter { !$0.isWhitespace })) ?? Data())
        precondition(bytes.count == 95 * 128, "BitmapFontData.swift is damaged: regenerate it with Scripts/make_bitmap_font.sh")
        return bytes
    }()

    /// Coverage of `character` at (x, y) in its cell, 0…255.
    static func coverage(_ character: Character, x: Int, y: Int) -> UInt8 {
        var code = Int(character.asciiValue ?? 63)
        if code < 32 || code > 126 { code = 63 }
        return glyphs[(code - 32) * 128 + y * cellWidth + x]
    }
}

/// Drawing on one RGB24 frame (rows of width × 3 bytes): filled boxes and text, blended.
public struct FrameCanvas {
    /// Frame size in pixels.
    public let width: Int, height: Int
    /// RGB24 bytes, `height` rows of `width` × 3; drawing changes them in place.
    public var pixels: [UInt8]

    /// A canvas on a frame's bytes; traps unless `pixels.count` is width × height × 3.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "FrameCanvas: \(pixels.count) bytes for \(width)×\(height) RGB24")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// Blends `color` over the pixel at (x, y) with opacity `alpha` (0…255); outside is ignored.
    mutating func blend(_ x: Int, _ y: Int, _ color: (UInt8, UInt8, UInt8), alpha: Int) {
        guard x >= 0, y >= 0, x < width, y < height, alpha > 0 else { return }
        let i = (y * width + x) * 3
        for (c, value) in [color.0, color.1, color.2].enumerated() {
            pixels[i + c] = UInt8((Int(pixels[i + c]) * (255 - alpha) + Int(value) * alpha + 127) / 255)
        }
    }

    /// A filled rectangle, clipped to the frame.
    public mutating func fill(x: Int, y: Int, width w: Int, height h: Int, color: (UInt8, UInt8, UInt8), alpha: Int = 255) {
        let (top, bottom, left, right) = (max(y, 0), min(y + h, height), max(x, 0), min(x + w, width))
        guard top < bottom, left < right else { return }
        for yy in top..<bottom { for xx in left..<right { blend(xx, yy, color, alpha: alpha) } }
    }

    /// `text` with its top-left corner at (x, y), each font pixel drawn `scale` × `scale`.
    /// Returns the width drawn.
    @discardableResult
    public mutating func text(_ text: String, x: Int, y: Int, scale: Int = 1, color: (UInt8, UInt8, UInt8) = (255, 255, 255)) -> Int {
        for (n, character) in text.enumerated() {
            let left = x + n * BitmapFont.cellWidth * scale
            for gy in 0..<BitmapFont.cellHeight {
                for gx in 0..<BitmapFont.cellWidth {
                    let a = Int(BitmapFont.coverage(character, x: gx, y: gy))
                    guard a > 0 else { continue }
                    for sy in 0..<scale { for sx in 0..<scale { blend(left + gx * scale + sx, y + gy * scale + sy, color, alpha: a) } }
                }
            }
        }
        return text.count * BitmapFont.cellWidth * scale
    }

    /// The width `text` takes at `scale`.
    public static func textWidth(_ text: String, scale: Int = 1) -> Int { text.count * BitmapFont.cellWidth * scale }
}
