/// Reshape-free layout changes the non-local block needs: permutation and concatenation.
/// (`reshaped` lives on `Tensor`: it shares storage.)

extension Tensor {
    /// Dimensions reordered: result dimension i is this tensor's dimension `order[i]`.
    public func permuted(_ order: [Int]) -> Tensor {
        require(order.sorted() == Array(0..<rank),
                     "permuted(\(order)): not a permutation of the \(rank) dimensions of \(shape)")
        let newShape = order.map { shape[$0] }
        let srcStrides = Tensor.strides(of: shape)
        let mapped = order.map { srcStrides[$0] }
        let y = Tensor(uninitialized: newShape)
        let outer = newShape.dropLast().reduce(1, *), inner = newShape.last ?? 1
        let innerStride = mapped.last ?? 1
        let src = SharedPointer(pointer), dst = SharedPointer(y.pointer)
        let leadShape = Array(newShape.dropLast()), leadStrides = Array(mapped.dropLast())
        Parallel.forEach(outer, grain: max(1, 4096 / max(inner, 1))) { rows in
            for row in rows {
                var rem = row, offset = 0
                for d in stride(from: leadShape.count - 1, through: 0, by: -1) {
                    offset += (rem % leadShape[d]) * leadStrides[d]
                    rem /= leadShape[d]
                }
                let out = dst + row * inner
                if innerStride == 1 { out.update(from: src + offset, count: inner) }
                else { for i in 0..<inner { out[i] = src[offset + i * innerStride] } }
            }
        }
        var inverse = [Int](repeating: 0, count: order.count)
        for (i, o) in order.enumerated() { inverse[o] = i }
        return y.recorded(inputs: [self]) { g in [g.permuted(inverse)] }
    }

    /// The last two dimensions swapped.
    public var transposedLast2: Tensor {
        require(rank >= 2, "transposedLast2 needs rank ≥ 2, got \(shape)")
        return permuted(Array(0..<(rank - 2)) + [rank - 1, rank - 2])
    }
}

/// Tensors joined along `axis`; all other dimensions must agree.
public func concat(_ parts: [Tensor], axis: Int) -> Tensor {
    require(!parts.isEmpty, "concat: no tensors")
    let first = parts[0]
    let axis = axis < 0 ? axis + first.rank : axis
    require(axis >= 0 && axis < first.rank, "concat: axis \(axis) out of range for \(first.shape)")
    for p in parts {
        require(p.rank == first.rank && (0..<p.rank).allSatisfy { $0 == axis || p.shape[$0] == first.shape[$0] },
                     "concat along \(axis): shapes \(first.shape) and \(p.shape) differ off that axis")
    }
    let outer = first.shape[..<axis].reduce(1, *)
    let inner = first.shape[(axis + 1)...].reduce(1, *)
    let sizes = parts.map { $0.shape[axis] }
    var shape = first.shape
    shape[axis] = sizes.reduce(0, +)
    let y = Tensor(uninitialized: shape)
    let rowOut = shape[axis] * inner
    var offset = 0
    for p in parts {
        let rowIn = p.shape[axis] * inner
        for o in 0..<outer { (y.pointer + o * rowOut + offset).update(from: p.pointer + o * rowIn, count: rowIn) }
        offset += rowIn
    }
    return y.recorded(inputs: parts) { g in
        var start = 0
        return zip(parts, sizes).map { p, size in
            defer { start += size }
            guard p.requiresGradient else { return nil }
            return g.slice(axis: axis, range: start..<(start + size))
        }
    }
}

extension Tensor {
    /// The elements with index in `range` along `axis` (a copy).
    public func slice(axis: Int, range: Range<Int>) -> Tensor {
        require(axis >= 0 && axis < rank && range.lowerBound >= 0 && range.upperBound <= shape[axis],
                     "slice: range \(range) on axis \(axis) out of bounds for \(shape)")
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
        var newShape = shape
        newShape[axis] = range.count
        let y = Tensor(uninitialized: newShape)
        for o in 0..<outer {
            (y.pointer + o * range.count * inner)
                .update(from: pointer + (o * shape[axis] + range.lowerBound) * inner, count: range.count * inner)
        }
        let fullShape = shape
        return y.recorded(inputs: [self]) { g in
            var dx = Tensor(zeros: fullShape)
            dx.withUnsafeMutableBufferPointer { d in
                for o in 0..<outer {
                    (d.baseAddress! + (o * fullShape[axis] + range.lowerBound) * inner)
                        .update(from: g.pointer + o * range.count * inner, count: range.count * inner)
                }
            }
            return [dx]
        }
    }
}
