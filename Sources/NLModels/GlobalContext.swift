import NLTensor

/// The global context block (Cao, Xu, Lin, Wei, Hu, "GCNet", ICCVW 2019, eq. 3) in 3D, in a
/// non-local slot: one attention map over all T·H·W positions, softmax(w_k · x_j + b_k), pools
/// a context vector c = Σ_j α_j x_j; a bottleneck transforms it, t = W₂ ReLU(LN(W₁ c + b₁)) + b₂,
/// and it is added at every position: z = x + t. The map is the same for every query — GCNet's
/// simplification of the non-local block (docs/attention-family.md#global-context).
extension ForwardContext {
    mutating func globalContext(_ x: Tensor, _ spec: NonLocalSpec) -> Tensor {
        let p = spec.prefix, n = x.shape[0], c = x.shape[4]
        let positions = x.shape[1] * x.shape[2] * x.shape[3]
        let flat = x.reshaped([n, positions, c])                                              // [N, THW, C]
        let logits = dense(flat, "\(p).conv_mask")                                            // [N, THW, 1]
        let attention = softmax(logits.reshaped([n, 1, positions]))                           // [N, 1, THW]
        let context = matmul(attention, flat).reshaped([n, c])                                // [N, C]
        let squeezed = dense(context, "\(p).fc1")                                             // [N, C/r]
        let hidden = relu(layerNorm(squeezed, scale: weight("\(p).ln.weight"), shift: weight("\(p).ln.bias")))
        let transform = dense(hidden, "\(p).fc2")                                             // [N, C]
        return channelBroadcast(x, transform, .add)
    }
}
