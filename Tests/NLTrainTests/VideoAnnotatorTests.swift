import Foundation
import NLTrain
import NLVideo
import TestSupport
import Testing

@Suite("Annotated video")
struct VideoAnnotatorTests {
    /// The annotated video keeps the input's frame count and size; the label box and the
    /// timeline bar are drawn, the rest of the picture is the input's.
    @Test func annotatedVideoKeepsFramesAndSize() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-annotate-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let input = dir.appendingPathComponent("in.mp4").path, output = dir.appendingPathComponent("out.mp4").path
        try ExternalTool.lavfiClip("testsrc2=size=320x240:rate=10", seconds: 2, to: input)
        let top = [RankedClass(rank: 1, index: 1, label: "colours_match", probability: 0.93),
                   RankedClass(rank: 2, index: 0, label: "colours_differ", probability: 0.05)]
        let timeline = [0.0, 1.0].map {
            VideoClassifier.TimelineEntry(time: $0, frames: [],
                                          top: [RankedClass(rank: 1, index: Int($0), label: "c\(Int($0))", probability: 0.9)])
        }
        try VideoAnnotator.write(video: input, to: output, top: top, timeline: timeline)
        let a = try VideoReader(path: input), b = try VideoReader(path: output)
        #expect(b.info.frameCount == a.info.frameCount && b.info.width == 320 && b.info.height == 240)
        let original = try a.frames([5], width: 320, height: 240), annotated = try b.frames([5], width: 320, height: 240)
        func meanDifference(x0: Int, y0: Int, x1: Int, y1: Int) -> Double {
            var sum = 0, n = 0
            for y in y0..<y1 { for x in x0..<x1 { for c in 0..<3 {
                let i = (y * 320 + x) * 3 + c
                sum += abs(Int(original.bytes[i]) - Int(annotated.bytes[i])); n += 1
            } } }
            return Double(sum) / Double(n)
        }
        #expect(meanDifference(x0: 0, y0: 0, x1: 100, y1: 30) > 20, "the label box is drawn")
        #expect(meanDifference(x0: 0, y0: 234, x1: 320, y1: 240) > 20, "the timeline bar is drawn")
        #expect(meanDifference(x0: 120, y0: 60, x1: 300, y1: 180) < 6, "the picture is the input's (up to re-encoding)")
    }
}
