import NLTensor

/// Criss-cross attention (Huang, Wang, Huang, Huang, Wei, Liu, "CCNet", ICCV 2019, eq. 1–2)
/// extended to video, in a non-local slot. Each position u = (t, h, w) attends to the positions
/// on its row (t, h, ·), its column (t, ·, w) and its line through time (·, h, w): itself once
/// and the others, H + W + T − 2 keys, one softmax over all of them:
///   d_{i,u} = Q_uᵀ K_{Ω_u,i},  A_u = softmax_i(d_u),  H′_u = γ · Σ_i A_{i,u} V_{Ω_u,i} + H_u
/// Q, K: C/8 channels, V: C. Applied R = 2 times with the same weights (CCNet's recurrent
/// module): in 2D that connects every pair of positions; in 3D two passes reach every position
/// differing from u in at most two of (t, h, w), the rest through the next block. γ starts
/// at 0: the block starts as the identity (docs/attention-family.md#criss-cross).
extension ForwardContext {
    mutating func crissCrossAttention(_ x: Tensor, _ spec: NonLocalSpec) -> Tensor {
        var h = x
        for _ in 0..<2 { h = crissCrossPass(h, spec) }
        return h
    }

    /// One pass: x [N, T, H, W, C] → x + γ · (attention over each position's three lines).
    func crissCrossPass(_ x: Tensor, _ spec: NonLocalSpec) -> Tensor {
        let p = spec.prefix
        let (t, h, w) = (x.shape[1], x.shape[2], x.shape[3])
        let q = dense(x, "\(p).query")                                                        // [N, T, H, W, C/8]
        let k = dense(x, "\(p).key")                                                          // [N, T, H, W, C/8]
        let v = dense(x, "\(p).value")                                                        // [N, T, H, W, C]
        // Each line as a batch of sequences: (dimension order that puts the line's axis 4th, its length).
        // The column and time lines leave the position itself out (CCNet's −∞ on the diagonal
        // of its H direction): it is counted once, on the row.
        let lines: [(order: [Int], length: Int, dropSelf: Bool)] = [
            ([0, 1, 3, 2, 4], h, true),                                                       // column: [N, T, W, H, ·]
            ([0, 1, 2, 3, 4], w, false),                                                      // row:    [N, T, H, W, ·]
            ([0, 2, 3, 1, 4], t, true),                                                       // time:   [N, H, W, T, ·]
        ]
        func along(_ y: Tensor, _ order: [Int], _ length: Int) -> Tensor {                    // [N·…, length, channels]
            y.permuted(order).reshaped([-1, length, y.shape[4]])
        }
        func back(_ y: Tensor, _ order: [Int], _ length: Int, _ width: Int) -> Tensor {       // → [N, T, H, W, width]
            let shape = order.map { x.shape[$0] }
            var inverse = [Int](repeating: 0, count: 5)
            for (i, o) in order.enumerated() { inverse[o] = i }
            return y.reshaped(Array(shape.dropLast()) + [width]).permuted(inverse)
        }
        // Energies d per line, each [N, T, H, W, length], joined for one softmax per position.
        let energies = lines.map { line -> Tensor in
            var d = matmul(along(q, line.order, line.length), along(k, line.order, line.length), transposeB: true)  // [·, L, L]
            if line.dropSelf { d = d + Self.selfMask(line.length) }
            return back(d, line.order, line.length, line.length)
        }
        let a = softmax(concat(energies, axis: 4))                                            // A: [N, T, H, W, H + W + T]
        var start = 0
        var out: Tensor?
        for line in lines {
            let part = a.slice(axis: 4, range: start..<(start + line.length))                 // [N, T, H, W, L]
            start += line.length
            let gathered = matmul(along(part, line.order, line.length), along(v, line.order, line.length))  // [·, L, C]
            let y = back(gathered, line.order, line.length, x.shape[4])
            out = out.map { $0 + y } ?? y
        }
        return x + out! * weight("\(p).gamma")                                                // [N, T, H, W, C]
    }

    /// [L, L] with −∞ on the diagonal: a query's own key drops out of the softmax.
    static func selfMask(_ length: Int) -> Tensor {
        var m = [Float](repeating: 0, count: length * length)
        for i in 0..<length { m[i * length + i] = -.infinity }
        return Tensor(shape: [length, length], scalars: m)
    }
}
