import ArgumentParser
import Foundation
import NLModels
import NLTrain

/// Where the time of classifying one video goes: decoding vs the network.
struct BenchClassify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "Wall time, decoding time and network time of classifying one video (30 views by default).",
        discussion: "The model and views are chosen as in classify (without --weights or --config, the default model); --config alone times random weights.")

    @Argument(help: "A video file (e.g. 10 s of 720p H.264).")
    var file: String

    @OptionGroup var selection: ModelSelection

    @OptionGroup var precision: PrecisionOption

    @OptionGroup var view: ViewOptions

    @OptionGroup var output: BenchOutput

    struct Report: Codable {
        var file: String
        var model: String
        var views: Int
        var wallSeconds: Double
        var decodeSeconds: Double
        var networkSeconds: Double
        var decodeShare: Double
    }

    func run() throws {
        let model = try selection.modelOrDefault()
        try precision.apply(to: model)
        let views = view.viewProtocol(for: model)
        let classifier = VideoClassifier(model: model, labels: [], views: views)
        let start = DispatchTime.now().uptimeNanoseconds
        let video = try classifier.decodeViews(file)
        let networkStart = DispatchTime.now().uptimeNanoseconds
        _ = classifier.classify(video)
        let end = DispatchTime.now().uptimeNanoseconds
        let wall = Double(end - start) / 1e9, network = Double(end - networkStart) / 1e9
        let report = Report(file: file, model: model.config.name, views: video.views.tensors.count, wallSeconds: wall,
                            decodeSeconds: video.decodeSeconds, networkSeconds: network, decodeShare: video.decodeSeconds / wall)
        if output.json { print(try jsonLine(report)); return }
        print("\(file): \(report.views) views of \(report.model)")
        print(String(format: "wall %.2f s = decode %.2f s (%.1f%%) + network %.2f s", wall, report.decodeSeconds, 100 * report.decodeShare, network))
    }
}
