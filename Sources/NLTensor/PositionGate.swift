import Foundation

/// x [N, …, C] times m [N, …, 1]: one gate per position multiplies all of that position's
/// channels (CBAM's spatial attention map). The elementwise `*` broadcasts only over leading
/// dimensions, a gate per position needs the trailing one.
/// Gradients: dx = g·m, dm[p] = Σ_c g[p, c]·x[p, c].
public func positionGate(_ x: Tensor, _ m: Tensor) -> Tensor {
    let c = x.shape.last ?? 1
    require(x.rank >= 2 && m.shape == Array(x.shape.dropLast()) + [1],
            "positionGate: the gate must be \(Array(x.shape.dropLast()) + [1]) for x \(x.shape), got \(m.shape)")
    let rows = x.count / max(c, 1)
    let y = Tensor(uninitialized: x.shape)
    let px = SharedPointer(x.pointer), pm = SharedPointer(m.pointer), py = SharedPointer(y.pointer)
    Parallel.forEach(rows, grain: max(1, 4096 / max(c, 1))) { r in
        for row in r {
            let gate = pm[row], base = row * c
            for k in 0..<c { py[base + k] = px[base + k] * gate }
        }
    }
    return y.recorded(inputs: [x, m]) { [x = x.detached, m = m.detached] g in
        let dx = positionGate(g, m)
        let dm = Tensor(uninitialized: m.shape)
        let pg = SharedPointer(g.pointer), px = SharedPointer(x.pointer), pd = SharedPointer(dm.pointer)
        Parallel.forEach(rows, grain: max(1, 4096 / max(c, 1))) { r in
            for row in r {
                var s: Float = 0
                for k in 0..<c { s += pg[row * c + k] * px[row * c + k] }
                pd[row] = s
            }
        }
        return [dx, dm]
    }
}
