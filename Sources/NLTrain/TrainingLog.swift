import Foundation

/// The training log read back: per-step rows from metrics.jsonl (a resumed run repeats the
/// steps after its last checkpoint; the later row wins), per-epoch means, and the curve.
public enum TrainingLog {
    /// The steps of one epoch of training, summarised: a row of epochs.csv and epochs.jsonl.
    public struct EpochSummary: Codable, Sendable, Equatable {
        /// The epoch (a pass over the shuffled training list), from 0.
        public var epoch: Int
        /// Steps logged in the epoch.
        public var steps: Int
        /// The epoch's last step number.
        public var lastIteration: Int
        /// Mean training loss (cross-entropy) over the epoch's steps.
        public var loss: Double
        /// Mean training-batch top-1 over the epoch's steps, a fraction.
        public var accuracy: Double
        /// The learning rate of the epoch's last step.
        public var learningRate: Double
        /// Mean training throughput, clips per second.
        public var clipsPerSecond: Double
    }

    /// The steps of metrics.jsonl under `directory`, one per iteration, in order.
    public static func steps(in directory: URL) -> [Trainer.StepLog] {
        let text = (try? String(contentsOf: directory.appendingPathComponent("metrics.jsonl"), encoding: .utf8)) ?? ""
        var byIteration: [Int: Trainer.StepLog] = [:]
        for line in text.split(separator: "\n") {
            if let row = try? JSONDecoder().decode(Trainer.StepLog.self, from: Data(line.utf8)) { byIteration[row.iteration] = row }
        }
        return byIteration.keys.sorted().map { byIteration[$0]! }
    }

    /// Means of loss, batch accuracy and clips/s over each epoch's steps; the epoch's last rate.
    public static func epochs(_ steps: [Trainer.StepLog]) -> [EpochSummary] {
        let byEpoch = Dictionary(grouping: steps, by: \.epoch)
        return byEpoch.keys.sorted().map { epoch in
            let rows = byEpoch[epoch]!
            func mean(_ f: (Trainer.StepLog) -> Double) -> Double { rows.map(f).reduce(0, +) / Double(rows.count) }
            return EpochSummary(epoch: epoch, steps: rows.count, lastIteration: rows.last!.iteration,
                                loss: mean { Double($0.loss) }, accuracy: mean { Double($0.accuracy) },
                                learningRate: Double(rows.last!.learningRate), clipsPerSecond: mean(\.clipsPerSecond))
        }
    }

    /// epochs.csv, epochs.jsonl and curve.svg (loss and batch accuracy per step, drawn by
    /// SVGChart) under `directory`, from its metrics.jsonl.
    public static func writeSummaries(in directory: URL) throws {
        let steps = steps(in: directory)
        let epochs = epochs(steps)
        var csv = ["epoch,steps,last_iteration,loss,accuracy,learning_rate,clips_per_second"]
        var jsonl: [String] = []
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for e in epochs {
            csv.append(String(format: "%d,%d,%d,%.6f,%.6f,%.6g,%.3f", e.epoch, e.steps, e.lastIteration, e.loss, e.accuracy, e.learningRate, e.clipsPerSecond))
            jsonl.append(String(decoding: try encoder.encode(e), as: UTF8.self))
        }
        try (csv.joined(separator: "\n") + "\n").write(to: directory.appendingPathComponent("epochs.csv"), atomically: true, encoding: .utf8)
        try (jsonl.map { $0 + "\n" }.joined()).write(to: directory.appendingPathComponent("epochs.jsonl"), atomically: true, encoding: .utf8)
        let svg = SVGChart.lines(title: "training", xLabel: "step", series: [
            ("loss", steps.map { (Double($0.iteration), Double($0.loss)) }),
            ("batch accuracy", steps.map { (Double($0.iteration), Double($0.accuracy)) }),
        ])
        try svg.write(to: directory.appendingPathComponent("curve.svg"), atomically: true, encoding: .utf8)
    }
}
