import Foundation
import NLTensor

/// How much a non-local block's attention depends on the query — GCNet's claim, measurable:
/// a trained block that attends the same way from every position could be replaced by one map
/// per clip (a global-context block).
///
/// For random pairs of queries that see the same keys, the Jensen–Shannon divergence (in bits,
/// 0 … 1) between their attention maps; as the reference, the same with one map of each pair
/// shuffled over its keys — two maps exactly as sharp, unrelated in where they look. The ratio
/// is near 0 when every query attends alike, near 1 when queries differ as much as unrelated
/// maps (and above 1 when they look at deliberately different places).
public struct QueryDependence: Codable, Sendable {
    /// The block's layer name, e.g. "res4_nonlocal3".
    public var block: String
    /// Queries in the map: rows of the folded batch × queries per row.
    public var queries: Int
    /// Keys each query attends over (M).
    public var keys: Int
    /// Query pairs actually compared (0 when a row has fewer than two queries).
    public var pairs: Int
    /// Mean JS divergence between the maps of two queries (bits).
    public var betweenQueries: Double
    /// Mean JS divergence between a map and another query's map shuffled over the keys (bits).
    public var shuffled: Double
    /// betweenQueries ÷ shuffled.
    public var ratio: Double
}

extension AttentionMap {
    /// The query dependence of this map over `pairs` random pairs of queries (same seed, same pairs).
    public func queryDependence(pairs: Int = 2000, seed: UInt64 = 0) -> QueryDependence {
        let b = weights.shape[0], n = weights.shape[1], m = weights.shape[2]
        var rng = RandomSource(seed: seed)
        var between = 0.0, shuffled = 0.0, counted = 0
        weights.withUnsafeBufferPointer { w in
            var permutation = Array(0..<m)
            for _ in 0..<pairs where n >= 2 {
                let row = Int(rng.next() % UInt64(b))
                let i = Int(rng.next() % UInt64(n))
                var j = Int(rng.next() % UInt64(n - 1))
                if j >= i { j += 1 }
                let p = w.baseAddress! + (row * n + i) * m, q = w.baseAddress! + (row * n + j) * m
                between += Self.jensenShannon(m) { (p[$0], q[$0]) }
                permutation.shuffle(using: &rng)
                shuffled += Self.jensenShannon(m) { (p[$0], q[permutation[$0]]) }
                counted += 1
            }
        }
        let meanBetween = counted > 0 ? between / Double(counted) : 0
        let meanShuffled = counted > 0 ? shuffled / Double(counted) : 0
        return QueryDependence(block: BlockName.layer(block), queries: b * n, keys: m, pairs: counted, betweenQueries: meanBetween,
                               shuffled: meanShuffled, ratio: meanShuffled > 0 ? meanBetween / meanShuffled : 0)
    }

    /// JS(p, q) in bits for two distributions over m keys, given as pairs (p_k, q_k).
    static func jensenShannon(_ m: Int, _ pair: (Int) -> (Float, Float)) -> Double {
        var total = 0.0
        for k in 0..<m {
            let (a, b) = pair(k)
            let (p, q) = (Double(a), Double(b))
            let mid = (p + q) / 2
            if p > 0 { total += 0.5 * p * log2(p / mid) }
            if q > 0 { total += 0.5 * q * log2(q / mid) }
        }
        return total
    }
}
