import Foundation
import NLModels
import Testing

/// Inputs kept from `make fuzz-weights` (Fuzz/regressions-weights/<reader>): each once crashed,
/// hung or exhausted memory in a reader. Each now loads, or is refused with the reader's own
/// error naming the file; the seeds (Fuzz/corpus-weights) all load.
@Suite("Fuzzer findings in model files stay fixed", .timeLimit(.minutes(2)))
struct WeightsFuzzRegressionTests {
    static let fuzz = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz")

    static func files(_ folder: String) throws -> [String] {
        let dir = fuzz.appendingPathComponent(folder)
        return try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted().map { dir.appendingPathComponent($0).path }
    }

    /// What each finding is refused with now (inputs not listed: any error naming the file).
    static let expected = [
        "nested-tuples.pkl": "nested more than 1000 deep",          // stack overflow releasing/printing the value
        "shared-tuples.pkl": "not a dict of blobs",                  // printing (x, x) of (x, x)… never ended
        "wrapping-shape.pkl": "bad shape", "wrapping-shape3.pkl": "bad shape",  // element count overflow trap
        "wrapping-size.pth": "more elements than its storage",      // element count overflow trap
        "repeated-view.pth": "more elements than its storage",      // 8 GB for a stride-0 view of 2 floats
        "claimed-size.pth": "claims 4294967280 bytes", "claimed-size-fuzzed.pth": "claims 3282743429 bytes",
        "corrupted-deflate.pth": "cannot be read: corruptedData",   // was ZIPFoundation's bare error
        "bad-compression-method.pth": "cannot be read: invalidCompressionMethod",
        "list-key.yaml": "a mapping key that is a list or a mapping",  // Yams force-unwrap
        "deep-brackets.yaml": "nested too deeply",                  // stack overflow in Yams's parser
        "billion-laughs.yaml": "more than 100000 values", "merge-bomb.yaml": "more than 100000 values",
        "huge-width.yaml": "model.width: must be at most", "huge-classes.yaml": "model.classes: must be at most",
        "huge-frames.yaml": "input.frames: must be at most", "huge-crop.yaml": "input.short_side: must be at most",
        // Yams's unchecked base-60 integers (1:30 is 90): eleven parts overflowed
        "sexagesimal-fuzzed.yaml": "too large for 64 bits", "sexagesimal-int.yaml": "too large for 64 bits",
        "sexagesimal-string.yaml": "too large for 64 bits",
    ]

    func expectRefusal(_ error: Error, _ path: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let text = "\(error)"
        #expect(text.hasPrefix(path), "\(type(of: error)) does not name the file: \(text)", sourceLocation: sourceLocation)
        if let fragment = Self.expected[URL(fileURLWithPath: path).lastPathComponent] {
            #expect(text.contains(fragment), "\(text)", sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: ["pickle", "torchzip"])
    func checkpointFindings(_ reader: String) throws {
        let files = try Self.files("regressions-weights/\(reader)")
        #expect(!files.isEmpty)
        for path in files {
            do {
                let raw = try CheckpointReader.read(path: path)
                Issue.record("\(path) loaded (\(raw.order.count) tensors): expected a refusal")
            } catch let error as ModelError {
                expectRefusal(error, path)
            }
        }
    }

    @Test(arguments: ["pickle", "torchzip"])
    func checkpointSeedsLoad(_ reader: String) throws {
        for path in try Self.files("corpus-weights/\(reader)") {
            let raw = try CheckpointReader.read(path: path)
            #expect(!raw.order.isEmpty || path.contains("plain_p"), "\(path): no tensors")
        }
    }

    /// A config that loads must also give the network, `nlnet info`'s summary and YAML that
    /// reads back as the same config (what the fuzz target checks).
    func use(_ config: ModelConfig) throws {
        let architecture = Architecture(config.model)
        _ = ModelSummary.of(architecture, options: config.model, frames: config.input.frames, size: config.input.crop)
        _ = ModelSummary.of(architecture, options: config.model, frames: config.input.frames, size: 224)
        #expect(try ModelConfig.parse(yaml: try config.yaml(), source: "written back") == config)
    }

    @Test func configFindings() throws {
        let files = try Self.files("regressions-weights/config")
        #expect(!files.isEmpty)
        for path in files {
            do {
                try use(try ModelConfig.load(path: path))
                Issue.record("\(path) loaded: expected a refusal")
            } catch let error as ConfigError {
                expectRefusal(error, path)
            }
        }
    }

    @Test func configSeedsLoad() throws {
        for path in try Self.files("corpus-weights/config") { try use(try ModelConfig.load(path: path)) }
    }

    /// A `--set` value is parsed as YAML, or kept as text when it is not YAML; either way a
    /// base-60 integer beyond 64 bits is refused before Yams's decoder reads it.
    @Test func overflowingOverrideIsRefused() {
        for value in ["1:2:3:4:5:6:7:8:9:10:11:99", "1:2:3:4:5:6:7:8:9:10:11:99 ["] {
            let error = #expect(throws: ConfigError.self) {
                try ModelConfig.parse(yaml: "name: x", source: "x.yaml", overrides: ["input.frames=\(value)"])
            }
            #expect(error?.description.contains("too large for 64 bits") == true, "\(String(describing: error))")
        }
    }

    /// Findings too large to keep as files: a million nested tuples (the kept one has 1,100),
    /// a hundred thousand brackets (the kept one has 1,100), and indentation.
    @Test func deepNestingInLargeFiles() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("nlnet-\(getpid())-deep.pkl").path
        defer { unlink(path) }
        _ = FileManager.default.createFile(atPath: path, contents: Data([0x80, 0x02, 0x4E] + [UInt8](repeating: 0x85, count: 1_000_000) + [0x2E]))
        let pickle = #expect(throws: ModelError.self) { try CheckpointReader.read(path: path) }
        #expect(pickle?.description.contains("nested more than 1000 deep") == true, "\(String(describing: pickle))")
        let brackets = "name: " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let yaml = #expect(throws: ConfigError.self) { try ModelConfig.parse(yaml: brackets, source: "deep.yaml") }
        #expect(yaml?.description.contains("nested too deeply") == true, "\(String(describing: yaml))")
        // Indentation nests as well: 600 levels of "-" (a bound of 1,202 levels).
        let indented = "name:\n" + (0..<600).map { String(repeating: " ", count: $0) + "-" }.joined(separator: "\n")
        let block = #expect(throws: ConfigError.self) { try ModelConfig.parse(yaml: indented, source: "deep.yaml") }
        #expect(block?.description.contains("nested too deeply") == true, "\(String(describing: block))")
    }
}
