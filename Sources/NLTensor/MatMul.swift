/// Batched matrix product over leading dimensions: a [..., M, K] · b [..., K, N] → [..., M, N],
/// with either operand optionally transposed in its last two dimensions (no copy: the GEMM
/// reads it transposed). The non-local block's θᵀφ and g·Pᵀ are such products.
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
    require(a.rank >= 2 && b.rank == a.rank && a.shape.dropLast(2) == b.shape.dropLast(2),
                 "matmul: shapes \(a.shape) and \(b.shape) need equal rank ≥ 2 and equal batch dimensions")
    let (ar, ac) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
    let (br, bc) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
    let (m, k) = transposeA ? (ac, ar) : (ar, ac)
    let (kb, n) = transposeB ? (bc, br) : (br, bc)
    require(k == kb, "matmul: inner dimensions differ: \(a.shape)\(transposeA ? "ᵀ" : "") · \(b.shape)\(transposeB ? "ᵀ" : "")")
    let batch = a.shape.dropLast(2).reduce(1, *)
    let y = Tensor(uninitialized: Array(a.shape.dropLast(2)) + [m, n])
    for i in 0..<batch {
        sgemm(transA: transposeA, transB: transposeB, m: m, n: n, k: k,
              a: a.pointer + i * ar * ac, lda: ac, b: b.pointer + i * br * bc, ldb: bc,
              c: y.pointer + i * m * n, ldc: n)
    }
    return y.recorded(inputs: [a, b]) { g in
        // C = op(A)·op(B): dop(A) = g·op(B)ᵀ, dop(B) = op(A)ᵀ·g, then undo the transposes.
        let da: Tensor? = !a.requiresGradient ? nil :
            transposeA ? matmul(b.detached, g, transposeA: transposeB, transposeB: true)
                       : matmul(g, b.detached, transposeB: !transposeB)
        let db: Tensor? = !b.requiresGradient ? nil :
            transposeB ? matmul(g, a.detached, transposeA: true, transposeB: transposeA)
                       : matmul(a.detached, g, transposeA: !transposeA)
        return [da, db]
    }
}

/// Fully connected layer on the last dimension: x [..., In] · weight [In, Out] + bias [Out].
/// (PyTorch stores the weight as [Out, In]; `linearWeight(fromPyTorch:)` converts it.)
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    require(weight.rank == 2 && x.shape.last == weight.shape[0],
                 "linear: input \(x.shape) does not fit weight \(weight.shape) (needs [..., \(weight.rank == 2 ? weight.shape[0] : -1)])")
    let flat = x.reshaped([-1, weight.shape[0]])
    let w = weight.reshaped([1] + weight.shape)
    var y = matmul(flat.reshaped([1] + flat.shape), w).reshaped(Array(x.shape.dropLast()) + [weight.shape[1]])
    if let bias { y = y + bias }
    return y
}

/// A PyTorch linear weight (Out, In) in this project's layout [In, Out] for `linear`.
public func linearWeight(fromPyTorch w: Tensor) -> Tensor {
    require(w.rank == 2, "linearWeight(fromPyTorch:): expected (Out, In), got \(w.shape)")
    return w.permuted([1, 0])
}
