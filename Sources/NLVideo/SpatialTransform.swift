import Dispatch
import NLTensor


/// Per-channel normalisation of RGB values in 0…255: (x − mean) / std.
public struct Normalization: Sendable, Codable, Equatable {
    /// Per-channel means [R, G, B] on the 0…255 scale.
    public var mean: [Float]
    /// Per-channel standard deviations [R, G, B] on the 0…255 scale, each positive.
    public var std: [Float]

    /// A normalisation; traps unless there are 3 means and 3 positive stds.
    public init(mean: [Float], std: [Float]) {
        require(mean.count == 3 && std.count == 3 && std.allSatisfy { $0 > 0 },
                     "Normalization needs 3 means and 3 positive stds, got \(mean) / \(std)")
        self.mean = mean
        self.std = std
    }

    /// The official code's scalar normalisation (docs/protocol.md#input-normalisation): (x − 114.75) / 57.375,
    /// i.e. SlowFast's mean 0.45, std 0.225 on 0…1.
    public static let official = Normalization(mean: [114.75, 114.75, 114.75], std: [57.375, 57.375, 57.375])
    /// ImageNet statistics on 0…255, as mmaction2 uses.
    public static let imagenet = Normalization(mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375])
}

/// A rectangle in a frame: origin and size in pixels.
public struct CropBox: Sendable, Equatable, Codable {
    /// Left and top edge in pixels, then width and height.
    public var x: Int, y: Int, width: Int, height: Int
    /// A box from its origin and size.
    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }
}

/// Resizing, cropping and flipping of decoded frames, and turning them into normalised clip tensors
/// [T, H, W, 3] (docs/protocol.md#testing, #training).
public enum SpatialTransform {
    /// The size with the shorter side scaled to `shortSide`, keeping the aspect ratio.
    public static func resized(width: Int, height: Int, shortSide: Int) -> (width: Int, height: Int) {
        if width <= height {
            return (shortSide, max(shortSide, Int((Double(height) * Double(shortSide) / Double(width)).rounded())))
        }
        return (max(shortSide, Int((Double(width) * Double(shortSide) / Double(height)).rounded())), shortSide)
    }

    /// The official test's three crops (docs/protocol.md#testing): size×size at offsets 0, (L−size)/2 and
    /// 2·((L−size)/2) along the longer side L, centred on the shorter side.
    /// One crop is the centre one.
    public static func testCrops(width: Int, height: Int, size: Int, count: Int) -> [CropBox] {
        let alongWidth = width >= height
        let long = alongWidth ? width : height, short = alongWidth ? height : width
        let step = max(long - size, 0) / 2
        let across = max(short - size, 0) / 2
        let offsets = count == 1 ? [step] : (0..<count).map { i in count == 3 ? i * step : max(long - size, 0) * i / max(count - 1, 1) }
        return offsets.map { o in
            alongWidth ? CropBox(x: o, y: across, width: min(size, width), height: min(size, height))
                       : CropBox(x: across, y: o, width: min(size, width), height: min(size, height))
        }
    }

    /// A uniformly random size×size crop.
    public static func randomCrop(width: Int, height: Int, size: Int, using rng: inout RandomSource) -> CropBox {
        let x = Int(rng.next() % UInt64(max(width - size, 0) + 1))
        let y = Int(rng.next() % UInt64(max(height - size, 0) + 1))
        return CropBox(x: x, y: y, width: min(size, width), height: min(size, height))
    }

    /// The chosen frames cropped, optionally flipped left–right, normalised, as a Float32
    /// tensor [T, h, w, 3]. `frames` selects which of `rgb`'s frames, in order.
    public static func clipTensor(_ rgb: RGBFrames, frames: [Int], crop: CropBox, flip: Bool = false,
                                  normalization: Normalization = .official) -> Tensor {
        require(crop.x >= 0 && crop.y >= 0 && crop.x + crop.width <= rgb.width && crop.y + crop.height <= rgb.height,
                     "crop \(crop) does not fit frames of \(rgb.width)×\(rgb.height)")
        let out = Tensor(uninitialized: [frames.count, crop.height, crop.width, 3])
        // One table per channel: 256 possible bytes → normalised value.
        var table = [Float](repeating: 0, count: 3 * 256)
        for c in 0..<3 { for v in 0..<256 { table[c * 256 + v] = (Float(v) - normalization.mean[c]) / normalization.std[c] } }
        let rowsPerFrame = crop.height
        out.withUnsafeBufferPointer { dstBuffer in
            let dst = SharedPointer(UnsafeMutablePointer(mutating: dstBuffer.baseAddress!))
            rgb.bytes.withUnsafeBufferPointer { srcBuffer in
                let src = SharedPointer(UnsafeMutablePointer(mutating: srcBuffer.baseAddress!))
                table.withUnsafeBufferPointer { lutBuffer in
                    let lut = SharedPointer(UnsafeMutablePointer(mutating: lutBuffer.baseAddress!))
                    DispatchQueue.concurrentPerform(iterations: frames.count * rowsPerFrame) { job in
                        let t = job / rowsPerFrame, y = job % rowsPerFrame
                        let row = src.base + frames[t] * rgb.frameBytes + ((crop.y + y) * rgb.width + crop.x) * 3
                        let outRow = dst.base + ((t * crop.height + y) * crop.width) * 3
                        for x in 0..<crop.width {
                            let s = row + (flip ? crop.width - 1 - x : x) * 3, o = outRow + x * 3
                            o[0] = lut.base[Int(s[0])]
                            o[1] = lut.base[256 + Int(s[1])]
                            o[2] = lut.base[512 + Int(s[2])]
                        }
                    }
                }
            }
        }
        return out
    }
}
