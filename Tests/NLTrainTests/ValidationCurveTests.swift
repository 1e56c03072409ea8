import Foundation
import NLModels
import NLTrain
import Testing

/// `train.eval_every`: the validation curve written during training equals evaluating the
/// weights of that step, and a resumed run's curve equals an uninterrupted one's.
@Suite("Validation curve")
struct ValidationCurveTests {
    @Test func curvePointsAreTheEvaluationsOfTheirSteps() throws {
        let dir = try TrainingTests.dataset()
        let list = try VideoList(path: dir + "/train.csv")
        var config = TrainingTests.trainConfig(6)
        config.evalEvery = 4                       // steps 4 and 6 (the last)
        var views = ViewProtocol(config: try TrainingTests.tinyModel(seed: 3).config)
        views.clips = 1; views.crops = 1
        let validation = Validation(list: list, labels: list.classes, views: views)

        let model = try TrainingTests.tinyModel(seed: 3)
        let out = dir + "/curve-straight"
        try? FileManager.default.removeItem(atPath: out)
        try Trainer(model: model, config: config, train: list, output: out).run(resume: false, validation: validation) { _ in }
        let curve = Validation.curve(in: out)
        #expect(curve.map(\.step) == [4, 6])
        // The last point is the final weights' evaluation, decoding the videos afresh.
        let final = Evaluation.run(VideoClassifier(model: model, labels: list.classes, views: views), on: list)
        #expect(curve.last?.top1 == final.top1 && curve.last?.top5 == final.top5)

        // Stopped after 5 steps (checkpoint at 4), resumed: points after the checkpoint are
        // dropped and recomputed, so the curve is the uninterrupted one.
        let resumedOut = dir + "/curve-resumed"
        try? FileManager.default.removeItem(atPath: resumedOut)
        try Trainer(model: try TrainingTests.tinyModel(seed: 3), config: config, train: list, output: resumedOut)
            .run(resume: false, stopAfter: 5, validation: validation) { _ in }
        try Trainer(model: try TrainingTests.tinyModel(seed: 3), config: config, train: list, output: resumedOut)
            .run(resume: true, validation: validation) { _ in }
        #expect(Validation.curve(in: resumedOut) == curve)
    }

    @Test func evalEveryMustNotBeNegative() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-evalevery-\(getpid()).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "train: {eval_every: -5}\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: ConfigError.self) { try TrainConfig.load(path: path) }
        do { _ = try TrainConfig.load(path: path) } catch let e as ConfigError { #expect(e.keyPath == "train.eval_every") }
    }
}
