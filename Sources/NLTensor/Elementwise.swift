/// Elementwise arithmetic. The right operand may have the full shape of the left one, or a
/// suffix of it (e.g. a per-channel [C] vector against N×T×H×W×C), broadcast over the
/// leading dimensions; a scalar tensor [] or [1] broadcasts everywhere.

private func broadcastInner(_ a: Tensor, _ b: Tensor, _ op: String) -> Int {
    if b.count == 1 { return 1 }
    require(b.rank <= a.rank && Array(a.shape.suffix(b.rank)) == b.shape,
                 "\(op): shape \(b.shape) does not broadcast against \(a.shape) (must equal it or a suffix of it)")
    return b.count
}

/// Sums a gradient of `full` elements down to `inner` elements laid out as its repeating suffix.
private func reduceToSuffix(_ g: Tensor, shape: [Int]) -> Tensor {
    let inner = shape.reduce(1, *)
    if inner == g.count { return g.reshaped(shape) }
    var out = Tensor(zeros: shape)
    let rows = g.count / inner
    out.withUnsafeMutableBufferPointer { o in
        for r in 0..<rows {
            let src = g.pointer + r * inner
            for i in 0..<inner { o[i] += src[i] }
        }
    }
    return out
}

private func binary(_ a: Tensor, _ b: Tensor, _ name: String, _ f: @escaping @Sendable (Float, Float) -> Float) -> Tensor {
    let inner = broadcastInner(a, b, name)
    let y = Tensor(uninitialized: a.shape)
    let pa = SharedPointer(a.pointer), pb = SharedPointer(b.pointer), py = SharedPointer(y.pointer)
    if inner == a.count || inner == 1 {
        let scalar = inner == 1 && a.count != 1
        Parallel.forEach(a.count, grain: 1 << 16) { r in
            for i in r { py[i] = f(pa[i], pb[scalar ? 0 : i]) }
        }
    } else {
        Parallel.forEach(a.count / inner, grain: max(1, (1 << 16) / inner)) { rows in
            for r in rows {
                let ar = pa + r * inner, yr = py + r * inner
                for i in 0..<inner { yr[i] = f(ar[i], pb[i]) }
            }
        }
    }
    return y
}

/// a + b elementwise, b broadcast over a's leading dimensions (same shape, a suffix, or a scalar);
/// traps otherwise. Recorded on the tape: b's gradient is summed over the broadcast dimensions.
public func + (a: Tensor, b: Tensor) -> Tensor {
    let y = binary(a, b, "add", +)
    let bShape = b.shape
    return y.recorded(inputs: [a, b]) { g in
        [a.requiresGradient ? g : nil, b.requiresGradient ? reduceToSuffix(g, shape: bShape) : nil]
    }
}

/// a − b elementwise, broadcast as `+`.
public func - (a: Tensor, b: Tensor) -> Tensor { a + b * Tensor(shape: [], scalars: [-1]) }

/// a · b elementwise (Hadamard), broadcast as `+`; recorded on the tape.
public func * (a: Tensor, b: Tensor) -> Tensor {
    let y = binary(a, b, "multiply", *)
    let bShape = b.shape
    return y.recorded(inputs: [a, b]) { g in
        [a.requiresGradient ? binary(g, b.detached, "multiply", *) : nil,
         b.requiresGradient ? reduceToSuffix(binary(g, a.detached, "multiply", *), shape: bShape) : nil]
    }
}

/// Every element of a times s; recorded on the tape.
public func * (a: Tensor, s: Float) -> Tensor {
    let y = Tensor(uninitialized: a.shape)
    let pa = SharedPointer(a.pointer), py = SharedPointer(y.pointer)
    Parallel.forEach(a.count, grain: 1 << 16) { r in for i in r { py[i] = pa[i] * s } }
    return y.recorded(inputs: [a]) { g in [g * s] }
}

/// Every element of a times s.
public func * (s: Float, a: Tensor) -> Tensor { a * s }

/// Sum of all elements, as a one-element tensor [].
public func sum(_ x: Tensor) -> Tensor {
    var s: Double = 0
    for i in 0..<x.count { s += Double(x.pointer[i]) }
    let shape = x.shape
    return Tensor(shape: [], scalars: [Float(s)]).recorded(inputs: [x]) { g in
        [Tensor(repeating: g.item, shape: shape)]
    }
}

/// Mean of all elements, as a one-element tensor [].
public func mean(_ x: Tensor) -> Tensor { sum(x) * (1 / Float(max(x.count, 1))) }

/// dst[i] += src[i] for i < n, 16 lanes at a time.
@inline(__always)
func addRun(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
    let d = UnsafeMutableRawPointer(dst), s = UnsafeRawPointer(src)
    var i = 0
    while i + 16 <= n {
        let sum = d.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self) + s.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
        d.storeBytes(of: sum, toByteOffset: 4 * i, as: SIMD16<Float>.self)
        i += 16
    }
    while i < n { dst[i] += src[i]; i += 1 }
}
