import ArgumentParser
import Foundation
import NLModels
import NLTensor
import NLTrain

/// How test views are cut from a video: the official 10 clips × 3 crops by default, the clip
/// length, stride and size the model's.
struct ViewOptions: ParsableArguments {
    @Option(help: "Clips per video (evenly spaced).")
    var clips = 10

    @Option(help: "Crops per clip (along the longer side).")
    var crops = 3

    @Option(help: "Frames per clip (default: the model's).")
    var frames: Int?

    @Option(help: "Frame stride within a clip (default: the model's).")
    var stride: Int?

    @Option(help: "Short side and square crop size in pixels (default: the model's, 256).")
    var size: Int?

    func validate() throws {
        try OptionRange.views(clips: clips, crops: crops)
        try OptionRange.frames(frames)
        try OptionRange.size(size)
        if let stride, !(1...1000).contains(stride) { throw ValidationError("--stride must be 1…1000, got \(stride)") }
    }

    /// The model's protocol with these options applied.
    func viewProtocol(for model: ResNet3D) -> ViewProtocol {
        var views = ViewProtocol(config: model.config)
        views.clips = clips
        views.crops = crops
        if let frames { views.frames = frames }
        if let stride { views.stride = stride }
        if let size { views.shortSide = size; views.crop = size }
        return views
    }
}

/// The clip a model is measured on.
struct ClipShape: ParsableArguments {
    @Option(help: "Frames per clip (default: the config's input.frames).")
    var frames: Int?

    @Option(help: "Spatial size, height = width (default: 224, or the config's crop for training).")
    var size: Int?

    func validate() throws {
        try OptionRange.clip(frames: frames, size: size)
    }
}
