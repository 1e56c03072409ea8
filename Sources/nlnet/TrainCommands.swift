import ArgumentParser
import Foundation
import NLModels
import NLTensor
import NLTrain

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model on a video list with the official recipe (the preset's train: section).",
        discussion: "Lists are 'path label' or CSV 'path,label' (label a class name or an index). Writes checkpoint.safetensors "
            + "(every train.checkpoint_every steps, atomically), metrics.jsonl and metrics.csv (every step), epochs.csv "
            + "and epochs.jsonl (per-epoch means), curve.svg, model.safetensors and, with --val, eval.json.")

    @Option(help: "Preset with the model and its train: section: a YAML file or a preset's name (`nlnet presets`).")
    var config: String

    @Option(name: .customLong("train"),
            help: ArgumentHelp("Training videos: a list ('path label', CSV, rawframes, Kinetics CSV, UCF101 trainlist), "
                               + "a class-per-folder tree or an HMDB51 splits folder."))
    var trainList: String?

    @Option(name: .customLong("val"), help: "Validation videos, in any layout --train takes (evaluated every train.eval_every steps and at the end).")
    var valList: String?

    @Option(help: "A dataset folder with train/ and val/ (or validation/, test/) class-per-folder trees: sets --train and --val.")
    var data: String?

    @Option(help: "Which split of HMDB51 split files (1…3).")
    var split = 1

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

    func validate() throws {
        guard (trainList == nil) != (data == nil) else { throw ValidationError("give either --train (and --val) or --data DIR") }
        if data != nil && valList != nil { throw ValidationError("--data sets --val from DIR/val; give one or the other") }
        guard (1...3).contains(split) else { throw ValidationError("--split must be 1, 2 or 3, got \(split)") }
    }

    /// --train and --val, or the splits of --data.
    func lists() throws -> (train: String, val: String?) {
        guard let data else { return (trainList!, valList) }
        let train = (data as NSString).appendingPathComponent("train")
        guard FileManager.default.fileExists(atPath: train) else { throw ValidationError("--data \(data): no train/ folder inside") }
        let val = ["val", "validation", "test"].map { (data as NSString).appendingPathComponent($0) }.first { FileManager.default.fileExists(atPath: $0) }
        return (train, val)
    }

    /// Under `mpirun -n N` (Open MPI), each rank trains its share of every step (docs/scale-out.md).
    func run() throws {
        let group = try ProcessGroup.fromEnvironment()
        do {
            try train(group: group)
            group.finish()
        } catch {
            // A rank that fails ends the job: the others would wait for it in the next exchange.
            if group.size > 1 { group.abort("\(error)") }
            throw error
        }
    }

    func train(group: ProcessGroup) throws {
        let log = { (text: String) in if group.isLeader { self.log(text) } }
        let config = try Presets.path(self.config)
        let classNames = try classes.map { try readNames($0, option: "--classes") }
        let (trainList, valList) = try lists()
        let train = try checked(VideoList(path: trainList, classes: classNames, part: .train, split: split), trainList)
        var modelConfig = try ModelConfig.load(path: config, overrides: overrides.filter { !$0.hasPrefix("train.") })
        // The class count comes from the list; a --set that says otherwise is a mistake to
        // report, not to replace in silence.
        if let given = overrides.last(where: { $0.hasPrefix("model.classes=") }), Int(given.dropFirst("model.classes=".count)) != train.classes.count {
            throw ValidationError("--set \(given): the training list \(trainList) has \(train.classes.count) classes")
        }
        modelConfig.model.classes = train.classes.count
        let trainConfig = try TrainConfig.load(path: config, overrides: overrides, modelCrop: modelConfig.model.trainCrop)
        let model = ResNet3D(config: modelConfig, seed: trainConfig.seed)
        if let problem = model.trainingInputProblem(batch: trainConfig.batchSize, frames: modelConfig.input.frames, size: trainConfig.crop) {
            throw ValidationError("\(config): \(problem) (train.batch_size, train.crop)")
        }
        if let initial, !resume {
            let fresh = try model.transferWeights(from: try ResNet3D.load(path: initial))
            if !fresh.isEmpty { log("initialised afresh (not in \(initial) or of another shape): \(fresh.joined(separator: ", "))") }
        }
        let trainer = try Trainer(model: model, config: trainConfig, train: train, output: out, group: group)
        log("\(modelConfig.name): \(train.items.count) videos, \(train.classes.count) classes, "
            + "\(trainConfig.maxIterations) steps of \(trainConfig.batchSize)×\(trainConfig.accumulate) clips"
            + (group.size > 1 ? " on \(group.size) MPI ranks (\(trainConfig.accumulate / group.size) micro-batch(es) each)" : ""))
        let terminal = isatty(STDERR_FILENO) != 0
        // The validation list, decoded once (1 clip × 1 crop): the learning curve of
        // train.eval_every (validation.jsonl) and the final eval.json. Rank 0 alone validates.
        let validation = try valList.flatMap { path -> Validation? in
            guard group.isLeader else { return nil }
            var views = ViewProtocol(config: modelConfig)
            views.clips = 1; views.crops = 1
            let list = try checked(VideoList(path: path, classes: train.classes, part: .test, split: split), path)
            return Validation(list: list, labels: train.classes, views: views)
        }
        let outURL = URL(fileURLWithPath: out)
        if resume && !FileManager.default.fileExists(atPath: trainer.checkpointPath) {
            log("--resume: no checkpoint in \(out) yet; starting from step 0")
        }
        if resume && group.isLeader {
            // Said also with --quiet: the resumed run will not equal an uninterrupted one.
            let changes = try trainer.changesSinceCheckpoint()
            if !changes.isEmpty {
                FileHandle.standardError.write(Data(("nlnet train: warning: --resume with a recipe that changed since the checkpoint; "
                    + "the run goes on with the new values:\n"
                    + changes.map { "  \($0)\n" }.joined()).utf8))
            }
        }
        if !resume && group.isLeader {
            // A fresh run into a used folder: results of the earlier run must not pass as this one's.
            for stale in ["eval.json", "validation.jsonl"] { try? FileManager.default.removeItem(at: outURL.appendingPathComponent(stale)) }
        }
        try trainer.run(resume: resume, stopAfter: stopAfter, validation: trainConfig.evalEvery > 0 ? validation : nil) { e in
            guard group.isLeader else { return }
            // Seconds per step at the current rate.
            let perStep = Double(trainConfig.batchSize * trainConfig.accumulate) / max(e.clipsPerSecond, 1e-9)
            let eta = Int(perStep * Double(trainConfig.maxIterations - e.iteration))
            let line = String(format: "step %d/%d  loss %.4f  acc %.3f  lr %.4g  %.2f clips/s  ETA %dm%02ds%@", e.iteration, trainConfig.maxIterations,
                              e.loss, e.accuracy, e.learningRate, e.clipsPerSecond, eta / 60, eta % 60, e.skipped > 0 ? "  (\(e.skipped) skipped)" : "")
            // A redrawn bar on a terminal; plain lines in logs and pipes.
            if terminal && !quiet {
                FileHandle.standardError.write(Data("\r\u{1B}[K\(ProgressLine.bar(e.iteration, of: trainConfig.maxIterations)) \(line)".utf8))
                if e.iteration == trainConfig.maxIterations { FileHandle.standardError.write(Data("\n".utf8)) }
            } else {
                log(line)
            }
        }
        // Rank 0 writes what the run leaves behind; the other ranks hold the same weights.
        guard group.isLeader else { return }
        try TrainingLog.writeSummaries(in: URL(fileURLWithPath: out))
        try ModelFile(model: model, labels: train.classes)
            .save(to: URL(fileURLWithPath: out).appendingPathComponent("model.safetensors").path)
        if let validation, trainer.iteration >= trainConfig.maxIterations {
            let result = validation.evaluation(model)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            try encoder.encode(result).write(to: URL(fileURLWithPath: out).appendingPathComponent("eval.json"))
            log(String(format: "validation (1 clip × 1 crop): top-1 %.3f, top-5 %.3f, mean class %.3f", result.top1, result.top5, result.meanClassAccuracy))
        }
    }

    func log(_ text: String) { if !quiet { FileHandle.standardError.write(Data((text + "\n").utf8)) } }

    /// The list without entries whose video is missing, which are named in one summary (and
    /// all written to --out/missing-<list>.txt); none left is an error.
    func checked(_ list: VideoList, _ source: String) throws -> VideoList {
        let (kept, missing) = list.existing()
        guard !missing.isEmpty else { return list }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let report = (out as NSString).appendingPathComponent("missing-\(URL(fileURLWithPath: source).deletingPathExtension().lastPathComponent).txt")
        try OutputFile.write(Data((missing.joined(separator: "\n") + "\n").utf8), to: report)
        let shown = missing.prefix(3).joined(separator: ", ") + (missing.count > 3 ? ", …" : "")
        FileHandle.standardError.write(Data(("nlnet train: \(source): \(missing.count) of \(list.items.count) videos are missing and skipped: "
                                             + "\(shown) (all in \(report))\n").utf8))
        guard !kept.items.isEmpty else { throw ValidationError("\(source): none of its \(list.items.count) videos exists") }
        return kept
    }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Top-1, top-5 and mean per-class accuracy on a labelled list, with a confusion matrix and per-video predictions.",
        discussion: "The model and the views are chosen as in classify: without --weights or --config, $NLNET_MODEL, else "
            + "the shipped default model; --config alone (random weights) only with --allow-untrained.")

    @OptionGroup var selection: ModelSelection

    @OptionGroup var precision: PrecisionOption

    @Option(help: "Labelled list ('path label' or CSV).")
    var data: String

    @Option(help: ArgumentHelp("Class names, one per line, in the model's order (default: the weights' own, else Configs/labels/kinetics400.txt "
        + "for 400 classes, else the list's names sorted)."))
    var labels: String?

    @OptionGroup var view: ViewOptions

    @Option(help: "How views combine: mean, sum or max.")
    var ensemble: Ensemble = .mean

    @Option(help: "Folder for predictions.jsonl, confusion.csv, confusion.svg and eval.json.")
    var out: String?

    @Flag(help: "Print one JSON document (the figures, the confusion matrix, every video's top classes) instead of the summary line.")
    var json = false

    @Flag(help: "No progress display.")
    var quiet = false

    @Flag(help: "Allow random weights (--config without --weights): to try the pipeline; the accuracy is chance.")
    var allowUntrained = false

    /// What --json prints: the model and protocol (as classify's document) and the evaluation.
    struct Document: Encodable {
        var model: String
        var weights: String?
        var classes: [String]
        var untrained: Bool
        var protocolUsed: ViewProtocol
        var ensemble: Ensemble
        var evaluation: Evaluation

        enum CodingKeys: String, CodingKey { case model, weights, classes, untrained, protocolUsed, ensemble }

        func encode(to encoder: Encoder) throws {
            try evaluation.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(model, forKey: .model)
            try c.encodeIfPresent(weights, forKey: .weights)
            try c.encode(classes, forKey: .classes)
            try c.encode(untrained, forKey: .untrained)
            try c.encode(protocolUsed, forKey: .protocolUsed)
            try c.encode(ensemble, forKey: .ensemble)
        }
    }

    func run() throws {
        let (model, untrained) = try selection.predictionModel(allowUntrained: allowUntrained, verb: "eval")
        try precision.apply(to: model)
        let list = try VideoList(path: data, classes: try selection.knownLabels(for: model, file: labels), part: .test)
        let views = view.viewProtocol(for: model)
        let classifier = VideoClassifier(model: model, labels: list.classes, views: views)
        let weightsFile = untrained ? nil : try selection.weightsFile()
        if !json { selection.printHeader(model, weights: weightsFile, labels: list.classes) }
        let progress = ProgressLine(total: list.items.count, quiet: quiet)
        let result = Evaluation.run(classifier, on: list, ensemble: ensemble) { done, _ in progress.update(completed: done, detail: "videos") }
        progress.finish()
        if json {
            print(try jsonDocument(Document(model: model.config.name, weights: weightsFile, classes: list.classes, untrained: untrained,
                                            protocolUsed: views, ensemble: ensemble, evaluation: result)))
        } else {
            print(String(format: "%d videos (%d unreadable, counted wrong): top-1 %.4f, top-5 %.4f, mean class accuracy %.4f",
                         result.videos, result.failed, result.top1, result.top5, result.meanClassAccuracy))
        }
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
