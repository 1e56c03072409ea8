import CKernels

/// Batch normalisation over every position of a channels-last [..., C] tensor.
///
/// Training uses the batch's statistics (biased variance to normalise) and updates the
/// running averages as PyTorch does: running = (1 − momentum)·running + momentum·batch, with
/// the unbiased variance for the running one. momentum 0.1 here is Caffe2's 0.9.
/// Inference uses the running statistics.

/// A BN layer's running mean and variance over the batch, used at inference (BN's `running_mean`/`running_var`).
public struct BatchNormStatistics: Sendable {
    /// Running mean per channel, [C].
    public var mean: Tensor
    /// Running (unbiased) variance per channel, [C].
    public var variance: Tensor

    /// Fresh statistics for `channels` channels: mean 0, variance 1 (as PyTorch starts them).
    public init(channels: Int) {
        mean = Tensor(zeros: [channels])
        variance = Tensor(repeating: 1, shape: [channels])
    }

    /// Statistics from stored tensors; traps unless both are [C] of the same C.
    public init(mean: Tensor, variance: Tensor) {
        require(mean.shape == variance.shape && mean.rank == 1,
                     "BatchNormStatistics: mean \(mean.shape) and variance \(variance.shape) must be equal [C]")
        self.mean = mean
        self.variance = variance
    }
}

/// How BN's loops walk a [rows, C] tensor: as rows of `width` lanes. A channel count below 16
/// that divides it (8 in the width-8 models) is walked as rows of 16 lanes, each holding 16/C
/// rows of x, so that every vector is full: per-channel constants are repeated across the
/// lanes (`spread`) and per-lane sums are added back into channels (`fold`).
private struct ChannelLanes {
    let channels: Int, width: Int, rows: Int

    init(count: Int, channels c: Int) {
        channels = c
        width = c > 0 && c < 16 && 16 % c == 0 && count % 16 == 0 ? 16 : c
        rows = count / max(width, 1)
    }

    func spread(_ a: [Float]) -> [Float] { (0..<width).map { a[$0 % channels] } }

    func fold(_ sums: [Double]) -> [Double] {
        (0..<channels).map { ch in Swift.stride(from: ch, to: width, by: channels).reduce(0) { $0 + sums[$1] } }
    }
}

/// Count, mean and sum of squared deviations from the mean (M2) of a set of values.
private struct Moments {
    var count = 0.0, mean = 0.0, m2 = 0.0

    /// The moments of both sets together (Chan, Golub and LeVeque's pairwise update).
    mutating func merge(_ other: Moments) {
        let total = count + other.count
        guard total > 0 else { return }
        let delta = other.mean - mean
        mean += delta * other.count / total
        m2 += other.m2 + delta * delta * count * other.count / total
        count = total
    }
}

/// Per-channel mean and sum of squared deviations from it, reading x from memory once: each
/// block of 64 rows is summed, then its squared deviations from its own mean are summed while
/// it is in cache (two passes over the block, as PyTorch's CPU kernel makes over the whole
/// tensor), and the blocks' moments merge in Double, chunk by chunk in a fixed order.
private func channelMoments(_ x: Tensor, _ lanes: ChannelLanes) -> (mean: [Double], m2: [Double]) {
    let w = lanes.width, grain = max(1, 16384 / max(w, 1))
    let chunks = Parallel.chunkCount(lanes.rows, grain: grain)
    let perChunk = UnsafeMutablePointer<Moments>.allocate(capacity: max(chunks * w, 1))
    defer { perChunk.deallocate() }
    perChunk.initialize(repeating: Moments(), count: chunks * w)
    let (px, shared) = (SharedPointer(x.pointer), SharedPointer(perChunk))
    Parallel.forEachChunk(lanes.rows, grain: grain) { chunk, range in
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(2 * w, 1))
        defer { scratch.deallocate() }
        let (sums, m2) = (scratch, scratch + w)
        for first in stride(from: range.lowerBound, to: range.upperBound, by: 64) {
            let rows = min(64, range.upperBound - first)
            scratch.update(repeating: 0, count: 2 * w)
            nl_channel_sum(px + first * w, rows, w, sums)
            for j in 0..<w { sums[j] /= Float(rows) }
            nl_channel_squared_deviation(px + first * w, sums, rows, w, m2)
            for j in 0..<w {
                shared[chunk * w + j].merge(Moments(count: Double(rows), mean: Double(sums[j]), m2: Double(m2[j])))
            }
        }
    }
    // Chunks in order, then the lanes of each channel (ChannelLanes).
    var lanesTotal = [Moments](repeating: Moments(), count: w)
    for chunk in 0..<chunks { for j in 0..<w { lanesTotal[j].merge(perChunk[chunk * w + j]) } }
    var total = [Moments](repeating: Moments(), count: lanes.channels)
    for j in 0..<w { total[j % lanes.channels].merge(lanesTotal[j]) }
    return (total.map(\.mean), total.map(\.m2))
}

/// Per-channel constants as pointers the parallel loops can share; valid inside `body`.
private func withChannelPointers<R>(_ arrays: [[Float]], _ body: ([SharedPointer<Float>]) -> R) -> R {
    let storage = arrays.map { a -> UnsafeMutablePointer<Float> in
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(a.count, 1))
        p.initialize(from: a, count: a.count)
        return p
    }
    defer { storage.forEach { $0.deallocate() } }
    return body(storage.map(SharedPointer.init))
}

/// Batch normalisation of a channels-last [..., C] tensor, with the residual add and ReLU
/// that follow it in a ResNet unit fused in: y = relu?(x̂·γ + β + residual), x̂ = (x − mean)/√(var + ε).
///
/// One pass over x for y (after the statistics in training: one more); the backward pass makes
/// one reduction pass (Σdz and Σdz·x̂ per channel, dz = dy where the ReLU passed) and one pass
/// for dx, recomputing x̂ from x instead of keeping it. Where the ReLU passed is read from y
/// after a residual add, else recomputed from x (`ReluGate`). The residual's gradient is dz.
public func batchNorm(_ x: Tensor, scale gamma: Tensor, shift beta: Tensor,
                      statistics: inout BatchNormStatistics, training: Bool,
                      momentum: Float = 0.1, epsilon: Float = 1e-5,
                      residual: Tensor? = nil, relu: Bool = false) -> Tensor {
    let c = x.shape.last ?? 0
    require(gamma.shape == [c] && beta.shape == [c] && statistics.mean.shape == [c],
                 "batchNorm: input \(x.shape) has \(c) channels; γ \(gamma.shape), β \(beta.shape), running mean \(statistics.mean.shape) must be [\(c)]")
    if let residual {
        require(residual.shape == x.shape, "batchNorm: residual \(residual.shape) does not match input \(x.shape)")
    }
    let rows = x.count / max(c, 1)
    let lanes = ChannelLanes(count: x.count, channels: c)
    let g = gamma.scalars, b = beta.scalars
    let mean: [Float], invStd: [Float]
    if training {
        require(rows > 1, "batchNorm in training needs more than one value per channel, got input \(x.shape)")
        let (m, m2) = channelMoments(x, lanes)
        mean = m.map { Float($0) }
        invStd = (0..<c).map { Float(1 / (m2[$0] / Double(rows) + Double(epsilon)).squareRoot()) }
        statistics.mean.withUnsafeMutableBufferPointer { rm in
            for j in 0..<c { rm[j] = (1 - momentum) * rm[j] + momentum * Float(m[j]) }
        }
        statistics.variance.withUnsafeMutableBufferPointer { rv in
            for j in 0..<c { rv[j] = (1 - momentum) * rv[j] + momentum * Float(m2[j] / Double(rows - 1)) }
        }
    } else {
        mean = statistics.mean.scalars
        invStd = statistics.variance.scalars.map { 1 / ($0 + epsilon).squareRoot() }
    }
    // y = x·scale + shift (+ residual), then ReLU.
    let scale = (0..<c).map { g[$0] * invStd[$0] }
    let shift = (0..<c).map { b[$0] - mean[$0] * scale[$0] }
    let y = Tensor(uninitialized: x.shape)
    // The loops below walk rows of w lanes (see ChannelLanes).
    let (w, laneRows) = (lanes.width, lanes.rows)
    let grain = max(1, 8192 / max(w, 1))
    let px = SharedPointer(x.pointer), py = SharedPointer(y.pointer), pr = residual.map { SharedPointer($0.pointer) }
    withChannelPointers([lanes.spread(scale), lanes.spread(shift)]) { p in
        let (s, t) = (p[0], p[1])
        Parallel.forEach(laneRows, grain: grain) { range in
            let at = range.lowerBound * w
            nl_batch_norm_apply(px + at, s.base, t.base, pr.map { $0 + at }, relu ? 1 : 0, range.count, w, py + at)
        }
    }
    let inputs = [x, gamma, beta] + (residual.map { [$0] } ?? [])
    return y.recorded(inputs: inputs) { [y = y.detached] dy in
        let wantResidual = residual?.requiresGradient ?? false
        // dz = dy where the ReLU passed (all of dy without one); kept for the residual, and then
        // read by the dx pass in place of dy and the gate.
        let dz = wantResidual && relu ? Tensor(uninitialized: x.shape) : nil
        let pdy = SharedPointer(dy.pointer), pyy = SharedPointer(y.pointer), pdz = dz.map { SharedPointer($0.pointer) }
        return withChannelPointers([mean, invStd, scale, shift].map(lanes.spread)) { p in
            let (m, k, s, t) = (p[0], p[1], p[2], p[3])
            // Which outputs the ReLU passed: read from y after a residual add, else recomputed from x.
            let gate = !relu ? ReluGate() : residual != nil ? ReluGate(y: pyy) : ReluGate(scale: s, shift: t)
            // (Σdz per lane, Σdz·x̂ per lane)
            let sums = Parallel.channelSums(rows: laneRows, channels: w, grain: grain) { range, first, second in
                let at = range.lowerBound * w
                nl_batch_norm_backward_sums(pdy + at, gate.rows(from: at), px + at, m.base, k.base, pdz.map { $0 + at },
                                            range.count, w, first, second)
            }
            let (sumDz, sumDzXHat) = (lanes.fold(sums.first), lanes.fold(sums.second))
            let dBeta = Tensor(shape: [c], scalars: sumDz.map { Float($0) })
            let dGamma = Tensor(shape: [c], scalars: sumDzXHat.map { Float($0) })
            var dx: Tensor?
            if x.requiresGradient {
                // dx = a·dz + k·x̂ + b per channel, a = γ·invStd; in training b = −a·Σdz/n and
                // k = −a·Σ(dz·x̂)/n (the batch statistics depend on x), else both are 0.
                let n = Float(rows)
                let a = (0..<c).map { g[$0] * invStd[$0] }
                let kx = (0..<c).map { training ? -a[$0] * Float(sumDzXHat[$0]) / n : 0 }
                let b0 = (0..<c).map { training ? -a[$0] * Float(sumDz[$0]) / n : 0 }
                let d = Tensor(uninitialized: x.shape)
                let pd = SharedPointer(d.pointer)
                // With dz stored, it is the gated dy.
                let (source, inputGate) = pdz.map { ($0, ReluGate()) } ?? (pdy, gate)
                withChannelPointers([a, kx, b0].map(lanes.spread)) { q in
                    let (pa, pk, pb) = (q[0], q[1], q[2])
                    Parallel.forEach(laneRows, grain: grain) { range in
                        let at = range.lowerBound * w
                        nl_batch_norm_backward_input(source + at, inputGate.rows(from: at), px + at, pa.base, pk.base,
                                                     pb.base, m.base, k.base, range.count, w, pd + at)
                    }
                }
                dx = d
            }
            var grads: [Tensor?] = [dx, gamma.requiresGradient ? dGamma : nil, beta.requiresGradient ? dBeta : nil]
            if residual != nil { grads.append(wantResidual ? (dz ?? dy) : nil) }
            return grads
        }
    }
}

/// Which outputs a BN's ReLU passed, for the backward loops (`nl_relu_gate`): read from y,
/// recomputed from x with the forward's scale and shift, or all of them (no field set).
private struct ReluGate: Sendable {
    var y: SharedPointer<Float>? = nil, scale: SharedPointer<Float>? = nil, shift: SharedPointer<Float>? = nil

    /// The gate for rows starting `at` floats in: y moves with the rows; the per-channel scale
    /// and shift do not.
    func rows(from at: Int) -> nl_relu_gate {
        nl_relu_gate(y: y.map { UnsafePointer($0 + at) }, scale: scale.map { UnsafePointer($0.base) },
                     shift: shift.map { UnsafePointer($0.base) })
    }
}

/// Folds an inference batch norm into the convolution before it:
/// W'[..., o] = W[..., o]·s_o, b'_o = (b_o − mean_o)·s_o + β_o, with s = γ/√(var + ε).
/// Weight layout [kT, kH, kW, Cin, Cout] (any [..., Cout]).
public func foldBatchNorm(weight: Tensor, bias: Tensor?, scale gamma: Tensor, shift beta: Tensor,
                          statistics: BatchNormStatistics, epsilon: Float = 1e-5) -> (weight: Tensor, bias: Tensor) {
    let c = weight.shape.last ?? 0
    require(gamma.shape == [c] && beta.shape == [c] && statistics.mean.shape == [c] && (bias?.shape ?? [c]) == [c],
                 "foldBatchNorm: weight \(weight.shape) has \(c) outputs; γ \(gamma.shape), β \(beta.shape), "
                     + "statistics \(statistics.mean.shape), bias \(bias?.shape ?? [c]) must be [\(c)]")
    let g = gamma.scalars, b = beta.scalars, m = statistics.mean.scalars, v = statistics.variance.scalars
    let s = (0..<c).map { g[$0] / ($0 < v.count ? (v[$0] + epsilon).squareRoot() : 1) }
    var w = weight.detached
    w.withUnsafeMutableBufferPointer { w in
        for r in 0..<(w.count / c) { for j in 0..<c { w[r * c + j] *= s[j] } }
    }
    let b0 = bias?.scalars ?? [Float](repeating: 0, count: c)
    let folded = (0..<c).map { (b0[$0] - m[$0]) * s[$0] + b[$0] }
    return (w, Tensor(shape: [c], scalars: folded))
}
