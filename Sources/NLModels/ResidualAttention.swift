import NLTensor

/// The residual attention module (Wang, Jiang, Qian, Yang, Li, Zhang, Wang, Tang, "Residual
/// Attention Network for Image Classification", CVPR 2017, eq. 3) in 3D, in a non-local slot:
/// H = (1 + M(x)) · T(x). The trunk T is the host residual block (T(x) = x here); the soft mask
/// branch, per frame: 3×3 max pooling with stride 2 (down-sampling), a 3×3 convolution C → C/r
/// with ReLU at the low resolution, bilinear up-sampling back to H×W, a 1×1 convolution
/// C/r → C, sigmoid: one mask value per position and channel (the paper's mixed attention)
/// (docs/attention-family.md#residual-attention).
extension ForwardContext {
    mutating func residualAttention(_ x: Tensor, _ spec: NonLocalSpec) -> Tensor {
        let p = spec.prefix, reduction = model.config.model.nonlocal.reduction
        let (n, t, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4])
        let squeezed = max(1, c / reduction)
        let down = maxPool3d(x, kernel: [1, 3, 3], stride: [1, 2, 2], padding: [0, 1, 1])     // [N, T, H′, W′, C]
        let (lowH, lowW) = (down.shape[2], down.shape[3])
        let hidden = convBN(down, ConvSpec(name: "\(p).down", cin: c, cout: squeezed, kernel: [1, 3, 3], stride: [1, 1, 1],
                                           padding: [0, 1, 1]), bn: nil, hasBias: true, relu: true)  // [N, T, H′, W′, C/r]
        let up = FrameResampling.apply(hidden, FrameResampling.bilinear(from: lowH, lowW, to: h, w))
            .reshaped([n, t, h, w, squeezed])                                                 // [N, T, H, W, C/r]
        let mask = sigmoid(pointwise(up, ["\(p).mask"])[0])                                   // M(x): [N, T, H, W, C]
        return x + x * mask                                                                   // (1 + M(x)) · x
    }
}
