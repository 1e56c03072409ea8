import Foundation

/// Layer normalisation over the last axis: (x − μ) / √(σ² + ε) · γ + β, x [..., C], γ and β [C]
/// (GCNet's LayerNorm over its C/r bottleneck). σ² is the biased variance, as PyTorch's.
public func layerNorm(_ x: Tensor, scale gamma: Tensor, shift beta: Tensor, epsilon: Float = 1e-5) -> Tensor {
    let c = x.shape.last!
    require(gamma.shape == [c] && beta.shape == [c], "layerNorm: γ and β must be [\(c)], got \(gamma.shape) and \(beta.shape)")
    let rows = x.count / max(c, 1)
    let y = Tensor(uninitialized: x.shape)
    let normalized = Tensor(uninitialized: x.shape)   // x̂, kept for the backward pass
    let inverse = Tensor(uninitialized: [rows])       // 1/√(σ² + ε) per row
    let px = SharedPointer(x.pointer), py = SharedPointer(y.pointer), pn = SharedPointer(normalized.pointer)
    let pi = SharedPointer(inverse.pointer), pgamma = SharedPointer(gamma.pointer), pbeta = SharedPointer(beta.pointer)
    Parallel.forEach(rows, grain: 64) { r in
        for row in r {
            let base = row * c
            var mean: Float = 0
            for k in 0..<c { mean += px[base + k] }
            mean /= Float(c)
            var variance: Float = 0
            for k in 0..<c { let d = px[base + k] - mean; variance += d * d }
            variance /= Float(c)
            let inv = 1 / (variance + epsilon).squareRoot()
            pi[row] = inv
            for k in 0..<c {
                let xhat = (px[base + k] - mean) * inv
                pn[base + k] = xhat
                py[base + k] = xhat * pgamma[k] + pbeta[k]
            }
        }
    }
    return y.recorded(inputs: [x, gamma, beta]) { [normalized, inverse, gamma = gamma.detached] g in
        // dx̂ = g·γ; dx = (1/σ)(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)); dγ = Σ g·x̂; dβ = Σ g.
        let dx = Tensor(uninitialized: g.shape)
        let dgamma = Tensor(zeros: [c]), dbeta = Tensor(zeros: [c])
        let pg = SharedPointer(g.pointer), pn = SharedPointer(normalized.pointer), pi = SharedPointer(inverse.pointer)
        let pd = SharedPointer(dx.pointer), pgam = SharedPointer(gamma.pointer)
        let pdg = SharedPointer(dgamma.pointer), pdb = SharedPointer(dbeta.pointer)
        Parallel.forEach(rows, grain: 64) { r in
            for row in r {
                let base = row * c
                var meanD: Float = 0, meanDX: Float = 0
                for k in 0..<c { let d = pg[base + k] * pgam[k]; meanD += d; meanDX += d * pn[base + k] }
                meanD /= Float(c); meanDX /= Float(c)
                for k in 0..<c { pd[base + k] = pi[row] * (pg[base + k] * pgam[k] - meanD - pn[base + k] * meanDX) }
            }
        }
        for row in 0..<rows {
            for k in 0..<c { pdg[k] += pg[row * c + k] * pn[row * c + k]; pdb[k] += pg[row * c + k] }
        }
        return [dx, dgamma, dbeta]
    }
}
