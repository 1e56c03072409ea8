import Foundation
import NLModels
import NLTensor
import Testing

let configsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Configs")

func preset(_ name: String, _ overrides: [String] = []) throws -> ModelConfig {
    try ModelConfig.load(path: configsDirectory.appendingPathComponent(name + ".yaml").path, overrides: overrides)
}

@Suite("Configs")
struct ConfigTests {
    @Test func everyPresetLoads() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: configsDirectory.path).filter { $0.hasSuffix(".yaml") }
        #expect(files.count >= 20)
        for file in files { _ = try ModelConfig.load(path: configsDirectory.appendingPathComponent(file).path) }
    }

    func expectConfigError(_ yaml: String, keyPath: String, mentioning text: String,
                           sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try ModelConfig.parse(yaml: yaml, source: "test.yaml")
            Issue.record("no error for:\n\(yaml)", sourceLocation: sourceLocation)
        } catch let e as ConfigError {
            #expect(e.keyPath == keyPath, "\(e)", sourceLocation: sourceLocation)
            #expect(e.message.contains(text), "\(e)", sourceLocation: sourceLocation)
            #expect(e.description.hasPrefix("test.yaml: "), sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func mistakesNameTheKeyPath() {
        expectConfigError("model: {depht: 50}", keyPath: "model.depht", mentioning: "unknown key")
        expectConfigError("model: {nonlocal: {blocks: {res4: [1, 6]}}}", keyPath: "model.nonlocal.blocks.res4", mentioning: "past the end of res4")
        expectConfigError("model: {nonlocal: {blocks: {res7: [1]}}}", keyPath: "model.nonlocal.blocks.res7", mentioning: "unknown key")
        expectConfigError("model: {arch: c3d}", keyPath: "model.arch", mentioning: "allowed: c2d, i3d")
        expectConfigError("model: {depth: 34}", keyPath: "model.depth", mentioning: "50 or 101")
        expectConfigError("model: {arch: c2d, inflation: 3x3x3}", keyPath: "model.inflation", mentioning: "i3d only")
        expectConfigError("model: {nonlocal: {mode: time, blocks: 5-block}}", keyPath: "model.nonlocal.subsample", mentioning: "cannot apply")
        expectConfigError("model: {depth: 101, nonlocal: {blocks: 10-block}}", keyPath: "model.nonlocal.blocks", mentioning: "ResNet-50 only")
        expectConfigError("model: {nonlocal: {blocks: 7-block}}", keyPath: "model.nonlocal.blocks", mentioning: "unknown preset")
        expectConfigError("model: {width: many}", keyPath: "model.width", mentioning: "whole number")
    }

    @Test func presetsAndOverrides() throws {
        let c = try preset("i3d_nonlocal_8x8_r50")
        #expect(c.model.nonlocal.blocks == ["res3": [1, 3], "res4": [1, 3, 5]])
        let r101 = try preset("i3d_nonlocal_8x8_r50", ["model.depth=101"])
        #expect(r101.model.nonlocal.blocks == ["res3": [1, 3], "res4": [6, 13, 20]], "the preset expands for the overridden depth")
        let expanded = try ModelConfig.blocks(forPreset: "5-block", depth: 101)
        #expect(expanded == ["res3": [1, 3], "res4": [6, 13, 20]])
        let dot = try preset("i3d_nonlocal_8x8_r50", ["model.nonlocal.instantiation=dot_product", "model.nonlocal.blocks={res4: [2]}"])
        #expect(dot.model.nonlocal.instantiation == .dotProduct && dot.model.nonlocal.blocks == ["res4": [2]])
        #expect(try ModelConfig.blocks(forPreset: "1-block", depth: 50) == ["res4": [4]])
    }

    @Test func yamlRoundTrip() throws {
        let c = try preset("mmaction2_i3d_nl_gaussian_32x2_r50")
        #expect(try ModelConfig.parse(yaml: try c.yaml(), source: "round trip") == c)
    }
}

@Suite("Model")
struct ModelTests {
    static func tiny(_ overrides: [String] = []) throws -> ModelConfig {
        try preset("i3d_nonlocal_8x8_r50", ["model.width=4", "model.classes=7", "model.train_crop=64"] + overrides)
    }

    /// A new NL block's BN has γ = 0, so the 5-block network at init computes the backbone.
    @Test func nonLocalBlocksStartAsTheIdentity() throws {
        let withNL = ResNet3D(config: try Self.tiny(), seed: 3)
        // Random non-zero BN γ elsewhere, so the test is not trivially about zeros.
        var rng = RandomSource(seed: 9)
        for spec in withNL.specs where spec.name.hasSuffix("c_bn.weight") {
            withNL.setWeight(spec.name, Tensor(shape: spec.shape, scalars: (0..<spec.shape[0]).map { _ in 0.5 + rng.nextUnit() }))
        }
        let without = try ResNet3D(config: try Self.tiny(["model.nonlocal.blocks=none"]),
                                   weights: withNL.weights.filter { !$0.key.contains("nonlocal") })
        let x = randomClip([1, 8, 48, 48, 3], seed: 1)
        let a = withNL.logits(x), b = without.logits(x)
        #expect(a.maxAbsDifference(b) <= 1e-5 * max(b.maxAbs, 1), "NL at init changed the output")
        #expect(b.maxAbs > 1e-4, "the head must produce something non-trivial")
    }

    @Test func saveAndLoadRoundTrip() throws {
        let model = ResNet3D(config: try Self.tiny(), seed: 5)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-model-\(getpid()).safetensors").path
        defer { unlink(path) }
        try model.save(to: path)
        let loaded = try ResNet3D.load(path: path)
        #expect(loaded.config == model.config)
        let x = randomClip([1, 8, 48, 48, 3], seed: 2)
        // The first pass at a shape may time conv algorithms while it runs (and round
        // differently from the one chosen): warm up, then compare bit for bit.
        _ = model.logits(x)
        #expect(loaded.logits(x).maxAbsDifference(model.logits(x)) == 0)
        // The file holds PyTorch layouts under SlowFast names.
        let file = try SafeTensors(contentsOf: path)
        #expect(file["s1.pathway0_stem.conv.weight"]?.shape == [4, 3, 5, 7, 7])
        #expect(file["head.projection.weight"]?.shape == [7, 128])
        #expect(file["s4.pathway0_nonlocal3.conv_theta.weight"]?.shape == [32, 64, 1, 1, 1])
    }

    @Test func loadingTheWrongWeightsNamesTheTensor() throws {
        let model = ResNet3D(config: try Self.tiny(), seed: 5)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-wrong-\(getpid()).safetensors").path
        defer { unlink(path) }
        try model.save(to: path)
        do {
            _ = try ResNet3D.load(path: path, config: try Self.tiny(["model.classes=9"]))
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("'head.projection.weight' has shape [7, 128]") && "\(error)".contains("[9, 128]"), "\(error)")
        }
        do {
            _ = try ResNet3D.load(path: path, config: try Self.tiny(["model.nonlocal.blocks=none"]))
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("unexpected tensor") && "\(error)".contains("nonlocal"), "\(error)")
        }
        do {
            _ = try ResNet3D.load(path: path, config: try Self.tiny(["model.nonlocal.blocks=10-block"]))
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("missing tensor"), "\(error)")
        }
    }

    /// Totals equal the analytic counts of docs/architecture.md#parameters-and-multiply-adds (params, GMACs per view).
    @Test(arguments: [
        ("c2d_baseline_8x8_r50", 8, 224, 24.33, 19.3), ("c2d_nonlocal_8x8_r50", 8, 224, 31.69, 27.4),
        ("i3d_baseline_8x8_r50", 8, 224, 28.04, 28.1), ("i3d_nonlocal_8x8_r50", 8, 224, 35.40, 36.2),
        ("i3d_nonlocal_8x8_r50", 8, 256, 35.40, 48.6), ("c2d_baseline_32x2_r50", 32, 224, 24.33, 20.2),
        ("i3d_baseline_32x2_r50", 32, 256, 28.04, 42.9), ("i3d_nonlocal_32x2_r50", 32, 224, 35.40, 41.0),
        ("nl_i3d_r101_32x2", 32, 224, 59.11, 59.5),
    ])
    func summaryMatchesTheSpec(_ name: String, _ frames: Int, _ size: Int, _ params: Double, _ gmacs: Double) throws {
        let c = try preset(name)
        let s = ModelSummary.of(Architecture(c.model), options: c.model, frames: frames, size: size)
        #expect(abs(Double(s.parameters) / 1e6 - params) < 0.005, "\(name): \(Double(s.parameters) / 1e6)M parameters")
        #expect(abs(Double(s.macs) / 1e9 - gmacs) < 0.05, "\(name): \(Double(s.macs) / 1e9) GMACs")
    }
}

func randomClip(_ shape: [Int], seed: UInt64) -> Tensor {
    var rng = RandomSource(seed: seed)
    return Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in rng.nextUnit() * 2 - 1 })
}
