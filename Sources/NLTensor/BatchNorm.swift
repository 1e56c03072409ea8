/// Batch normalisation over every position of a channels-last [..., C] tensor.
///
/// Training uses the batch's statistics (biased variance to normalise) and updates the
/// running averages as PyTorch does: running = (1 − momentum)·running + momentum·batch, with
/// the unbiased variance for the running one. momentum 0.1 here is Caffe2's 0.9.
/// Inference uses the running statistics.

public struct BatchNormStatistics: Sendable {
    public var mean: Tensor
    public var variance: Tensor

    public init(channels: Int) {
        mean = Tensor(zeros: [channels])
        variance = Tensor(repeating: 1, shape: [channels])
    }

    public init(mean: Tensor, variance: Tensor) {
        require(mean.shape == variance.shape && mean.rank == 1,
                     "BatchNormStatistics: mean \(mean.shape) and variance \(variance.shape) must be equal [C]")
        self.mean = mean
        self.variance = variance
    }
}

/// Per-channel sum and sum of squared deviations from `mean` (Double accumulation, so large
/// batches keep float32 parity with PyTorch).
private func channelMoments(_ x: Tensor, channels c: Int) -> (mean: [Double], m2: [Double]) {
    let rows = x.count / c
    let out = UnsafeMutablePointer<Double>.allocate(capacity: 2 * c)
    defer { out.deallocate() }
    let px = SharedPointer(x.pointer), po = SharedPointer(out)
    Parallel.forEach(c, grain: 8) { channels in
        let n = channels.count, base = channels.lowerBound
        var mean = [Double](repeating: 0, count: n), m2 = [Double](repeating: 0, count: n)
        for r in 0..<rows {
            let row = px + r * c + base
            for j in 0..<n { mean[j] += Double(row[j]) }
        }
        for j in 0..<n { mean[j] /= Double(max(rows, 1)) }
        for r in 0..<rows {
            let row = px + r * c + base
            for j in 0..<n { let d = Double(row[j]) - mean[j]; m2[j] += d * d }
        }
        for j in 0..<n { po[base + j] = mean[j]; po[c + base + j] = m2[j] }
    }
    return (Array(UnsafeBufferPointer(start: out, count: c)), Array(UnsafeBufferPointer(start: out + c, count: c)))
}

/// y = (x − mean)·invStd·γ + β per channel, as a scale and shift per channel.
private func affine(_ x: Tensor, scale: [Float], shift: [Float]) -> Tensor {
    let c = scale.count
    let y = Tensor(uninitialized: x.shape)
    let px = SharedPointer(x.pointer), py = SharedPointer(y.pointer)
    scale.withUnsafeBufferPointer { s in
        shift.withUnsafeBufferPointer { b in
            let s = SharedPointer(UnsafeMutablePointer(mutating: s.baseAddress!))
            let b = SharedPointer(UnsafeMutablePointer(mutating: b.baseAddress!))
            Parallel.forEach(x.count / c, grain: max(1, 8192 / c)) { rows in
                for r in rows {
                    let xi = px + r * c, yi = py + r * c
                    for j in 0..<c { yi[j] = xi[j] * s[j] + b[j] }
                }
            }
        }
    }
    return y
}

public func batchNorm(_ x: Tensor, scale gamma: Tensor, shift beta: Tensor,
                      statistics: inout BatchNormStatistics, training: Bool,
                      momentum: Float = 0.1, epsilon: Float = 1e-5) -> Tensor {
    let c = x.shape.last ?? 0
    require(gamma.shape == [c] && beta.shape == [c] && statistics.mean.shape == [c],
                 "batchNorm: input \(x.shape) has \(c) channels; γ \(gamma.shape), β \(beta.shape), running mean \(statistics.mean.shape) must be [\(c)]")
    let rows = x.count / max(c, 1)
    let g = gamma.scalars, b = beta.scalars
    if !training {
        let m = statistics.mean.scalars, v = statistics.variance.scalars
        let invStd = v.map { 1 / ($0 + epsilon).squareRoot() }
        let scale = (0..<c).map { g[$0] * invStd[$0] }
        let shift = (0..<c).map { b[$0] - m[$0] * scale[$0] }
        let y = affine(x, scale: scale, shift: shift)
        return y.recorded(inputs: [x, gamma, beta]) { dy in
            let xhat = affine(x.detached, scale: invStd, shift: (0..<c).map { -m[$0] * invStd[$0] })
            return [x.requiresGradient ? affine(dy, scale: scale, shift: [Float](repeating: 0, count: c)) : nil,
                    gamma.requiresGradient ? sumRows(dy * xhat) : nil,
                    beta.requiresGradient ? sumRows(dy) : nil]
        }
    }
    require(rows > 1, "batchNorm in training needs more than one value per channel, got input \(x.shape)")
    let (mean, m2) = channelMoments(x, channels: c)
    let invStd = (0..<c).map { Float(1 / (m2[$0] / Double(rows) + Double(epsilon)).squareRoot()) }
    statistics.mean.withUnsafeMutableBufferPointer { rm in
        for j in 0..<c { rm[j] = (1 - momentum) * rm[j] + momentum * Float(mean[j]) }
    }
    statistics.variance.withUnsafeMutableBufferPointer { rv in
        for j in 0..<c { rv[j] = (1 - momentum) * rv[j] + momentum * Float(m2[j] / Double(rows - 1)) }
    }
    let xhatShift = (0..<c).map { Float(-mean[$0]) * invStd[$0] }
    let xhat = affine(x, scale: invStd, shift: xhatShift)
    let y = affine(xhat, scale: g, shift: b)
    return y.recorded(inputs: [x, gamma, beta]) { dy in
        // dx = γ·invStd/n · (n·dy − Σdy − x̂·Σ(dy·x̂)), per channel.
        let dBeta = sumRows(dy), dGamma = sumRows(dy * xhat)
        var dx: Tensor?
        if x.requiresGradient {
            let sb = dBeta.scalars, sg = dGamma.scalars, n = Float(rows)
            let d = Tensor(uninitialized: x.shape)
            // dx = a·dy + b + k·x̂ per channel, with a = γ·invStd, b = −a·Σdy/n, k = −a·Σ(dy·x̂)/n.
            let a = (0..<c).map { g[$0] * invStd[$0] }
            let b = (0..<c).map { -a[$0] * sb[$0] / n }, k = (0..<c).map { -a[$0] * sg[$0] / n }
            let pdy = SharedPointer(dy.pointer), ph = SharedPointer(xhat.pointer), pd = SharedPointer(d.pointer)
            a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in k.withUnsafeBufferPointer { k in
                let pa = SharedPointer(UnsafeMutablePointer(mutating: a.baseAddress!))
                let pb = SharedPointer(UnsafeMutablePointer(mutating: b.baseAddress!))
                let pk = SharedPointer(UnsafeMutablePointer(mutating: k.baseAddress!))
                Parallel.forEach(rows, grain: max(1, 8192 / c)) { range in
                    for r in range {
                        let gi = pdy + r * c, hi = ph + r * c, di = pd + r * c
                        for j in 0..<c { di[j] = pa[j] * gi[j] + pb[j] + pk[j] * hi[j] }
                    }
                }
            } } }
            dx = d
        }
        return [dx, gamma.requiresGradient ? dGamma : nil, beta.requiresGradient ? dBeta : nil]
    }
}

/// Folds an inference batch norm into the convolution before it:
/// W'[..., o] = W[..., o]·s_o, b'_o = (b_o − mean_o)·s_o + β_o, with s = γ/√(var + ε).
/// Weight layout [kT, kH, kW, Cin, Cout] (any [..., Cout]).
public func foldBatchNorm(weight: Tensor, bias: Tensor?, scale gamma: Tensor, shift beta: Tensor,
                          statistics: BatchNormStatistics, epsilon: Float = 1e-5) -> (weight: Tensor, bias: Tensor) {
    let c = weight.shape.last ?? 0
    require(gamma.shape == [c] && beta.shape == [c] && statistics.mean.shape == [c] && (bias?.shape ?? [c]) == [c],
                 "foldBatchNorm: weight \(weight.shape) has \(c) outputs; γ \(gamma.shape), β \(beta.shape), statistics \(statistics.mean.shape), bias \(bias?.shape ?? [c]) must be [\(c)]")
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
