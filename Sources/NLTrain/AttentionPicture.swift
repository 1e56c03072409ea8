import NLModels
import NLTensor
import NLVideo

/// The pictures of where a non-local block looks (paper Fig. 1 and 3), as `nlnet attention`
/// draws them: pure functions from a clip and an `AttentionMap` to RGB bytes, for an app to
/// write with `ImageWriter` or show as it likes.
public enum AttentionPicture {
    /// The `count` query positions whose largest attention weight is highest.
    public static func concentrated(_ map: AttentionMap, count: Int) -> [(Int, Int, Int)] {
        var scored: [((Int, Int, Int), Float)] = []
        for t in 0..<map.grid[0] { for y in 0..<map.grid[1] { for x in 0..<map.grid[2] {
            scored.append(((t, y, x), map.keys(t: t, y: y, x: x).map(\.weight).max() ?? 0))
        } } }
        return scored.sorted { $0.1 > $1.1 }.prefix(count).map(\.0)
    }

    /// Normalised clip → RGB bytes.
    public static func pixels(_ clip: Tensor, normalization: Normalization) -> [UInt8] {
        let v = clip.scalars
        return v.indices.map { i in UInt8(max(0, min(255, (v[i] * normalization.std[i % 3] + normalization.mean[i % 3]).rounded()))) }
    }

    /// Frames side by side with a red heat map of the weights over each frame, the top keys
    /// boxed in red/yellow (stronger = brighter), the query boxed in green.
    public static func composite(_ rgb: [UInt8], frames: Int, size: Int, map: AttentionMap, query: (Int, Int, Int), keys: [AttentionMap.Key],
                   best: [AttentionMap.Key], cellQ: Double, cellK: Double, framesPerSlot: Double) -> (strip: [UInt8], width: Int, animation: [UInt8]) {
        let maxWeight = max(keys.map(\.weight).max() ?? 1, 1e-12)
        var heat = [Float](repeating: 0, count: frames * size * size)
        for k in keys {
            let (y0, x0) = (Int(Double(k.y) * cellK), Int(Double(k.x) * cellK))
            for f in Int(Double(k.t) * framesPerSlot)..<min(frames, Int(Double(k.t + 1) * framesPerSlot)) {
                for y in y0..<min(size, Int(Double(k.y + 1) * cellK)) { for x in x0..<min(size, Int(Double(k.x + 1) * cellK)) {
                    heat[(f * size + y) * size + x] = k.weight / maxWeight
                } }
            }
        }
        var frameImages = [UInt8](repeating: 0, count: frames * size * size * 3)
        for f in 0..<frames { for p in 0..<(size * size) {
            let a = 0.6 * heat[f * size * size + p], i = (f * size * size + p) * 3
            frameImages[i] = UInt8(Float(rgb[i]) * (1 - a) + 255 * a)
            frameImages[i + 1] = UInt8(Float(rgb[i + 1]) * (1 - a))
            frameImages[i + 2] = UInt8(Float(rgb[i + 2]) * (1 - a))
        } }
        func box(_ f: Int, _ y0: Int, _ x0: Int, _ side: Int, _ color: (UInt8, UInt8, UInt8)) {
            for d in 0..<side {
                for (y, x) in [(y0, x0 + d), (y0 + side - 1, x0 + d), (y0 + d, x0), (y0 + d, x0 + side - 1)] where y >= 0 && y < size && x >= 0 && x < size {
                    let i = ((f * size + y) * size + x) * 3
                    (frameImages[i], frameImages[i + 1], frameImages[i + 2]) = color
                }
            }
        }
        for k in best {
            let strength = UInt8(128 + 127 * k.weight / maxWeight)
            for f in Int(Double(k.t) * framesPerSlot)..<min(frames, Int(Double(k.t + 1) * framesPerSlot)) {
                box(f, Int(Double(k.y) * cellK), Int(Double(k.x) * cellK), max(2, Int(cellK)), (255, strength, 0))
            }
        }
        for f in Int(Double(query.0) * framesPerSlot)..<min(frames, Int(Double(query.0 + 1) * framesPerSlot)) {
            box(f, Int(Double(query.1) * cellQ), Int(Double(query.2) * cellQ), max(2, Int(cellQ)), (0, 255, 0))
        }
        // The strip: frames left to right.
        let width = frames * size
        var strip = [UInt8](repeating: 0, count: width * size * 3)
        for f in 0..<frames { for y in 0..<size {
            let src = ((f * size + y) * size) * 3, dst = (y * width + f * size) * 3
            strip.replaceSubrange(dst..<(dst + size * 3), with: frameImages[src..<(src + size * 3)])
        } }
        return (strip, width, frameImages)
    }
}
