import Foundation
import NLModels
import NLTensor
import Testing

/// Whole networks against the PyTorch reference (Tests/Fixtures/reference_model.py).
struct ModelFixtures: Sendable {
    struct Case: Decodable, Sendable, CustomTestStringConvertible {
        let name: String
        let weights: [String: String]
        let input: String
        let fcn_input: String
        let train: Bool?
        var testDescription: String { name }
    }

    static let shared = ModelFixtures()
    let file: SafeTensors
    let cases: [Case]
    let configs: [String: String]

    init() {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
        file = try! SafeTensors(contentsOf: dir.appendingPathComponent("models.safetensors").path)
        let json = Data(file.metadata["cases"]!.utf8)
        cases = try! JSONDecoder().decode([Case].self, from: json)
        // The config of each case, re-serialised as JSON text (JSON is YAML).
        let raw = try! JSONSerialization.jsonObject(with: json) as! [[String: Any]]
        configs = Dictionary(uniqueKeysWithValues: raw.map {
            ($0["name"] as! String, String(decoding: try! JSONSerialization.data(withJSONObject: $0["config"]!), as: UTF8.self))
        })
    }

    func model(_ c: Case) throws -> ResNet3D {
        let config = try ModelConfig.parse(yaml: configs[c.name]!, source: c.name)
        let specs = Architecture(config.model).parameterSpecs(config.model)
        var weights: [String: Tensor] = [:]
        for spec in specs {
            let key = try #require(c.weights[spec.name], "fixture \(c.name) lacks \(spec.name)")
            weights[spec.name] = spec.fromTorch(try file.tensor(key))
        }
        #expect(weights.count == c.weights.count, "PyTorch has \(c.weights.count) tensors, the Swift model \(weights.count)")
        return try ResNet3D(config: config, weights: weights)
    }
}

@Suite("Networks match PyTorch")
struct ModelParityTests {
    static let logitTolerance: Float = 1e-4
    let f = ModelFixtures.shared

    @Test(arguments: ModelFixtures.shared.cases)
    func logitsMatchInBothPaths(_ c: ModelFixtures.Case) throws {
        let model = try f.model(c)
        let x = try f.file.tensor(c.input)
        let expected = try f.file.tensor("\(c.name)/logits")
        expectClose(model.logits(x, fused: false), expected, Self.logitTolerance, "\(c.name) logits (plain ops)")
        expectClose(model.logits(x, fused: true), expected, Self.logitTolerance, "\(c.name) logits (fused inference)")
    }

    @Test(arguments: ModelFixtures.shared.cases)
    func fullyConvolutionalTestHeadMatches(_ c: ModelFixtures.Case) throws {
        let model = try f.model(c)
        let p = model.predict(try f.file.tensor(c.fcn_input))
        expectClose(p.windowLogits, try f.file.tensor("\(c.name)/fcn_window_logits"), Self.logitTolerance, "\(c.name) window logits")
        expectClose(p.probabilities, try f.file.tensor("\(c.name)/fcn_probabilities"), Self.logitTolerance, "\(c.name) probabilities")
    }

    /// bf16 inference against PyTorch's fp32 logits: within bf16's rounding (8 significant
    /// bits; docs/precision.md reports the measured errors), the same top class.
    @Test(.enabled(if: Precision.bf16.unsupportedReason == nil), arguments: ModelFixtures.shared.cases)
    func bf16LogitsStayNearFP32(_ c: ModelFixtures.Case) throws {
        let model = try f.model(c)
        try model.usePrecision(.bf16)
        let expected = try f.file.tensor("\(c.name)/logits")
        let logits = model.logits(try f.file.tensor(c.input), fused: true)
        expectClose(logits, expected, 1e-2, "\(c.name) bf16 logits")
        print("bf16 logits of \(c.name): relative error \(logits.maxAbsDifference(expected) / max(expected.maxAbs, 1e-3)) against PyTorch fp32")
        #expect(logits.maxAbsDifference(expected) > 0, "\(c.name): bf16 logits equal fp32's exactly: the bf16 path did not run")
    }

    @Test func trainingModeMatchesWithRunningStatistics() throws {
        let c = try #require(f.cases.first { $0.train == true })
        let model = try f.model(c)
        var stats: [String: BatchNormStatistics] = [:]
        var rng = RandomSource(seed: 1)
        let logits = model.trainingLogits(try f.file.tensor(c.input), weights: model.weights, statistics: &stats, rng: &rng)
        expectClose(logits, try f.file.tensor("\(c.name)/train_logits"), Self.logitTolerance, "train-mode logits")
        #expect(stats.count == model.specs.filter { $0.name.hasSuffix(".running_mean") }.count)
        for (prefix, s) in stats {
            expectClose(s.mean, try f.file.tensor("\(c.name)/train_stats/\(prefix).running_mean"), 1e-4, "\(prefix) running mean")
            expectClose(s.variance, try f.file.tensor("\(c.name)/train_stats/\(prefix).running_var"), 1e-4, "\(prefix) running var")
        }
    }
}

func expectClose(_ actual: Tensor, _ expected: Tensor, _ tolerance: Float, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    guard actual.shape == expected.shape else {
        Issue.record("\(what): shape \(actual.shape), expected \(expected.shape)", sourceLocation: sourceLocation)
        return
    }
    let error = actual.maxAbsDifference(expected) / max(expected.maxAbs, 1e-3)
    #expect(error <= tolerance, "\(what): relative error \(error) > \(tolerance)", sourceLocation: sourceLocation)
}
