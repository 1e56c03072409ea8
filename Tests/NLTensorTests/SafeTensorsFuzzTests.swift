import Foundation
import NLTensor
import Testing

/// The safetensors inputs of `make fuzz-weights`: the seeds (Fuzz/corpus-weights/safetensors)
/// load with every tensor readable, and inputs kept from fuzzing
/// (Fuzz/regressions-weights/safetensors, if any) load or are refused with an error naming the file.
@Suite("safetensors fuzz inputs")
struct SafeTensorsFuzzTests {
    static let fuzz = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz")

    static func files(_ folder: String) -> [String] {
        let dir = fuzz.appendingPathComponent(folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.sorted().map { dir.appendingPathComponent($0).path }
    }

    func readAll(_ path: String) throws -> Int {
        let file = try SafeTensors(contentsOf: path)
        for name in file.names { _ = try file.tensor(name).scalars }
        return file.names.count
    }

    @Test func seedsLoad() throws {
        let seeds = Self.files("corpus-weights/safetensors")
        #expect(!seeds.isEmpty)
        for path in seeds { #expect(try readAll(path) > 0, "\(path)") }
    }

    @Test func findingsAreHandled() {
        for path in Self.files("regressions-weights/safetensors") {
            do { _ = try readAll(path) } catch {
                #expect(error is TensorFileError && "\(error)".hasPrefix(path), "\(type(of: error)): \(error)")
            }
        }
    }
}
