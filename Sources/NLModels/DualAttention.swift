import NLTensor

/// DANet's dual attention (Fu, Liu, Tian, Li, Bao, Fang, Lu, CVPR 2019, eq. 1–4) in 3D, in a
/// non-local slot: the position attention module over all T·H·W positions and the channel
/// attention module over the C×C channel affinity, summed with the input:
///   position: s_ji = softmax_i(B_iᵀ C_j), B = W_B x, C = W_C x (C/8 channels), D = W_D x (C);
///             pos_j = Σ_i s_ji D_i
///   channel:  x_ji = softmax_i(A_i · A_j) over channels (A = x as a C × THW matrix);
///             chan_j = Σ_i x_ji A_i
///   z = x + α·pos + β·chan, α = β = 0 at first: the block starts as the identity
/// (docs/attention-family.md#dual-attention).
extension ForwardContext {
    func dualAttention(_ x: Tensor, _ spec: NonLocalSpec) -> Tensor {
        let p = spec.prefix, n = x.shape[0], c = x.shape[4]
        let positions = x.shape[1] * x.shape[2] * x.shape[3]
        let flat = x.reshaped([n, positions, c])                                              // A: [N, P, C]

        // Position attention module.
        let queries = dense(flat, "\(p).pam.query")                                           // B: [N, P, C/8]
        let keys = dense(flat, "\(p).pam.key")                                                // C: [N, P, C/8]
        let values = dense(flat, "\(p).pam.value")                                            // D: [N, P, C]
        let position: Tensor
        if fused {
            // Inference: the P×P map never exists whole (THW² floats: 2.5 GB at res3 of a 32-frame clip).
            position = attention(queries: queries, keys: keys, values: values, normalization: .softmax)  // [N, P, C]
        } else {
            position = matmul(softmax(matmul(queries, keys, transposeB: true)), values)       // s: [N, P, P] → [N, P, C]
        }

        // Channel attention module.
        let affinity = softmax(matmul(flat, flat, transposeA: true))                          // x_ji: [N, C, C]
        let channel = matmul(flat, affinity, transposeB: true)                                // [N, P, C]

        let alpha = weight("\(p).pam.gamma"), beta = weight("\(p).cam.gamma")                 // [1] each
        return x + (position * alpha + channel * beta).reshaped(x.shape)                      // [N, T, H, W, C]
    }
}
