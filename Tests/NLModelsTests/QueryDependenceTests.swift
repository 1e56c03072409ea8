import NLModels
import NLTensor
import Testing

/// The query-dependence measure on maps whose answer is known.
@Suite("Query dependence")
struct QueryDependenceTests {
    func map(_ rows: [[Float]]) -> AttentionMap {
        let n = rows.count, m = rows[0].count
        return AttentionMap(block: "s4.pathway0_nonlocal1", weights: Tensor(shape: [1, n, m], scalars: rows.flatMap { $0 }),
                            input: [1, 1, 1, n, 8], options: NonLocalConfig(), temporalGroup: 0)
    }

    @Test func identicalMapsAreQueryIndependent() {
        let row: [Float] = [0.7, 0.1, 0.1, 0.05, 0.05, 0, 0, 0]
        let d = map(Array(repeating: row, count: 6)).queryDependence(pairs: 500)
        #expect(d.betweenQueries < 1e-9 && d.shuffled > 0.3 && d.ratio < 1e-6, "\(d)")
        #expect(d.block == "res4_nonlocal1" && d.queries == 6 && d.keys == 8)
    }

    /// Each query looks at its own key only: JS between two one-hot maps at different keys is
    /// 1 bit, as for a shuffled pair unless the shuffle lands on the same key.
    @Test func mapsOnDifferentKeysAreQueryDependent() {
        let rows = (0..<8).map { i in (0..<8).map { Float($0 == i ? 1 : 0) } }
        let d = map(rows).queryDependence(pairs: 2000, seed: 3)
        #expect(abs(d.betweenQueries - 1) < 1e-9)
        #expect(abs(d.shuffled - 7.0 / 8) < 0.05 && d.ratio > 1, "\(d)")
    }
}
