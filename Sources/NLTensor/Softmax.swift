import CKernels
/// Softmax over the last dimension, stable: exp(x − max) / Σ exp(x − max).
public func softmax(_ x: Tensor) -> Tensor {
    let n = x.shape.last ?? 1
    let y = Tensor(uninitialized: x.shape)
    softmaxRows(x.pointer, into: y.pointer, rows: x.count / max(n, 1), width: n)
    return y.recorded(inputs: [x]) { [y = y.detached] g in
        // dx = y ⊙ (g − Σ g·y)
        let dx = Tensor(uninitialized: g.shape)
        let pg = SharedPointer(g.pointer), py = SharedPointer(y.pointer), pd = SharedPointer(dx.pointer)
        Parallel.forEach(g.count / max(n, 1), grain: max(1, 8192 / max(n, 1))) { rows in
            for r in rows {
                let gi = pg + r * n, yi = py + r * n, di = pd + r * n
                var dot: Float = 0
                for j in 0..<n { dot += gi[j] * yi[j] }
                for j in 0..<n { di[j] = yi[j] * (gi[j] - dot) }
            }
        }
        return [dx]
    }
}

/// Softmax over the last dimension, overwriting `x` (inference: no copy of a large
/// attention matrix). Not differentiable.
public func softmaxInPlace(_ x: inout Tensor) {
    let n = x.shape.last ?? 1
    x.withUnsafeMutableBufferPointer { b in softmaxRows(b.baseAddress!, into: b.baseAddress!, rows: b.count / max(n, 1), width: n) }
}

/// Row-wise softmax of rows × width values (in place when x == y), rows split over cores. The
/// row loop, with its polynomial exp, is C (Sources/CKernels/softmax_body.h), compiled per
/// instruction set and chosen at run time.
func softmaxRows(_ x: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>, rows: Int, width n: Int) {
    let px = SharedPointer(x), py = SharedPointer(y)
    Parallel.forEach(rows, grain: max(1, 8192 / max(n, 1))) { range in
        nl_softmax_rows(px + range.lowerBound * n, py + range.lowerBound * n, range.count, n)
    }
}

/// Mean cross-entropy of logits [B, K] against class indices, as a one-element tensor [].
public func softmaxCrossEntropy(_ logits: Tensor, labels: [Int]) -> Tensor {
    require(logits.rank == 2 && logits.shape[0] == labels.count,
                 "softmaxCrossEntropy: logits \(logits.shape) need [\(labels.count), classes] for \(labels.count) labels")
    let k = logits.shape[1]
    require(labels.allSatisfy { $0 >= 0 && $0 < k }, "softmaxCrossEntropy: a label is outside 0..<\(k): \(labels)")
    let p = softmax(logits.detached)
    var loss: Double = 0
    for (i, label) in labels.enumerated() { loss -= Double(logf(max(p.pointer[i * k + label], .leastNormalMagnitude))) }
    let b = Float(labels.count)
    return Tensor(shape: [], scalars: [Float(loss) / b]).recorded(inputs: [logits]) { g in
        // d/dlogits = (p − onehot) / B
        var d = p
        d.withUnsafeMutableBufferPointer { d in
            for (i, label) in labels.enumerated() { d[i * k + label] -= 1 }
            for j in 0..<d.count { d[j] *= g.item / b }
        }
        return [d]
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
