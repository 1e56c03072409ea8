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
    public var clips = 10
    public var crops = 3
    public var frames = 8
    public var stride = 8
    public var shortSide = 256
    public var crop = 256
    public var boundary = FrameBoundary.wrap
    public var normalization = Normalization.official

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

public struct RankedClass: Codable, Sendable, Equatable {
    public var rank: Int
    public var index: Int
    public var label: String
    public var probability: Float

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
    public let model: ResNet3D
    public let labels: [String]
    public let views: ViewProtocol
    /// How videos are opened (stream choice, frames-folder rate).
    public let input: VideoOpenOptions

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

    public struct DecodedVideo: Sendable {
        public let path: String
        public let info: VideoInfo
        public let views: TestViews
        public let decodeSeconds: Double
    }

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

    public struct TimelineEntry: Codable, Sendable {
        public var time: Double
        public var frames: [Int]
        public var top: [RankedClass]

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
