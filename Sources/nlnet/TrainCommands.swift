import ArgumentParser
import Foundation
import NLModels
import NLTensor
import NLTrain

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model on a video list with the official recipe (the preset's train: section).",
        discussion: "Lists are 'path label' or CSV 'path,label' (label a class name or an index). Writes checkpoint.safetensors (every train.checkpoint_every steps, atomically), metrics.jsonl and metrics.csv (every step), epochs.csv and epochs.jsonl (per-epoch means), curve.svg, model.safetensors and, with --val, eval.json.")

    @Option(help: "Preset (YAML) with the model and its train: section.")
    var config: String

    @Option(name: .customLong("train"), help: "Training list.")
    var trainList: String

    @Option(name: .customLong("val"), help: "Validation list (evaluated at the end).")
    var valList: String?

    @Option(help: "Output folder.")
    var out: String

    @Option(help: "Class names, one per line, fixing the label order (default: the names in the training list, sorted).")
    var classes: String?

    @Flag(help: "Continue from the output folder's checkpoint.")
    var resume = false

    @Option(name: [.customLong("initial"), .customLong("init")],
            help: "Initial weights (.safetensors); tensors whose shape differs (a new head) are initialised afresh.")
    var initial: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a config key, e.g. train.base_lr=0.1 (repeatable).", valueName: "key=value"))
    var overrides: [String] = []

    @Option(help: "Stop after this many steps (the run stays resumable).")
    var stopAfter: Int?

    @Flag(help: "No progress lines.")
    var quiet = false

    func run() throws {
        let classNames = try classes.map { try readNames($0, option: "--classes") }
        let train = try VideoList(path: trainList, classes: classNames)
        var modelConfig = try ModelConfig.load(path: config, overrides: overrides.filter { !$0.hasPrefix("train.") })
        // The class count comes from the list; a --set that says otherwise is a mistake to
        // report, not to replace in silence.
        if let given = overrides.last(where: { $0.hasPrefix("model.classes=") }), Int(given.dropFirst("model.classes=".count)) != train.classes.count {
            throw ValidationError("--set \(given): the training list \(trainList) has \(train.classes.count) classes")
        }
        modelConfig.model.classes = train.classes.count
        let trainConfig = try TrainConfig.load(path: config, overrides: overrides, modelCrop: modelConfig.model.trainCrop)
        let model = ResNet3D(config: modelConfig, seed: trainConfig.seed)
        if let initial, !resume {
            let source = try ResNet3D.load(path: initial)
            var weights = model.weights
            var fresh: [String] = []
            for spec in model.specs {
                if let w = source.weights[spec.name], w.shape == spec.shape { weights[spec.name] = w } else { fresh.append(spec.name) }
            }
            try model.replaceWeights(weights)
            if !fresh.isEmpty { log("initialised afresh (not in \(initial) or of another shape): \(fresh.joined(separator: ", "))") }
        }
        let trainer = try Trainer(model: model, config: trainConfig, train: train, output: out)
        log("\(modelConfig.name): \(train.items.count) videos, \(train.classes.count) classes, \(trainConfig.maxIterations) steps of \(trainConfig.batchSize)×\(trainConfig.accumulate) clips")
        let terminal = isatty(STDERR_FILENO) != 0
        // The validation list, decoded once (1 clip × 1 crop): the learning curve of
        // train.eval_every (validation.jsonl) and the final eval.json.
        let validation = try valList.map { path -> Validation in
            var views = ViewProtocol(config: modelConfig)
            views.clips = 1; views.crops = 1
            return Validation(list: try VideoList(path: path, classes: train.classes), labels: train.classes, views: views)
        }
        let outURL = URL(fileURLWithPath: out)
        if resume && !FileManager.default.fileExists(atPath: trainer.checkpointPath) {
            log("--resume: no checkpoint in \(out) yet; starting from step 0")
        }
        if !resume {
            // A fresh run into a used folder: results of the earlier run must not pass as this one's.
            for stale in ["eval.json", "validation.jsonl"] { try? FileManager.default.removeItem(at: outURL.appendingPathComponent(stale)) }
        }
        try trainer.run(resume: resume, stopAfter: stopAfter, validation: trainConfig.evalEvery > 0 ? validation : nil) { e in
            // Seconds per step at the current rate.
            let perStep = Double(trainConfig.batchSize * trainConfig.accumulate) / max(e.clipsPerSecond, 1e-9)
            let eta = Int(perStep * Double(trainConfig.maxIterations - e.iteration))
            let line = String(format: "step %d/%d  loss %.4f  acc %.3f  lr %.4g  %.2f clips/s  ETA %dm%02ds%@", e.iteration, trainConfig.maxIterations,
                              e.loss, e.accuracy, e.learningRate, e.clipsPerSecond, eta / 60, eta % 60, e.skipped > 0 ? "  (\(e.skipped) skipped)" : "")
            // A redrawn bar on a terminal; plain lines in logs and pipes.
            if terminal && !quiet {
                FileHandle.standardError.write(Data("\r\u{1B}[K\(Progress.bar(e.iteration, of: trainConfig.maxIterations)) \(line)".utf8))
                if e.iteration == trainConfig.maxIterations { FileHandle.standardError.write(Data("\n".utf8)) }
            } else {
                log(line)
            }
        }
        try TrainingLog.writeSummaries(in: URL(fileURLWithPath: out))
        let labels = train.classes.joined(separator: "\n")
        try model.save(to: URL(fileURLWithPath: out).appendingPathComponent("model.safetensors").path, metadata: ["nlnet.labels": labels])
        if let validation, trainer.iteration >= trainConfig.maxIterations {
            let result = validation.evaluation(model)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            try encoder.encode(result).write(to: URL(fileURLWithPath: out).appendingPathComponent("eval.json"))
            log(String(format: "validation (1 clip × 1 crop): top-1 %.3f, top-5 %.3f, mean class %.3f", result.top1, result.top5, result.meanClassAccuracy))
        }
    }

    func log(_ text: String) { if !quiet { FileHandle.standardError.write(Data((text + "\n").utf8)) } }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Top-1, top-5 and mean per-class accuracy on a labelled list, with a confusion matrix and per-video predictions.")

    @OptionGroup var selection: ModelSelection

    @Option(help: "Labelled list ('path label' or CSV).")
    var data: String

    @Option(help: "Clips per video.")
    var clips = 10

    @Option(help: "Crops per clip.")
    var crops = 3

    @Option(help: "Folder for predictions.jsonl, confusion.csv, confusion.svg and eval.json.")
    var out: String?

    @Flag(help: "No progress display.")
    var quiet = false

    func validate() throws {
        try OptionRange.views(clips: clips, crops: crops)
    }

    func run() throws {
        // Evaluating random weights is never what is meant: weights are required.
        let model = try selection.trainedModel(allowUntrained: false).model
        let labelNames: [String]? = (try selection.weightsFile()).flatMap { try? SafeTensors(contentsOf: $0).metadata["nlnet.labels"]?.split(separator: "\n").map(String.init) }
        let list = try VideoList(path: data, classes: labelNames)
        var views = ViewProtocol(config: model.config)
        views.clips = clips; views.crops = crops
        let classifier = VideoClassifier(model: model, labels: list.classes, views: views)
        let progress = Progress(total: list.items.count, quiet: quiet)
        let result = Evaluation.run(classifier, on: list) { done, _ in progress.update(completed: done, detail: "videos") }
        progress.finish()
        print(String(format: "%d videos (%d unreadable, counted wrong): top-1 %.4f, top-5 %.4f, mean class accuracy %.4f",
                     result.videos, result.failed, result.top1, result.top5, result.meanClassAccuracy))
        if let out {
            let dir = URL(fileURLWithPath: out)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try result.confusionCSV(labels: list.classes).write(to: dir.appendingPathComponent("confusion.csv"), atomically: true, encoding: .utf8)
            try SVGChart.heatmap(title: "confusion", matrix: result.confusion, labels: list.classes)
                .write(to: dir.appendingPathComponent("confusion.svg"), atomically: true, encoding: .utf8)
            try result.results.map { try jsonLine($0) }.joined(separator: "\n").appending("\n")
                .write(to: dir.appendingPathComponent("predictions.jsonl"), atomically: true, encoding: .utf8)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            try encoder.encode(result).write(to: dir.appendingPathComponent("eval.json"))
        }
    }
}
