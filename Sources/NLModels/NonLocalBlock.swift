import NLTensor

/// The non-local block (docs/nonlocal-block.md): z = x + BN(W_z · y), y_i = Σ_j f(x_i, x_j) g(x_j) / C(x).
/// Placed after its host residual block's ReLU; no ReLU after the add.
extension ForwardContext {
    /// z for input x [N, T, H, W, C]. Takes x: the caller's tensor is released once y is
    /// computed, so that (on the fused path, when nothing else holds x) W_z's conv adds into
    /// x's storage in place instead of writing z to new memory.
    mutating func nonLocal(taking x: inout Tensor, _ spec: NonLocalSpec) -> Tensor {
        let nl = model.config.model.nonlocal
        let y = response(x, spec)                                        // [N, T, H, W, C/2]
        var residual = x
        x = Tensor(zeros: [1])
        // z = x + BN(W_z y): BN γ starts at 0, so a new block is the identity.
        let out = ConvSpec(name: spec.out, cin: spec.inner, cout: residual.shape[4], kernel: [1, 1, 1], stride: [1, 1, 1],
                           padding: [0, 0, 0])
        return convBN(y, out, bn: nl.norm == .bn ? spec.outBN : nil, hasBias: nl.outBias, accumulatingInto: &residual,
                      relu: false)
    }

    /// y = Σ_j f(x_i, x_j) g(x_j) / C(x) for every position i, [N, T, H, W, C/2] (before W_z).
    mutating func response(_ x: Tensor, _ spec: NonLocalSpec) -> Tensor {
        let nl = model.config.model.nonlocal
        let p = spec.prefix
        options.nonlocalInput?(p, x.detached)
        let n = x.shape[0], t = x.shape[1], h = x.shape[2], w = x.shape[3], c = x.shape[4]
        let inner = spec.inner

        // Which positions see each other: fold the rest into the batch (docs/nonlocal-block.md#temporal-groups,
        // #space-only-and-time-only).
        // xs: [B', T', H', W', C]
        let xs: Tensor
        switch nl.mode {
        case .spacetime where spec.temporalGroup > 0:
            require(t % spec.temporalGroup == 0, "\(p): \(t) frames do not split into temporal groups of \(spec.temporalGroup)")
            xs = x.reshaped([n * t / spec.temporalGroup, spec.temporalGroup, h, w, c])
        case .spacetime: xs = x
        case .space: xs = x.reshaped([n * t, 1, h, w, c])
        case .time: xs = x.permuted([0, 2, 3, 1, 4]).reshaped([n * h * w, t, 1, 1, c])
        }
        let b = xs.shape[0]
        let pool = { (v: Tensor) in maxPool3d(v, kernel: [1, 2, 2], stride: [1, 2, 2]) }

        // × (C/2)^-0.5 as the official code, applied to θ [N, d] rather than to θᵀφ [N, M]: folded
        // into θ's conv (its weight and bias), so no pass over θ.
        let thetaScale: Float = nl.instantiation == .embeddedGaussian && nl.scale ? 1 / Float(inner).squareRoot() : 1
        // Embeddings. θ: [B', N, d] queries; φ: [B', M, d] keys; g: [B', M, C/2] values.
        var theta: Tensor, phi: Tensor, g: Tensor
        switch (nl.instantiation, nl.subsample) {
        case (.gaussian, let sub):
            theta = xs                                                   // θ(x) = x
            phi = sub == .none ? xs : pool(xs)                           // φ(x) = x, subsampled
            g = pointwise(sub == .before ? pool(xs) : xs, [spec.g])[0]
            if sub == .after { g = pool(g) }
        case (_, .before):
            theta = pointwise(xs, [spec.theta], scales: [thetaScale])[0]
            let pg = pointwise(pool(xs), [spec.phi, spec.g])   // pool x first (official)
            (phi, g) = (pg[0], pg[1])
        case (_, let sub):
            let tpg = pointwise(xs, [spec.theta, spec.phi, spec.g], scales: [thetaScale, 1, 1])
            theta = tpg[0]
            (phi, g) = sub == .after ? (pool(tpg[1]), pool(tpg[2])) : (tpg[1], tpg[2])  // mmaction2: pool after
        }
        let queries = theta.shape[1] * theta.shape[2] * theta.shape[3]
        let keys = phi.shape[1] * phi.shape[2] * phi.shape[3]
        theta = theta.reshaped([b, queries, -1])                         // [B', N, d]
        phi = phi.reshaped([b, keys, -1])                                // [B', M, d]
        g = g.reshaped([b, keys, inner])                                 // [B', M, C/2]

        // Inference without an attention hook: P never needs to exist whole.
        var y: Tensor
        if fused && options.attention == nil && nl.instantiation != .concatenation {  // P not wanted
            y = attention(queries: theta, keys: phi, values: g,
                          normalization: nl.instantiation == .dotProduct ? .scale(1 / Float(keys)) : .softmax)  // [B', N, C/2]
        } else {
            y = matmul(pairwiseWeights(theta, phi, spec, queries: queries, keys: keys), g)                  // [B', N, C/2]
        }
        switch nl.mode {
        case .time: return y.reshaped([n, h, w, t, inner]).permuted([0, 3, 1, 2, 4])
        default: return y.reshaped([n, t, h, w, inner])
        }
    }

    /// Pairwise weights P [B', N, M] of θ [B', N, d] (already scaled) and φ [B', M, d],
    /// normalised over the keys j.
    func pairwiseWeights(_ theta: Tensor, _ phi: Tensor, _ spec: NonLocalSpec, queries: Int, keys: Int) -> Tensor {
        let nl = model.config.model.nonlocal
        let p = spec.prefix, inner = spec.inner, b = theta.shape[0]
        let weights: Tensor
        switch nl.instantiation {
        case .embeddedGaussian, .gaussian:
            var affinity = matmul(theta, phi, transposeB: true)          // θ_iᵀ φ_j
            if affinity.requiresGradient { affinity = softmax(affinity) } else { softmaxInPlace(&affinity) }
            weights = affinity                                           // exp(θ_iᵀφ_j) / Σ_j exp(θ_iᵀφ_j)
        case .dotProduct:
            weights = matmul(theta * (1 / Float(keys)), phi, transposeB: true)  // θ_iᵀ φ_j / M
        case .concatenation:
            // ReLU(w_fᵀ [θ_i; φ_j]) = ReLU(w_θ·θ_i + w_φ·φ_j), the sum built as [w_θθ_i, 1]·[1, w_φφ_j]ᵀ.
            let project = weight(spec.concatProject + ".weight").reshaped([2 * inner, 1])
            let wTheta = project.slice(axis: 0, range: 0..<inner), wPhi = project.slice(axis: 0, range: inner..<(2 * inner))
            let q = linear(theta, weight: wTheta), k = linear(phi, weight: wPhi)      // [B', N, 1], [B', M, 1]
            let ones = (Tensor(repeating: 1, shape: [b, queries, 1]), Tensor(repeating: 1, shape: [b, keys, 1]))
            let pairwise = matmul(concat([q, ones.0], axis: 2), concat([ones.1, k], axis: 2), transposeB: true)
            weights = relu(pairwise) * (1 / Float(keys))                  // ÷ M
        }
        options.attention?(p, weights.detached)                         // for `nlnet attention`
        return weights
    }
}
