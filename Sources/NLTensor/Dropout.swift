/// Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1 − p).
public func dropout(_ x: Tensor, probability p: Float, using rng: inout RandomSource) -> Tensor {
    require(p >= 0 && p < 1, "dropout: probability \(p) must be in [0, 1)")
    let mask = Tensor(uninitialized: x.shape)
    let keep = 1 / (1 - p)
    for i in 0..<mask.count { mask.pointer[i] = rng.nextUnit() < p ? 0 : keep }
    return x * mask.detached
}
