import NLTensor

/// CBAM, the convolutional block attention module (Woo, Park, Lee, Kweon, ECCV 2018, eq. 1–3),
/// in 3D, in a non-local slot. Channel attention first: M_c = σ(MLP(AvgPool(x)) + MLP(MaxPool(x))),
/// the pools over all T·H·W positions, one MLP (W₁: C → C/r, ReLU, W₀: C/r → C) shared by both
/// descriptors; x′ = M_c ⊗ x. Then spatial attention, per frame as the paper's 2D module on each
/// image: M_s = σ(f⁷ˣ⁷([AvgPool_c(x′); MaxPool_c(x′)])), the pools over channels, f a 1×7×7
/// convolution of the two maps; z = M_s ⊗ x′ (docs/attention-family.md#cbam).
extension ForwardContext {
    mutating func convolutionalBlockAttention(_ x: Tensor, _ spec: NonLocalSpec) -> Tensor {
        let p = spec.prefix
        let (n, t, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4])
        // Channel attention: both descriptors through the shared MLP in one batch of 2N rows.
        let average = globalAvgPool3d(x).reshaped([n, c])                                     // [N, C]
        let maximum = maxPool3d(x, kernel: [t, h, w]).reshaped([n, c])                        // [N, C]
        let hidden = relu(dense(concat([average, maximum], axis: 0), "\(p).fc1"))             // [2N, C/r]
        let scores = dense(hidden, "\(p).fc2")                                                // [2N, C]
        let channelGate = sigmoid(scores.slice(axis: 0, range: 0..<n) + scores.slice(axis: 0, range: n..<(2 * n)))  // [N, C]
        let refined = channelBroadcast(x, channelGate, .multiply)                             // x′ [N, T, H, W, C]

        // Spatial attention: the channel mean and maximum at each position, a 1×7×7 conv of the two maps.
        let maps = channelMeanMax(refined)                                                    // [N, T, H, W, 2]
        let spatialGate = sigmoid(conv3d(maps, weight: weight("\(p).spatial.weight"), bias: weight("\(p).spatial.bias"),
                                         padding: [0, 3, 3]))                                 // [N, T, H, W, 1]
        return positionGate(refined, spatialGate)                                             // [N, T, H, W, C]
    }
}
