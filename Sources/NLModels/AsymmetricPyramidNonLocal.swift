import NLTensor

/// The asymmetric pyramid non-local block (Zhu, Xu, Bai, Huang, Bai, "Asymmetric Non-local
/// Neural Networks for Semantic Segmentation", ICCV 2019, APNB) in 3D, in a non-local slot.
/// A non-local block whose keys and values are pooled: each frame's key and value maps are
/// average-pooled to pyramid bins of 1, 3, 6 and 8 (S = 1 + 9 + 36 + 64 = 110 per frame), so
/// the THW queries attend to 110·T keys instead of THW:
///   K = ReLU(BN(W_k x)) (C/2; the queries use the same embedding, as ANN's f_query = f_key),
///   V = W_v x (C/2), y_i = Σ_j softmax_j(K_iᵀ P(K)_j / √(C/2)) P(V)_j, z = x + W_o y
/// with W_o = 0 at first: the block starts as the identity (docs/attention-family.md#apnb).
extension ForwardContext {
    static let pyramidBins = [1, 3, 6, 8]

    mutating func asymmetricPyramidNonLocal(_ x: Tensor, _ spec: NonLocalSpec) -> Tensor {
        let p = spec.prefix
        let (n, t, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4])
        let inner = spec.inner, positions = t * h * w
        func pointwiseSpec(_ name: String, _ cin: Int, _ cout: Int) -> ConvSpec {
            ConvSpec(name: "\(p).\(name)", cin: cin, cout: cout, kernel: [1, 1, 1], stride: [1, 1, 1], padding: [0, 0, 0])
        }
        let key = convBN(x, pointwiseSpec("key", c, inner), bn: "\(p).key_bn", hasBias: true, relu: true)  // [N, T, H, W, C/2]
        let value = pointwise(x, ["\(p).value"])[0]                                           // [N, T, H, W, C/2]
        // One matrix for the whole pyramid: [HW, 110], bins in the order 1, 3, 6, 8 (ANN's PSPModule).
        let pyramid = concat(Self.pyramidBins.map { FrameResampling.adaptiveAveragePool(height: h, width: w, bins: $0) }, axis: 1)
        let bins = pyramid.shape[1]
        let pooledKeys = FrameResampling.apply(key, pyramid).reshaped([n, t * bins, inner])   // [N, 110·T, C/2]
        let pooledValues = FrameResampling.apply(value, pyramid).reshaped([n, t * bins, inner])  // [N, 110·T, C/2]
        let queries = key.reshaped([n, positions, inner]) * (1 / Float(inner).squareRoot())   // [N, THW, C/2]
        let y = fused
            ? attention(queries: queries, keys: pooledKeys, values: pooledValues, normalization: .softmax)
            : matmul(softmax(matmul(queries, pooledKeys, transposeB: true)), pooledValues)    // [N, THW, C/2]
        return convBN(y.reshaped([n, t, h, w, inner]), pointwiseSpec("out", inner, c), bn: nil, hasBias: true, residual: x)
    }
}
