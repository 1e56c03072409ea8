import Foundation
import TestSupport
import NLModels
import NLTensor
import NLTrain
import Testing

@Suite("Lists and schedules")
struct ListAndScheduleTests {
    func write(_ text: String, _ name: String) -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-\(getpid())-\(name)").path
        try? text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func listFormats() throws {
        let kinetics = try VideoList(path: write("a.mp4 1\nsub dir/b.mp4 0\n", "k.txt"))
        #expect(kinetics.items.map(\.label) == [1, 0] && kinetics.items[1].path.hasSuffix("sub dir/b.mp4"))
        let csv = try VideoList(path: write("path,label\nx.mp4,walking\ny.mp4,abseiling\nz.mp4,walking\n", "c.csv"))
        #expect(csv.classes == ["abseiling", "walking"] && csv.items.map(\.label) == [1, 0, 1])
        let val = try VideoList(path: write("v.mp4,walking\n", "v.csv"), classes: csv.classes)
        #expect(val.items[0].label == 1)
    }

    @Test func badLinesNameTheLine() {
        for (text, line, words) in [("a.mp4 1\nnolabel\n", 2, "expected"), ("a.mp4,1\nb.mp4,\n", 2, "expected"),
                                    ("a.mp4,walking\n", 1, "unknown class")] {
            do {
                _ = try VideoList(path: write(text, "bad.csv"), classes: text.contains("walking") ? ["running"] : nil)
                Issue.record("no error for \(text)")
            } catch {
                #expect("\(error)".contains("bad.csv:\(line):") && "\(error)".contains(words), "\(error)")
            }
        }
    }

    /// A preset without train.crop/jitter trains on its model's train_crop (the window the test
    /// head pools), with the official recipe's proportions (224: [256, 320]); given values stay.
    @Test func cropAndJitterFollowTheModel() throws {
        let path = write("model: {train_crop: 112}\ntrain: {batch_size: 4}\n", "crop.yaml")
        let small = try TrainConfig.load(path: path, modelCrop: 112)
        #expect(small.crop == 112 && small.jitter == [128, 160], "\(small.crop) \(small.jitter)")
        let official = try TrainConfig.load(path: path, modelCrop: 224)
        #expect(official.crop == 224 && official.jitter == [256, 320])
        let given = try TrainConfig.load(path: path, overrides: ["train.crop=96"], modelCrop: 112)
        #expect(given.crop == 96 && given.jitter == [109, 137])
        let both = try TrainConfig.load(path: path, overrides: ["train.crop=96", "train.jitter=[100, 120]"], modelCrop: 112)
        #expect(both.crop == 96 && both.jitter == [100, 120])
    }

    /// Keys absent from the file take the defaults; a bad value or override is one ConfigError
    /// naming the key (the same override parser as the model config's).
    @Test func recipeDefaultsAndBadValues() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("recipe-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "train:\n  base_lr: 0.5\n  schedule: cosine\n".write(toFile: path, atomically: true, encoding: .utf8)
        let c = try TrainConfig.load(path: path)
        var expected = TrainConfig()
        expected.baseLR = 0.5; expected.schedule = .cosine; expected.crop = 224; expected.jitter = [256, 320]
        #expect(c == expected)
        // An error in an override is blamed on the --set text, which names the key itself.
        for override in ["train.schedule=linear", "train.batch_size", "train.=3"] {
            do {
                _ = try TrainConfig.load(path: path, overrides: [override])
                Issue.record("\(override) was accepted")
            } catch let e as ConfigError {
                #expect(e.source == "--set \(override)", "\(override): \(e)")
                if override.hasPrefix("train.schedule") { #expect("\(e)".contains("allowed: step, cosine"), "\(e)") }
            }
        }
    }

    @Test func learningRateSchedules() {
        var c = TrainConfig()
        c.baseLR = 0.1; c.steps = [10, 20]; c.gamma = 0.1; c.maxIterations = 30
        #expect(c.learningRate(0) == 0.1 && abs(c.learningRate(10) - 0.01) < 1e-9 && abs(c.learningRate(25) - 0.001) < 1e-9)
        c.schedule = .cosine; c.warmupIterations = 5
        #expect(abs(c.learningRate(0) - 0.01) < 1e-7, "warm-up starts at base/10")
        #expect(abs(c.learningRate(15) - 0.05) < 1e-6, "cosine half way")
        #expect(c.learningRate(2) > c.learningRate(1), "warm-up rises")
    }
}

@Suite("Training")
struct TrainingTests {
    /// Six clips of two classes made with the ffmpeg CLI, once per process (tests run in
    /// parallel: two writing the same files would race).
    static let shared = Result { try makeDataset() }
    static func dataset() throws -> String { try shared.get() }

    static func makeDataset() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-train-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var lines = ["path,label"]
        for i in 1...3 {
            for (name, source) in [("warm", "testsrc2=size=64x48:rate=10:duration=1.2,hue=h=\(i * 20)"),
                                   ("cold", "mandelbrot=size=64x48:rate=10")] {
                let file = dir.appendingPathComponent("\(name)\(i).mp4").path
                if !FileManager.default.fileExists(atPath: file) { try ExternalTool.lavfiClip(source, seconds: 1.2, to: file) }
                lines.append("\(name)\(i).mp4,\(name)")
            }
        }
        try lines.joined(separator: "\n").write(toFile: dir.appendingPathComponent("train.csv").path, atomically: true, encoding: .utf8)
        return dir.path
    }

    static func tinyModel(seed: UInt64) throws -> ResNet3D {
        let yaml = "model: {arch: i3d, width: 4, classes: 2, dropout: 0.5, train_crop: 32, nonlocal: {blocks: {res3: [1]}}}\n"
            + "input: {frames: 4, stride: 2, short_side: 32, crop: 32}"
        return ResNet3D(config: try ModelConfig.parse(yaml: yaml, source: "tiny"), seed: seed)
    }

    static func trainConfig(_ iterations: Int) -> TrainConfig {
        var c = TrainConfig()
        c.batchSize = 3; c.accumulate = 2; c.baseLR = 0.05; c.steps = [1000]; c.maxIterations = iterations
        c.jitter = [32, 40]; c.crop = 32; c.checkpointEvery = 4; c.logEvery = 1; c.seed = 7
        return c
    }

    @Test func aTinyModelOverfitsATinyDataset() throws {
        let dir = try Self.dataset()
        let list = try VideoList(path: dir + "/train.csv")
        let model = try Self.tinyModel(seed: 1)
        let out = dir + "/overfit"
        let trainer = try Trainer(model: model, config: Self.trainConfig(24), train: list, output: out)
        try trainer.run(resume: false) { _ in }
        var views = ViewProtocol(config: model.config)
        views.clips = 2; views.crops = 1
        let result = Evaluation.run(VideoClassifier(model: model, labels: list.classes, views: views), on: list)
        #expect(result.top1 == 1, "train accuracy \(result.top1)")
        #expect(FileManager.default.fileExists(atPath: out + "/metrics.jsonl") && FileManager.default.fileExists(atPath: out + "/checkpoint.safetensors"))
    }

    /// A learning rate that blows the weights up ends training with one clear error naming the
    /// step (it used to end in a JSON encoding error about a NaN in the step log).
    @Test func aDivergedLossStopsWithAClearError() throws {
        let dir = try Self.dataset()
        let list = try VideoList(path: dir + "/train.csv")
        var config = Self.trainConfig(6)
        config.baseLR = 1e30
        let trainer = try Trainer(model: try Self.tinyModel(seed: 3), config: config, train: list, output: dir + "/diverged")
        do {
            try trainer.run(resume: false) { _ in }
            Issue.record("training at a learning rate of 1e30 did not stop")
        } catch {
            #expect("\(error)".contains("training diverged: the loss is"), "\(error)")
            #expect("\(error)".contains("Lower train.base_lr"), "\(error)")
        }
    }

    /// Stopping after some steps and resuming from the checkpoint ends bit-identical to one run.
    @Test func resumeIsExact() throws {
        let dir = try Self.dataset()
        let list = try VideoList(path: dir + "/train.csv")
        let straight = try Self.tinyModel(seed: 2)
        try Trainer(model: straight, config: Self.trainConfig(10), train: list, output: dir + "/straight").run(resume: false) { _ in }
        let first = try Self.tinyModel(seed: 2)
        try Trainer(model: first, config: Self.trainConfig(10), train: list, output: dir + "/resumed").run(resume: false, stopAfter: 6) { _ in }
        let resumed = try Self.tinyModel(seed: 99)   // different init: everything must come from the checkpoint
        let trainer = try Trainer(model: resumed, config: Self.trainConfig(10), train: list, output: dir + "/resumed")
        try trainer.run(resume: true) { _ in }
        #expect(trainer.iteration == 10)
        let differing = straight.specs.filter { resumed.weights[$0.name]!.maxAbsDifference(straight.weights[$0.name]!) != 0 }.map(\.name)
        #expect(differing.isEmpty, "\(differing.count) tensors differ after resume, e.g. \(differing.prefix(3))")
        // The checkpoint also loads as a model (for eval/classify): the same weights, in its own layout.
        let loaded = try ResNet3D.load(path: trainer.checkpointPath)
        let mismatched = straight.specs.filter { loaded.weights[$0.name]!.maxAbsDifference(straight.weights[$0.name]!) != 0 }.map(\.name)
        #expect(mismatched.isEmpty, "\(mismatched.count) tensors differ in the loaded checkpoint, e.g. \(mismatched.prefix(3))")
    }
}

@Suite("Precise BN")
struct PreciseBNTests {
    /// After precise BN over two batches, every running statistic is the average of the two
    /// batches' own statistics (each taken alone with momentum 1).
    @Test func runningStatisticsAverageTheBatches() throws {
        let a = Tensor(shape: [2, 8, 48, 48, 3], scalars: (0..<(2 * 8 * 48 * 48 * 3)).map { Float(sin(Double($0) * 0.37)) })
        let b = Tensor(shape: [2, 8, 48, 48, 3], scalars: (0..<(2 * 8 * 48 * 48 * 3)).map { Float(cos(Double($0) * 0.11)) * 1.7 })
        func statistics(_ x: Tensor) throws -> [String: BatchNormStatistics] {
            let m = try TrainingTests.tinyModel(seed: 5)
            var stats: [String: BatchNormStatistics] = [:]
            var rng = RandomSource(seed: 0)
            _ = m.trainingLogits(x, weights: m.weights, statistics: &stats, rng: &rng, batchNormMomentum: 1)
            return stats
        }
        let sa = try statistics(a), sb = try statistics(b)
        let model = try TrainingTests.tinyModel(seed: 5)
        var rng = RandomSource(seed: 0)
        model.preciseBatchNorm([a, b], rng: &rng)
        #expect(!sa.isEmpty && sa.count == sb.count)
        for (prefix, s) in sa {
            let mean = (s.mean + sb[prefix]!.mean) * 0.5, variance = (s.variance + sb[prefix]!.variance) * 0.5
            #expect(model.weights[prefix + ".running_mean"]!.maxAbsDifference(mean) <= 1e-5 * max(mean.maxAbs, 1), "\(prefix) mean")
            #expect(model.weights[prefix + ".running_var"]!.maxAbsDifference(variance) <= 1e-5 * max(variance.maxAbs, 1), "\(prefix) var")
        }
    }
}

@Suite("Training log")
struct TrainingLogTests {
    /// A resumed run repeats the steps after its checkpoint: the later rows count, once; epoch
    /// rows are the means of their steps.
    @Test func epochsAverageTheirStepsAndResumedStepsCountOnce() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-log-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func row(_ i: Int, _ epoch: Int, _ loss: Float) -> String {
            "{\"iteration\":\(i),\"epoch\":\(epoch),\"loss\":\(loss),\"accuracy\":0.5,\"learningRate\":0.1,\"clipsPerSecond\":10,\"skipped\":0}"
        }
        // Steps 1–3 (epoch 0), killed, resumed from step 2: steps 3–4 again (4 is epoch 1).
        let lines = [row(1, 0, 1.0), row(2, 0, 2.0), row(3, 0, 9.0), row(3, 0, 3.0), row(4, 1, 4.0)]
        try (lines.joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("metrics.jsonl"), atomically: true, encoding: .utf8)
        try TrainingLog.writeSummaries(in: dir)
        let epochs = TrainingLog.epochs(TrainingLog.steps(in: dir))
        #expect(epochs.map(\.epoch) == [0, 1] && epochs.map(\.steps) == [3, 1] && epochs.map(\.lastIteration) == [3, 4])
        #expect(abs(epochs[0].loss - 2.0) < 1e-9 && abs(epochs[1].loss - 4.0) < 1e-9, "\(epochs)")
        let csv = try String(contentsOf: dir.appendingPathComponent("epochs.csv"), encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 3 && csv[1].hasPrefix("0,3,3,2.000000"), "\(csv)")
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("curve.svg").path))
    }
}
