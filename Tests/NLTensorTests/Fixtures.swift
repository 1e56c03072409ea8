import Foundation
import NLTensor
import Testing

/// Tolerances against PyTorch: max |swift − torch| / max |torch| (floored at 1e-3).
enum Tolerance {
    static let forward: Float = 1e-5
    static let backward: Float = 1e-4
}

/// The PyTorch reference cases written by Tests/Fixtures/make_fixtures.py.
struct OpFixtures: Sendable {
    struct Case: Decodable, Sendable, CustomTestStringConvertible {
        let name: String
        let op: String
        let params: Params
        var testDescription: String { name }
    }

    struct Params: Decodable, Sendable {
        var stride: [Int]?, padding: [Int]?, dilation: [Int]?, kernel: [Int]?
        var training: Bool?, momentum: Float?, epsilon: Float?
        var transposeA: Bool?, transposeB: Bool?
        var order: [Int]?, scale: Float?, axis: Int?, labels: [Int]?
    }

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let shared = OpFixtures()

    let file: SafeTensors
    let cases: [Case]

    init() {
        let path = OpFixtures.directory.appendingPathComponent("ops.safetensors").path
        file = try! SafeTensors(contentsOf: path)
        cases = try! JSONDecoder().decode([Case].self, from: Data(file.metadata["cases"]!.utf8))
    }

    static func cases(_ op: String) -> [Case] { shared.cases.filter { $0.op == op } }

    func tensor(_ c: Case, _ key: String) -> Tensor {
        guard let t = file["\(c.name)/\(key)"] else { fatalError("fixture \(c.name)/\(key) missing") }
        return t
    }

    func optional(_ c: Case, _ key: String) -> Tensor? { file["\(c.name)/\(key)"] }
}

/// Relative error as the tolerances define it.
func relativeError(_ actual: Tensor, _ expected: Tensor) -> Float {
    actual.maxAbsDifference(expected) / max(expected.maxAbs, 1e-3)
}

func expectClose(_ actual: Tensor?, _ expected: Tensor, _ tolerance: Float, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    guard let actual else {
        Issue.record("\(what): no value", sourceLocation: sourceLocation)
        return
    }
    guard actual.shape == expected.shape else {
        Issue.record("\(what): shape \(actual.shape), expected \(expected.shape)", sourceLocation: sourceLocation)
        return
    }
    let error = relativeError(actual, expected)
    #expect(error <= tolerance, "\(what): relative error \(error) > \(tolerance)", sourceLocation: sourceLocation)
}

/// A deterministic random tensor for tests that need no reference values.
func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var rng = RandomSource(seed: seed)
    let n = shape.reduce(1, *)
    return Tensor(shape: shape, scalars: (0..<n).map { _ in (rng.nextUnit() * 2 - 1) * scale })
}
