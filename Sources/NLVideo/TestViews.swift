import NLTensor

/// The views of the test protocol for one video: clips × crops, each [T, size, size, 3].
public struct TestViews: Sendable {
    /// View v = clip (v / crops), crop (v % crops).
    public let tensors: [Tensor]
    /// The frame indices of each clip (T each), in clip order.
    public let clips: [[Int]]
    /// The crop boxes on the decoded frames, in crop order (left/top, centre, right/bottom for 3).
    public let crops: [CropBox]
    /// The frame size the video was decoded to (shorter side = the requested short side).
    public let frameSize: (width: Int, height: Int)
}

extension VideoReader {
    /// Decodes every frame the views need once, at the short-side size, and cuts the views:
    /// `clips` clips from `sampler` × `crops` crops of `cropSize` (docs/protocol.md#testing: 10 × 3, 256, 256).
    public func testViews(sampler: ClipSampler, clips: Int = 10, crops: Int = 3, shortSide: Int = 256,
                          cropSize: Int = 256, normalization: Normalization = .official) throws -> TestViews {
        let display = info.displaySize
        let size = SpatialTransform.resized(width: display.width, height: display.height, shortSide: shortSide)
        let clipIndices = sampler.testClips(frameCount: info.frameCount, clips: clips)
        let needed = Array(Set(clipIndices.joined())).sorted()
        let rgb = try frames(needed, width: size.width, height: size.height)
        let position = Dictionary(uniqueKeysWithValues: needed.enumerated().map { ($1, $0) })
        let boxes = SpatialTransform.testCrops(width: size.width, height: size.height, size: cropSize, count: crops)
        var tensors: [Tensor] = []
        for clip in clipIndices {
            let framesInRGB = clip.map { position[$0]! }
            for box in boxes {
                tensors.append(SpatialTransform.clipTensor(rgb, frames: framesInRGB, crop: box, normalization: normalization))
            }
        }
        return TestViews(tensors: tensors, clips: clipIndices, crops: boxes, frameSize: size)
    }
}
