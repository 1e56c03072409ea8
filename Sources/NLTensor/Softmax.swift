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

/// Row-wise softmax of rows × width values (in place when x == y), rows split over cores.
func softmaxRows(_ x: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>, rows: Int, width n: Int) {
    let px = SharedPointer(x), py = SharedPointer(y)
    Parallel.forEach(rows, grain: max(1, 8192 / max(n, 1))) { range in
        for r in range {
            let xi = px + r * n, yi = py + r * n
            let inv = 1 / expShifted(xi, by: rowMax(xi, n), into: yi, count: n)
            scaleRow(yi, n, by: inv)
        }
    }
}

@inline(__always)
func rowMax(_ x: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
    var m16 = SIMD16<Float>(repeating: -.infinity)
    var j = 0
    while j + 16 <= n { m16 = pointwiseMax(m16, UnsafeRawPointer(x + j).loadUnaligned(as: SIMD16<Float>.self)); j += 16 }
    var m = m16.max()
    while j < n { m = Swift.max(m, x[j]); j += 1 }
    return m
}

@inline(__always)
func scaleRow(_ y: UnsafeMutablePointer<Float>, _ n: Int, by s: Float) {
    var j = 0
    while j + 16 <= n {
        let v = UnsafeRawPointer(y + j).loadUnaligned(as: SIMD16<Float>.self) * s
        UnsafeMutableRawPointer(y + j).storeBytes(of: v, as: SIMD16<Float>.self)
        j += 16
    }
    while j < n { y[j] *= s; j += 1 }
}

/// y[j] = exp(x[j] − shift) for j < count, returning Σ y. Sixteen lanes at a time with a
/// polynomial exp (Cody–Waite reduction to [−ln2/2, ln2/2], degree-6 minimax-style Taylor
/// terms, then × 2ⁿ): within ~2 ulp of expf, several times faster than calling it per element.
@inline(__always)
func expShifted(_ x: UnsafeMutablePointer<Float>, by shift: Float, into y: UnsafeMutablePointer<Float>, count: Int) -> Float {
    typealias V = SIMD16<Float>
    var sum = V(repeating: 0)
    var j = 0
    let log2e = V(repeating: 1.442695040888963), ln2hi = V(repeating: 0.693359375), ln2lo = V(repeating: -2.12194440e-4)
    let lo = V(repeating: -87.3), hi = V(repeating: 88.3)
    let magic = V(repeating: 12_582_912), magicBits = SIMD16<Int32>(repeating: 0x4B40_0000)
    while j + 16 <= count {
        var v = UnsafeRawPointer(x + j).loadUnaligned(as: V.self) - V(repeating: shift)
        v = pointwiseMin(pointwiseMax(v, lo), hi)
        // Round to nearest through the float format itself: adding 1.5·2²³ leaves the integer
        // in the low mantissa bits (a generic SIMD Float→Int conversion is per element).
        let shifted = v * log2e + magic
        let n = shifted - magic
        let f = v - n * ln2hi - n * ln2lo
        // e^f ≈ 1 + f + f²/2 + … + f⁶/720 on |f| ≤ ln2/2
        var p = V(repeating: 1.0 / 720)
        p = p * f + 1.0 / 120
        p = p * f + 1.0 / 24
        p = p * f + 1.0 / 6
        p = p * f + 0.5
        p = p * f + 1
        p = p * f + 1
        // × 2ⁿ through the exponent bits
        let bits = (unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- magicBits &+ 127) &<< 23
        let e = p * unsafeBitCast(bits, to: V.self)
        UnsafeMutableRawPointer(y + j).storeBytes(of: e, as: V.self)
        sum += e
        j += 16
    }
    var total = sum.sum()
    while j < count { let e = expf(x[j] - shift); y[j] = e; total += e; j += 1 }
    return total
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
