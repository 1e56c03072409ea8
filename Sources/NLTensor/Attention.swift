/// How pairwise weights are normalised over the keys.
public enum AttentionNormalization: Sendable {
    /// softmax over j of θ_iᵀφ_j
    case softmax
    /// θ_iᵀφ_j × factor (the dot-product instantiation's 1/M)
    case scale(Float)
}

/// y = P · values with P = normalise(queries · keysᵀ), computed a tile of query rows at a
/// time in one reused buffer, so the N×M matrix never exists whole. Every row still sees
/// every key: the result equals the unfused ops up to float rounding. Inference only (no tape).
///
/// Shapes: queries [B, N, d], keys [B, M, d], values [B, M, dv] → [B, N, dv].
public func attention(queries q: Tensor, keys k: Tensor, values v: Tensor, normalization: AttentionNormalization) -> Tensor {
    require(q.rank == 3 && k.rank == 3 && v.rank == 3 && q.shape[0] == k.shape[0] && k.shape[0] == v.shape[0]
            && q.shape[2] == k.shape[2] && k.shape[1] == v.shape[1],
            "attention: queries \(q.shape), keys \(k.shape), values \(v.shape) must be [B, N, d], [B, M, d], [B, M, dv]")
    let (b, n, d, m, dv) = (q.shape[0], q.shape[1], q.shape[2], k.shape[1], v.shape[2])
    let y = Tensor(uninitialized: [b, n, dv])
    // A tile of query rows × all keys stays around 8 MB.
    let tile = max(16, min(n, (2 << 20) / max(m, 1)))
    let buffer = UnsafeMutablePointer<Float>.allocate(capacity: tile * m)
    defer { buffer.deallocate() }
    for batch in 0..<b {
        let qb = q.pointer + batch * n * d, kb = k.pointer + batch * m * d, vb = v.pointer + batch * m * dv
        for first in stride(from: 0, to: n, by: tile) {
            let rows = min(tile, n - first)
            let alpha: Float
            if case .scale(let s) = normalization { alpha = s } else { alpha = 1 }
            sgemm(transB: true, m: rows, n: m, k: d, alpha: alpha, a: qb + first * d, lda: d, b: kb, ldb: d, c: buffer, ldc: m)
            if case .softmax = normalization { softmaxRows(buffer, into: buffer, rows: rows, width: m) }
            sgemm(m: rows, n: dv, k: m, a: buffer, lda: m, b: vb, ldb: dv, c: y.pointer + (batch * n + first) * dv, ldc: dv)
        }
    }
    return y
}
