import Foundation

/// How `channelBroadcast` combines a per-sample, per-channel vector with every position.
public enum ChannelOperation: Sendable { case multiply, add }

/// x [N, …, C] combined with s [N, C] at every position of each sample: x·s (a channel gate,
/// as squeeze-excitation) or x + s (a global context added everywhere, as GCNet).
/// Gradients: for x·s, dx = g·s and ds[n, c] = Σ_p g·x; for x + s, dx = g and ds = Σ_p g.
public func channelBroadcast(_ x: Tensor, _ s: Tensor, _ op: ChannelOperation) -> Tensor {
    let n = x.shape[0], c = x.shape.last!
    require(x.rank >= 2 && s.shape == [n, c], "channelBroadcast: s must be [N, C] = [\(n), \(c)] for x \(x.shape), got \(s.shape)")
    let positions = x.count / max(n * c, 1)
    let y = Tensor(uninitialized: x.shape)
    let px = SharedPointer(x.pointer), ps = SharedPointer(s.pointer), py = SharedPointer(y.pointer)
    Parallel.forEach(n * positions, grain: max(1, 4096 / max(c, 1))) { rows in
        for row in rows {
            let sample = row / positions, base = row * c, sBase = sample * c
            switch op {
            case .multiply: for k in 0..<c { py[base + k] = px[base + k] * ps[sBase + k] }
            case .add: for k in 0..<c { py[base + k] = px[base + k] + ps[sBase + k] }
            }
        }
    }
    return y.recorded(inputs: [x, s]) { [x = x.detached, s = s.detached] g in
        let dx = op == .add ? g : channelBroadcast(g, s, .multiply)
        let ds = Tensor(zeros: [n, c])
        let pg = SharedPointer(g.pointer), px = SharedPointer(x.pointer), pd = SharedPointer(ds.pointer)
        Parallel.forEach(n, grain: 1) { samples in
            for sample in samples {
                for p in 0..<positions {
                    let base = (sample * positions + p) * c
                    switch op {
                    case .multiply: for k in 0..<c { pd[sample * c + k] += pg[base + k] * px[base + k] }
                    case .add: for k in 0..<c { pd[sample * c + k] += pg[base + k] }
                    }
                }
            }
        }
        return [dx, ds]
    }
}
