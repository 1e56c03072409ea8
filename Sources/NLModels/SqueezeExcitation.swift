import NLTensor

/// Squeeze-excitation (Hu, Shen, Sun, "Squeeze-and-Excitation Networks", CVPR 2018, eq. 2–3)
/// in 3D, in a non-local slot: z = x · σ(W₂ ReLU(W₁ s + b₁) + b₂), s = the mean of x over T·H·W.
/// One gate per channel and clip, the same at every position: it cannot relate one event to
/// another (docs/attention-family.md#squeeze-excitation).
extension ForwardContext {
    mutating func squeezeExcitation(_ x: Tensor, _ spec: NonLocalSpec) -> Tensor {
        let p = spec.prefix, n = x.shape[0], c = x.shape[4]
        let squeezed = globalAvgPool3d(x).reshaped([n, c])                                    // [N, C]
        let hidden = relu(dense(squeezed, "\(p).fc1"))                                        // [N, C/r]
        let gate = sigmoid(dense(hidden, "\(p).fc2"))                                         // [N, C]
        return channelBroadcast(x, gate, .multiply)                                           // [N, T, H, W, C]
    }
}
