import Foundation
import NLModels

/// The validation list evaluated during training, every `train.eval_every` steps: its videos
/// are decoded once (test views as the final evaluation takes them) and each evaluation runs
/// only the network, so a learning curve costs forward passes, not decoding.
public final class Validation {
    /// The validation videos and their true classes.
    public let list: VideoList
    /// Class names in the model's output order (the training list's classes).
    public let labels: [String]
    /// The test views each video is cut into (often 1 clip × 1 crop during training, for speed).
    public let views: ViewProtocol
    let decoded: [Result<VideoClassifier.DecodedVideo, Error>]

    /// One point of the learning curve: a line of validation.jsonl.
    public struct Point: Codable, Sendable, Equatable {
        /// The optimizer step after which the model was evaluated.
        public var step: Int
        /// Top-1 accuracy on the validation list, a fraction in [0, 1].
        public var top1: Double
        /// Top-5 accuracy on the validation list, a fraction in [0, 1].
        public var top5: Double
        /// Mean per-class accuracy (absent from curves written before it was recorded).
        public var meanClass: Double?

        /// The figure `train.best_metric` names: top1, top5 or mean_class.
        public func metric(_ name: String) -> Double? {
            switch name {
            case "top5": return top5
            case "mean_class": return meanClass
            default: return top1
            }
        }
    }

    /// Decodes every video's test views now (unreadable ones are kept as errors and count as wrong later).
    public init(list: VideoList, labels: [String], views: ViewProtocol) {
        self.list = list
        self.labels = labels
        self.views = views
        decoded = list.items.map { item in Result { try VideoClassifier.decodeViews(item.path, views: views, threads: 1, input: item.openOptions) } }
    }

    /// The full evaluation of `model` on the already decoded list (the same as
    /// `Evaluation.run` decoding the videos itself).
    public func evaluation(_ model: ResNet3D) -> Evaluation {
        Evaluation.run(VideoClassifier(model: model, labels: labels, views: views), on: list, decoded: decoded)
    }

    /// Top-1 / top-5 of `model` at `step`, as the final evaluation computes them.
    public func evaluate(_ model: ResNet3D, step: Int) -> Point {
        let e = evaluation(model)
        return Point(step: step, top1: e.top1, top5: e.top5, meanClass: e.meanClassAccuracy)
    }

    /// The points of `validation.jsonl` in `directory`, in file order (none if it is missing).
    public static func curve(in directory: String) -> [Point] {
        guard let text = try? String(contentsOfFile: directory + "/validation.jsonl", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(Point.self, from: Data($0.utf8)) }
    }
}
