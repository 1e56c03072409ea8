import Foundation
import NLModels
import NLTensor
import NLVideo

/// How the per-view class probabilities of one video are combined.
public enum Ensemble: String, Codable, Sendable, CaseIterable {
    /// mean of the views' softmax vectors (the official score, up to the constant 1/views)
    case mean
    /// sum, as the official code writes it
    case sum
    /// element-wise maximum
    case max
}

extension Normalization {
    /// The mean and std a config's `input.normalization` names.
    public init(_ name: InputNormalization) {
        switch name {
        case .official: self = .official
        case .imagenet: self = .imagenet
        }
    }
}

/// The test views of a video (docs/protocol.md#testing): clips × crops, frames × stride, short side, crop.
public struct ViewProtocol: Sendable, Codable, Equatable {
    /// Clips per video, started evenly over its frames (`ClipSampler.testClips`; 10 in docs/protocol.md#testing).
    public var clips = 10
    /// Spatial crops per clip along the longer side (3: left/top, centre, right/bottom; 1: centre only).
    public var crops = 3
    /// Frames T per clip, the model's input length.
    public var frames = 8
    /// Temporal stride: frames of the video between two sampled frames of a clip.
    public var stride = 8
    /// Pixels the shorter side of each frame is resized to before cropping (256).
    public var shortSide = 256
    /// Side of the square crop in pixels (256: the fully convolutional head sees 2 × 2 windows).
    public var crop = 256
    /// What a clip does past the video's ends: wrap around (the official test) or clamp.
    public var boundary = FrameBoundary.wrap
    /// The pixel normalisation the model was trained with (docs/protocol.md#input-normalisation).
    public var normalization = Normalization.official

    /// The official test protocol: 10 clips × 3 crops of 8 frames at stride 8, short side 256, crop 256.
    public init() {}

    /// The protocol a model config asks for.
    public init(config: ModelConfig) {
        frames = config.input.frames
        stride = config.input.stride
        shortSide = config.input.shortSide
        crop = config.input.crop
        normalization = Normalization(config.input.normalization)
    }
}

/// One class of a ranked prediction.
public struct RankedClass: Codable, Sendable, Equatable {
    /// 1 for the most probable class.
    public var rank: Int
    /// The class index in the model's output (the label file's order, docs/protocol.md#class-order).
    public var index: Int
    /// The class name, or "class N" where the model has no labels.
    public var label: String
    /// The combined softmax probability, in [0, 1] (up to the number of views when the ensemble is `.sum`).
    public var probability: Float

    /// A ranked class from its fields.
    public init(rank: Int, index: Int, label: String, probability: Float) {
        self.rank = rank
        self.index = index
        self.label = label
        self.probability = probability
    }
}

/// Combines per-view probability vectors [views][classes].
public func aggregate(_ views: [[Float]], _ ensemble: Ensemble) -> [Float] {
    guard let first = views.first else { return [] }
    var out = first
    for v in views.dropFirst() {
        for j in out.indices { out[j] = ensemble == .max ? Swift.max(out[j], v[j]) : out[j] + v[j] }
    }
    if ensemble == .mean { out = out.map { $0 / Float(views.count) } }
    return out
}

/// The k best classes of a score vector, ties broken by class index.
public func topK(_ scores: [Float], k: Int, labels: [String]) -> [RankedClass] {
    scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        .prefix(k).enumerated().map { rank, i in
            RankedClass(rank: rank + 1, index: i, label: i < labels.count ? labels[i] : "class \(i)", probability: scores[i])
        }
}

/// Classifies videos with a model under a view protocol. Decoding (`decodeViews`) and the
/// network (`classify`) are separate steps so a caller can overlap the next video's decoding
/// with this one's network.
public final class VideoClassifier: @unchecked Sendable {
    /// The network each view is run through.
    public let model: ResNet3D
    /// Class names in output order; may be empty (then `RankedClass.label` is "class N").
    public let labels: [String]
    /// The test views each video is cut into.
    public let views: ViewProtocol
    /// How videos are opened (stream choice, frames-folder rate).
    public let input: VideoOpenOptions

    /// A classifier for a model already built, its class names and test views.
    public init(model: ResNet3D, labels: [String], views: ViewProtocol, input: VideoOpenOptions = .init()) {
        self.model = model
        self.labels = labels
        self.views = views
        self.input = input
    }

    /// A classifier for a model file: its stored class names, and the test views its config
    /// asks for (docs/protocol.md#testing) unless `views` is given.
    public convenience init(file: ModelFile, views: ViewProtocol? = nil, input: VideoOpenOptions = .init()) {
        self.init(model: file.model, labels: file.labels ?? [], views: views ?? ViewProtocol(config: file.model.config),
                  input: input)
    }

    /// The k most probable classes of a video: its test views decoded, each classified, and
    /// the views' probabilities combined by `ensemble` (the official score: their mean).
    public func classify(path: String, top k: Int = 5, ensemble: Ensemble = .mean) throws -> [RankedClass] {
        topK(aggregate(classify(try decodeViews(path)), ensemble), k: k, labels: labels)
    }

    /// A video cut into its test views, ready for `classify(_:progress:)`.
    public struct DecodedVideo: Sendable {
        /// The path it was opened from.
        public let path: String
        /// What the decoder found in the file (size, frame rate, frame count…).
        public let info: VideoInfo
        /// The views: clips × crops tensors of [T, crop, crop, 3] (channels-last, normalised).
        public let views: TestViews
        /// Wall-clock seconds spent opening, decoding and cropping.
        public let decodeSeconds: Double
    }

    /// The test views of a video under this classifier's protocol and open options (no network run).
    /// Throws `VideoError` when the file cannot be opened or decoded.
    public func decodeViews(_ path: String, threads: Int = 2) throws -> DecodedVideo {
        try Self.decodeViews(path, views: views, threads: threads, input: input)
    }

    /// The test views of a video under a protocol (no model needed).
    public static func decodeViews(_ path: String, views: ViewProtocol, threads: Int = 2, input: VideoOpenOptions = .init()) throws -> DecodedVideo {
        let start = DispatchTime.now().uptimeNanoseconds
        let reader = try VideoReader(path: path, threads: threads, options: input)
        let v = try reader.testViews(sampler: ClipSampler(frames: views.frames, stride: views.stride, boundary: views.boundary),
                                     clips: views.clips, crops: views.crops, shortSide: views.shortSide,
                                     cropSize: views.crop, normalization: views.normalization)
        return DecodedVideo(path: path, info: reader.info, views: v,
                            decodeSeconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    /// Per-view probabilities [views][classes]: each view's fully convolutional head already
    /// averages the softmax of its windows (docs/architecture.md#head-and-pooling). `progress` is called after each view.
    public func classify(_ video: DecodedVideo, progress: ((Int) -> Void)? = nil) -> [[Float]] {
        video.views.tensors.enumerated().map { i, clip in
            let p = model.predict(clip.reshaped([1] + clip.shape)).probabilities.scalars
            progress?(i + 1)
            return p
        }
    }

    /// One point of `timeline(_:interval:top:threads:)`: the prediction of the clip centred at `time`.
    public struct TimelineEntry: Codable, Sendable {
        /// Seconds from the start of the video (or of its time range) to the clip's centre.
        public var time: Double
        /// Indices of the clip's T frames (clamped at the video's ends).
        public var frames: [Int]
        /// The best classes of that one clip (centre crop only).
        public var top: [RankedClass]

        /// A timeline point from its fields.
        public init(time: Double, frames: [Int], top: [RankedClass]) {
            self.time = time
            self.frames = frames
            self.top = top
        }
    }

    /// A prediction every `interval` seconds: one clip centred at each time, centre crop.
    public func timeline(_ path: String, interval: Double, top k: Int = 1, threads: Int = 2) throws -> [TimelineEntry] {
        let reader = try VideoReader(path: path, threads: threads, options: input)
        let info = reader.info
        let fps = info.frameRate > 0 ? info.frameRate : 25
        let sampler = ClipSampler(frames: views.frames, stride: views.stride, boundary: .clamp)
        let duration = Double(info.frameCount) / fps
        let display = info.displaySize
        let size = SpatialTransform.resized(width: display.width, height: display.height, shortSide: views.shortSide)
        var entries: [TimelineEntry] = []
        for time in stride(from: 0, through: max(duration - 1 / fps, 0), by: max(interval, 1 / fps)) {
            let centre = Int(time * fps)
            let indices = sampler.clip(startingAt: centre - sampler.span / 2, frameCount: info.frameCount)
            let p = centreClipProbabilities(try reader.frames(indices, width: size.width, height: size.height))
            entries.append(TimelineEntry(time: time, frames: indices, top: topK(p, k: k, labels: labels)))
        }
        return entries
    }

    /// Class probabilities of one clip, its frames already at the short-side size: the centre
    /// crop only (a timeline point, a live window).
    public func centreClipProbabilities(_ rgb: RGBFrames) -> [Float] {
        let crop = SpatialTransform.testCrops(width: rgb.width, height: rgb.height, size: views.crop, count: 1)[0]
        let clip = SpatialTransform.clipTensor(rgb, frames: Array(rgb.indices.indices), crop: crop, normalization: views.normalization)
        return model.predict(clip.reshaped([1] + clip.shape)).probabilities.scalars
    }
}
