import Foundation
import NLTensor

/// Accuracy of a classifier on a labelled list under its view protocol. A video that cannot be
/// read counts as wrong, as in the official evaluation.
public struct Evaluation: Codable, Sendable {
    /// The outcome for one video of the list.
    public struct VideoResult: Codable, Sendable {
        /// The video's path as listed.
        public var path: String
        /// Its true class index.
        public var label: Int
        /// The up to 5 best classes of the combined views; empty when the video could not be read.
        public var top: [RankedClass]
        /// Why the video could not be read or decoded; nil when it was classified.
        public var error: String?
    }

    /// Videos in the list.
    public var videos: Int
    /// Videos that could not be read (each counted as wrong).
    public var failed: Int
    /// Fraction of the list whose best class is the true one.
    public var top1: Double
    /// Fraction of the list whose true class is among the best five.
    public var top5: Double
    /// Mean over the classes present of each class's top-1 (the confusion matrix's diagonal over its rows).
    public var meanClassAccuracy: Double
    /// confusion[true][predicted]
    public var confusion: [[Int]]
    /// Per video, in list order.
    public var results: [VideoResult]

    /// `decoded`, when given, holds the list's videos already decoded (by `decodeAll`), in
    /// list order: a validation set evaluated many times during training is decoded once.
    public static func run(_ classifier: VideoClassifier, on list: VideoList, ensemble: Ensemble = .mean,
                           decoded: [Result<VideoClassifier.DecodedVideo, Error>]? = nil,
                           progress: ((Int, Int) -> Void)? = nil) -> Evaluation {
        let k = classifier.model.architecture.classes
        var confusion = Array(repeating: Array(repeating: 0, count: k), count: k)
        var results: [VideoResult] = []
        var top1 = 0, top5 = 0, failed = 0
        for (i, item) in list.items.enumerated() {
            do {
                let video = try decoded?[i].get() ?? VideoClassifier.decodeViews(item.path, views: classifier.views, input: item.openOptions)
                let top = topK(aggregate(classifier.classify(video), ensemble), k: min(5, k), labels: classifier.labels)
                if top[0].index == item.label { top1 += 1 }
                if top.contains(where: { $0.index == item.label }) { top5 += 1 }
                if item.label < k { confusion[item.label][top[0].index] += 1 }
                results.append(VideoResult(path: item.path, label: item.label, top: top, error: nil))
            } catch {
                failed += 1
                results.append(VideoResult(path: item.path, label: item.label, top: [], error: "\(error)"))
            }
            progress?(i + 1, list.items.count)
        }
        let n = Double(max(list.items.count, 1))
        let perClass = confusion.enumerated().compactMap { c, row -> Double? in
            let total = row.reduce(0, +)
            return total > 0 ? Double(row[c]) / Double(total) : nil
        }
        return Evaluation(videos: list.items.count, failed: failed, top1: Double(top1) / n, top5: Double(top5) / n,
                          meanClassAccuracy: perClass.isEmpty ? 0 : perClass.reduce(0, +) / Double(perClass.count),
                          confusion: confusion, results: results)
    }

    /// confusion.csv: a header of predicted class names, one row per true class.
    public func confusionCSV(labels: [String]) -> String {
        func quote(_ s: String) -> String { s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s }
        var lines = ["true\\predicted," + labels.map(quote).joined(separator: ",")]
        for (c, row) in confusion.enumerated() { lines.append(quote(labels[c]) + "," + row.map(String.init).joined(separator: ",")) }
        return lines.joined(separator: "\n") + "\n"
    }
}
