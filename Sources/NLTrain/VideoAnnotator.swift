import Foundation
import NLVideo

/// Draws a classifier's answer on its video: the top classes with their probabilities in a
/// box at the top left of every frame, and along the bottom a timeline bar of the sliding-window
/// predictions (one colour per top-1 class, a marker at the current frame, the window's label
/// above it). The output has the input's frames and display size; H.264 through FFmpeg.
public enum VideoAnnotator {
    /// Distinct colours for classes, cycled.
    static let palette: [(UInt8, UInt8, UInt8)] = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
                                                   (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)]

    /// Decodes the video at `path` and writes it to `output` with `top` in a box and `timeline` as a bar
    /// (see above). Throws `VideoError` when the input cannot be read or the output written.
    public static func write(video path: String, input: VideoOpenOptions = .init(), to output: String,
                             top: [RankedClass], timeline: [VideoClassifier.TimelineEntry]) throws {
        let reader = try VideoReader(path: path, options: input)
        let info = reader.info
        let (width, height) = info.displaySize
        let fps = info.frameRate > 0 ? info.frameRate : 25
        let writer = try VideoWriter(path: output, width: width, height: height, fps: max(1, Int(fps.rounded())))
        let scale = max(1, height / 240)
        let lines = top.prefix(3).map { String(format: "%@ %.3f", $0.label, $0.probability) }
        let boxWidth = (lines.map { FrameCanvas.textWidth($0, scale: scale) }.max() ?? 0) + 8 * scale
        let barHeight = max(6, height / 30)
        let duration = Double(info.frameCount) / fps
        let chunk = 16
        for start in stride(from: 0, to: info.frameCount, by: chunk) {
            let indices = Array(start..<min(start + chunk, info.frameCount))
            let frames = try reader.frames(indices, width: width, height: height)
            for (n, index) in indices.enumerated() {
                var canvas = FrameCanvas(width: width, height: height, pixels: Array(frames.frame(n)))
                canvas.fill(x: 0, y: 0, width: boxWidth, height: (lines.count * BitmapFont.cellHeight + 8) * scale, color: (0, 0, 0), alpha: 160)
                for (k, line) in lines.enumerated() {
                    canvas.text(line, x: 4 * scale, y: (4 + k * BitmapFont.cellHeight) * scale, scale: scale,
                                color: k == 0 ? (255, 255, 255) : (200, 200, 200))
                }
                if !timeline.isEmpty { drawTimeline(&canvas, timeline, now: Double(index) / fps, duration: duration, barHeight: barHeight, scale: scale) }
                try writer.append(canvas.pixels)
            }
        }
        try writer.finish()
    }

    /// The bar: entry i colours [time_i, time_{i+1}) by its top-1 class.
    static func drawTimeline(_ canvas: inout FrameCanvas, _ timeline: [VideoClassifier.TimelineEntry], now: Double, duration: Double,
                             barHeight: Int, scale: Int) {
        let y = canvas.height - barHeight, width = Double(canvas.width)
        let x = { (t: Double) in Int((t / max(duration, 1e-9) * width).rounded()) }
        var current = timeline[0]
        for (i, entry) in timeline.enumerated() {
            let end = i + 1 < timeline.count ? timeline[i + 1].time : duration
            if entry.time <= now { current = entry }
            let colour = palette[(entry.top.first?.index ?? 0) % palette.count]
            canvas.fill(x: x(entry.time), y: y, width: max(1, x(end) - x(entry.time)), height: barHeight, color: colour, alpha: 220)
        }
        canvas.fill(x: x(now) - scale, y: y - 2 * scale, width: 2 * scale + 1, height: barHeight + 2 * scale, color: (255, 255, 255))
        if let label = current.top.first {
            let text = String(format: "%@ %.2f", label.label, label.probability)
            let textY = y - (BitmapFont.cellHeight + 2) * scale
            canvas.fill(x: 0, y: textY - scale, width: FrameCanvas.textWidth(text, scale: scale) + 8 * scale,
                        height: (BitmapFont.cellHeight + 2) * scale, color: (0, 0, 0), alpha: 160)
            canvas.text(text, x: 4 * scale, y: textY, scale: scale, color: palette[label.index % palette.count])
        }
    }
}
