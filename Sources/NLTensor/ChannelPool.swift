import Foundation

/// The mean and the maximum over the channels at every position: x [..., C] → [..., 2] (mean
/// first), CBAM's spatial descriptors. One pass over each position's C values (pooling ops
/// reduce over positions, not channels).
/// Gradients: the mean's spreads g/C over the channels; the maximum's goes to the first
/// channel holding it.
public func channelMeanMax(_ x: Tensor) -> Tensor {
    let c = x.shape.last ?? 1
    require(x.rank >= 1 && c > 0, "channelMeanMax: x must have a channel axis, got \(x.shape)")
    let rows = x.count / c
    let y = Tensor(uninitialized: Array(x.shape.dropLast()) + [2])
    let argmax = UnsafeMutablePointer<Int32>.allocate(capacity: max(rows, 1))
    let px = SharedPointer(x.pointer), py = SharedPointer(y.pointer), pa = SharedPointer(argmax)
    Parallel.forEach(rows, grain: max(1, 8192 / c)) { r in
        for row in r {
            let src = px + row * c
            var sum: Float = 0, best = src[0], at = 0
            for k in 0..<c {
                sum += src[k]
                if src[k] > best || src[k] != src[k] { best = src[k]; at = k }   // NaN propagates, as PyTorch's max
            }
            py[2 * row] = sum / Float(c)
            py[2 * row + 1] = best
            pa[row] = Int32(at)
        }
    }
    let box = IndexBuffer(argmax)
    return y.recorded(inputs: [x]) { g in
        let dx = Tensor(uninitialized: x.shape)
        let pg = SharedPointer(g.pointer), pd = SharedPointer(dx.pointer), pa = SharedPointer(box.pointer)
        Parallel.forEach(rows, grain: max(1, 8192 / c)) { r in
            for row in r {
                let share = pg[2 * row] / Float(c)
                for k in 0..<c { pd[row * c + k] = share }
                pd[row * c + Int(pa[row])] += pg[2 * row + 1]
            }
        }
        return [dx]
    }
}
