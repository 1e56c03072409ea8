import NLTensor
import Testing

/// The fused attention of inference (NonLocalBlock's y = softmax(θφᵀ) g, DANet's position
/// attention) against the unfused ops it replaces, which OpParityTests checks against PyTorch:
/// shapes of one tile, of two tiles per batch entry (P in pieces of ~8 MB: 3495 + 505 query
/// rows against 600 keys), batches, a single query row, and the dot-product instantiation's scale.
@Suite("Fused attention")
struct AttentionTests {
    @Test(arguments: [(1, 12, 9, 8, 5), (2, 700, 300, 24, 40), (1, 4000, 600, 16, 8), (3, 1, 7, 4, 3)])
    func matchesTheUnfusedOps(_ b: Int, _ n: Int, _ m: Int, _ d: Int, _ dv: Int) {
        let q = randomTensor([b, n, d], seed: 51, scale: 0.5), k = randomTensor([b, m, d], seed: 52, scale: 0.5)
        let v = randomTensor([b, m, dv], seed: 53)
        let softmaxed = matmul(softmax(matmul(q, k, transposeB: true)), v)
        expectClose(attention(queries: q, keys: k, values: v, normalization: .softmax), softmaxed, Tolerance.forward,
                    "softmax \([b, n, m, d, dv])")
        let scaled = matmul(matmul(q, k, transposeB: true) * (1 / Float(m)), v)
        expectClose(attention(queries: q, keys: k, values: v, normalization: .scale(1 / Float(m))), scaled, Tolerance.forward,
                    "scale \([b, n, m, d, dv])")
    }
}
