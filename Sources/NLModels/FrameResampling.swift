import NLTensor

/// Fixed linear maps over the H·W positions of each frame: adaptive average pooling to b×b bins
/// (ANN's pyramid) and bilinear up-sampling (the residual attention mask). Each is a matrix
/// [H·W, H′·W′] applied by `linear`, so it is exact, differentiable through the tape, and needs
/// no kernel of its own; it costs H·W·H′·W′ multiply-adds per channel and frame, more than a
/// pooling loop (counted so in `nlnet info`).
enum FrameResampling {
    /// x [N, T, H, W, C] → [N, T, H′·W′, C]: every output position a weighted sum of the frame's positions.
    static func apply(_ x: Tensor, _ matrix: Tensor) -> Tensor {
        let (n, t, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4])
        require(matrix.shape[0] == h * w, "FrameResampling: a matrix for \(matrix.shape[0]) positions on \(h)×\(w) frames")
        let frames = x.permuted([0, 1, 4, 2, 3]).reshaped([n, t, c, h * w])             // [N, T, C, HW]
        return linear(frames, weight: matrix).permuted([0, 1, 3, 2])                     // [N, T, H′W′, C]
    }

    /// PyTorch's adaptive_avg_pool2d to bins×bins: bin i of a side n covers [⌊i·n/b⌋, ⌈(i+1)·n/b⌉)
    /// (bins overlap, or repeat a position, when n is not a multiple of b). [H·W, b²].
    static func adaptiveAveragePool(height h: Int, width w: Int, bins b: Int) -> Tensor {
        func ranges(_ n: Int) -> [Range<Int>] { (0..<b).map { i in (i * n / b)..<(((i + 1) * n + b - 1) / b) } }
        var m = [Float](repeating: 0, count: h * w * b * b)
        for (bi, rows) in ranges(h).enumerated() {
            for (bj, cols) in ranges(w).enumerated() {
                let share = 1 / Float(rows.count * cols.count)
                for y in rows { for x in cols { m[(y * w + x) * b * b + bi * b + bj] = share } }
            }
        }
        return Tensor(shape: [h * w, b * b], scalars: m)
    }

    /// Bilinear interpolation from h×w to outH×outW with aligned corners (the corner pixels'
    /// centres coincide, as Caffe's Interp layer of the residual attention network). [h·w, outH·outW].
    static func bilinear(from h: Int, _ w: Int, to outH: Int, _ outW: Int) -> Tensor {
        /// Per output index along one side: (lower source index, upper, weight of upper).
        func taps(_ n: Int, _ out: Int) -> [(Int, Int, Float)] {
            (0..<out).map { o in
                let source = out > 1 ? Float(o) * Float(n - 1) / Float(out - 1) : 0
                let lower = min(Int(source), n - 1)
                return (lower, min(lower + 1, n - 1), source - Float(lower))
            }
        }
        var m = [Float](repeating: 0, count: h * w * outH * outW)
        for (oy, (y0, y1, fy)) in taps(h, outH).enumerated() {
            for (ox, (x0, x1, fx)) in taps(w, outW).enumerated() {
                let column = oy * outW + ox
                for (y, wy) in [(y0, 1 - fy), (y1, fy)] {
                    for (x, wx) in [(x0, 1 - fx), (x1, fx)] { m[(y * w + x) * outH * outW + column] += wy * wx }
                }
            }
        }
        return Tensor(shape: [h * w, outH * outW], scalars: m)
    }
}
