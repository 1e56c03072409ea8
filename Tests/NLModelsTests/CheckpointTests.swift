import Foundation
import NLModels
import NLTensor
import Testing

/// Checkpoints written by pickle/numpy and torch.save (Tests/Fixtures/make_fixtures.py) from the
/// PyTorch reference networks: after conversion the logits equal PyTorch's.
@Suite("Official checkpoint formats")
struct CheckpointTests {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/checkpoints")
    let f = ModelFixtures.shared

    func path(_ name: String) -> String { Self.dir.appendingPathComponent(name).path }
    func fixtureConfig(_ name: String) throws -> ModelConfig { try ModelConfig.parse(yaml: f.configs[name]!, source: name) }

    func expectLogits(_ model: ResNet3D, _ variant: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let c = try #require(f.cases.first { $0.name == variant })
        expectClose(model.logits(try f.file.tensor(c.input)), try f.file.tensor("\(variant)/logits"), 1e-4, "\(variant) logits",
                    sourceLocation: sourceLocation)
    }

    @Test func caffe2PickleDetectedAndExact() throws {
        let (model, report) = try CheckpointConverter.convert(path: path("nl_i3d_r50.pkl"), config: nil)
        #expect(model.config.model.arch == .i3d && model.config.model.depth == 50 && model.config.model.layout == .official)
        #expect(model.config.model.nonlocal.blocks == ["res3": [1, 3], "res4": [1, 3, 5]])
        #expect(report.loaded == model.specs.count && report.initialized.isEmpty)
        #expect(report.skipped.contains { $0.0 == "lr" } && report.skipped.contains { $0.0.hasSuffix("_momentum") })
        try expectLogits(model, "nl_i3d_r50")
    }

    @Test func pySlowFastCheckpointDetectedAndExact() throws {
        let (model, _) = try CheckpointConverter.convert(path: path("nl_i3d_r50_slowfast.pyth"), config: nil)
        #expect(model.config.model.layout == .slowfast)
        try expectLogits(model, "nl_i3d_r50_slowfast")
    }

    @Test func mmaction2CheckpointMapsNamesAndOptions() throws {
        let (detected, _) = try CheckpointConverter.convert(path: path("nl_mmaction2.pth"), config: nil)
        #expect(detected.config.model.nonlocal.subsample == .after && !detected.config.model.nonlocal.outBias
                && !detected.config.model.nonlocal.scale && detected.config.input.normalization == .imagenet)
        let (model, _) = try CheckpointConverter.convert(path: path("nl_mmaction2.pth"), config: try fixtureConfig("nl_mmaction2"))
        try expectLogits(model, "nl_mmaction2")
    }

    @Test func imagenetWeightsAreInflated() throws {
        let c2d = try fixtureConfig("c2d_r50")
        let (model, report) = try CheckpointConverter.convert(path: path("resnet50_imagenet_tv.pth"), config: c2d)
        #expect(report.initialized == ["head.projection.weight", "head.projection.bias"])
        #expect(report.skipped.contains { $0.0 == "fc.weight" })
        // Every backbone tensor equals the network the 2D weights came from.
        let c = try #require(f.cases.first { $0.name == "c2d_r50" })
        for spec in model.specs where !spec.name.hasPrefix("head") {
            #expect(model.weights[spec.name]!.scalars == spec.fromTorch(try f.file.tensor(c.weights[spec.name]!)).scalars, "\(spec.name)")
        }
        var i3d = c2d
        i3d.model.arch = .i3d
        let (inflated, r) = try CheckpointConverter.convert(path: path("resnet50_imagenet_tv.pth"), config: i3d)
        #expect(r.inflated > 0)
        // conv1 2D (O, I, 7, 7) became (O, I, 5, 7, 7) with each frame w/5.
        let w2d = try f.file.tensor(c.weights["s1.pathway0_stem.conv.weight"]!).reshaped([4, 3, 7, 7])
        let w5 = model.specs.first { $0.name == "s1.pathway0_stem.conv.weight" }!
        let inflatedTorch = inflated.specs.first { $0.name == w5.name }!.toTorch(inflated.weights[w5.name]!)
        #expect(inflatedTorch.shape == [4, 3, 5, 7, 7])
        for t in 0..<5 { #expect(inflatedTorch.slice(axis: 2, range: t..<(t + 1)).reshaped([4, 3, 7, 7]).maxAbsDifference(w2d * 0.2) < 1e-7) }
    }

    @Test func wrongConfigNamesTheTensorAndBothShapes() throws {
        var wrong = try fixtureConfig("nl_i3d_r50")
        wrong.model.classes = 11
        do {
            _ = try CheckpointConverter.convert(path: path("nl_i3d_r50.pkl"), config: wrong)
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("head.projection.weight") && "\(error)".contains("[10, 128]") && "\(error)".contains("[11, 128]"), "\(error)")
        }
    }

    func expectRefused(_ bytes: [UInt8], _ name: String, mentioning text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-\(getpid())-\(name)").path
        _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
        defer { unlink(p) }
        do {
            _ = try CheckpointConverter.convert(path: p, config: nil)
            Issue.record("\(name): no error", sourceLocation: sourceLocation)
        } catch {
            #expect("\(error)".hasPrefix(p) && "\(error)".contains(text), "\(name): \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func hostileFilesAreRefusedCleanly() throws {
        let pkl = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path("nl_i3d_r50.pkl"))))
        expectRefused(Array(pkl.prefix(pkl.count / 2)), "truncated.pkl", mentioning: "pickle:")
        expectRefused([0x80, 0x02, 0xFF, 0x2E], "opcode.pkl", mentioning: "unsupported opcode 0xff")
        // BINBYTES claiming 4 GB in a 12-byte file.
        expectRefused([0x80, 0x03, 0x42, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x2E], "huge.pkl", mentioning: "runs past the end")
        // Two million nested MARKs.
        expectRefused([0x80, 0x02] + [UInt8](repeating: 0x28, count: 2_000_000) + [0x2E], "deep.pkl", mentioning: "stack deeper")
        // GET of a memo slot never written, and a list that holds itself.
        expectRefused([0x80, 0x02, 0x68, 0x07, 0x2E], "memo.pkl", mentioning: "never stored")
        expectRefused([0x80, 0x02, 0x5D, 0x71, 0x00, 0x68, 0x00, 0x61, 0x2E], "self.pkl", mentioning: "not a dict of blobs")
        expectRefused([0x80, 0x02, 0x4B, 0x05, 0x2E], "int.pkl", mentioning: "not a dict of blobs")
        expectRefused(Array("PK\u{03}\u{04}garbage that is not a zip".utf8), "bad.pth", mentioning: "zip")
        expectRefused(Array("hello".utf8), "text.pkl", mentioning: "not a Caffe2 pickle")
    }
}

@Suite("numpy arrays in pickles")
struct NumpyArrayTests {
    /// Arrays numpy itself pickled: Fortran order, big-endian, float64/16, int64, uint8.
    @Test func layoutsAndDtypesDecode() throws {
        let raw = try CheckpointReader.read(path: CheckpointTests.dir.appendingPathComponent("odd_arrays.pkl").path)
        let fortran = try #require(raw.tensors["fortran_f4"])
        #expect(fortran.shape == [2, 3, 4] && fortran.scalars == (0..<24).map(Float.init), "row-major values of a Fortran-ordered array")
        #expect(raw.tensors["big_endian_f4"]?.scalars == [0, 1.5, 3, 4.5, 6])
        let f8 = try #require(raw.tensors["f8"]?.scalars)
        #expect(f8.count == 7 && abs(f8[0] + 1) < 1e-7 && abs(f8[6] - 1) < 1e-7)
        #expect(raw.tensors["f2"]?.scalars == [0, 0.25, 0.5, 0.75])
        #expect(raw.tensors["i8"]?.scalars == [-3, -2, -1, 0, 1, 2])
        #expect(raw.tensors["u1"]?.scalars == [250, 251, 252, 253, 254, 255])
    }
}
