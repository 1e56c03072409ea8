import CKernels
/// Max and average pooling over T, H, W of channels-last [N, T, H, W, C] tensors.
/// Padding counts as -∞ for max pooling; average pooling divides by the whole window
/// (PyTorch's default count_include_pad), which equals the in-bounds count when pad is 0.

struct PoolPlan: Sendable {
    let n: Int, t: Int, h: Int, w: Int, c: Int
    let kernel: [Int], stride: [Int], padding: [Int]
    let to: Int, ho: Int, wo: Int

    init(_ name: String, input: [Int], kernel: [Int], stride: [Int], padding: [Int]) {
        require(input.count == 5, "\(name): input must be [N, T, H, W, C], got \(input)")
        require(kernel.count == 3 && stride.count == 3 && padding.count == 3,
                     "\(name): kernel \(kernel), stride \(stride), padding \(padding) need 3 values each")
        require((0..<3).allSatisfy { padding[$0] * 2 <= kernel[$0] },
                     "\(name): padding \(padding) must be at most half of kernel \(kernel)")
        n = input[0]; t = input[1]; h = input[2]; w = input[3]; c = input[4]
        self.kernel = kernel; self.stride = stride; self.padding = padding
        let dims = [t, h, w]
        var out = [0, 0, 0]
        for d in 0..<3 { out[d] = (dims[d] + 2 * padding[d] - kernel[d]) / stride[d] + 1 }
        require(out.allSatisfy { $0 >= 1 }, "\(name): input \(input) is smaller than kernel \(kernel)")
        to = out[0]; ho = out[1]; wo = out[2]
    }

    var outputShape: [Int] { [n, to, ho, wo, c] }
    var outputRows: Int { n * to * ho * wo }

    /// Calls `body(inputRow)` for each in-bounds input position of output row `row`.
    @inline(__always)
    func forEachTap(ofOutputRow row: Int, _ body: (Int) -> Void) {
        let ow = row % wo, oh = (row / wo) % ho, ot = (row / (wo * ho)) % to, image = row / (wo * ho * to)
        for kt in 0..<kernel[0] {
            let it = ot * stride[0] - padding[0] + kt
            guard it >= 0 && it < t else { continue }
            for kh in 0..<kernel[1] {
                let ih = oh * stride[1] - padding[1] + kh
                guard ih >= 0 && ih < h else { continue }
                for kw in 0..<kernel[2] {
                    let iw = ow * stride[2] - padding[2] + kw
                    guard iw >= 0 && iw < w else { continue }
                    body(((image * t + it) * h + ih) * w + iw)
                }
            }
        }
    }
}

/// Max pooling of x [N, T, H, W, C] with kernel, stride (default: the kernel) and padding as [T, H, W];
/// padding counts as −∞. Returns [N, T', H', W', C]; traps when a kernel is larger than its padded input.
public func maxPool3d(_ x: Tensor, kernel: [Int], stride: [Int]? = nil, padding: [Int] = [0, 0, 0]) -> Tensor {
    let plan = PoolPlan("maxPool3d", input: x.shape, kernel: kernel, stride: stride ?? kernel, padding: padding)
    let c = plan.c
    let y = Tensor(uninitialized: plan.outputShape)
    // For the backward pass: which input row won, per output element.
    let argmax = UnsafeMutablePointer<Int32>.allocate(capacity: max(y.count, 1))
    let px = SharedPointer(x.pointer), py = SharedPointer(y.pointer), pa = SharedPointer(argmax)
    // The first in-bounds tap, then any tap that is larger or NaN (PyTorch's rule: the first
    // maximum in window order wins, and a NaN propagates). Every window has a tap in bounds
    // (padding is at most half the kernel).
    Parallel.forEach(plan.outputRows, grain: max(1, 2048 / max(c, 1))) { rows in
        for row in rows {
            let out = py + row * c, arg = pa + row * c
            var first = true
            plan.forEachTap(ofOutputRow: row) { inRow in
                let src = px + inRow * c
                if first {
                    out.update(from: src, count: c)
                    arg.update(repeating: Int32(inRow), count: c)
                    first = false
                    return
                }
                nl_max_pool_tap(src, out, arg, Int32(inRow), c)
            }
        }
    }
    let box = IndexBuffer(argmax)
    return y.recorded(inputs: [x]) { g in
        let dx = Tensor(zeros: x.shape)
        let pd = SharedPointer(dx.pointer), pg = SharedPointer(g.pointer), pa = SharedPointer(box.pointer)
        Parallel.forEach(c, grain: 8) { channels in
            for row in 0..<plan.outputRows {
                for ch in channels {
                    let i = row * c + ch
                    pd[Int(pa[i]) * c + ch] += pg[i]
                }
            }
        }
        return [dx]
    }
}

/// Owns the argmax indices until the tape (or the tensor) is gone.
final class IndexBuffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Int32>
    init(_ p: UnsafeMutablePointer<Int32>) { pointer = p }
    deinit { pointer.deallocate() }
}

/// Average pooling of x [N, T, H, W, C] as `maxPool3d`, each window divided by its full size
/// (padding included). Returns [N, T', H', W', C].
public func avgPool3d(_ x: Tensor, kernel: [Int], stride: [Int]? = nil, padding: [Int] = [0, 0, 0]) -> Tensor {
    let plan = PoolPlan("avgPool3d", input: x.shape, kernel: kernel, stride: stride ?? kernel, padding: padding)
    let c = plan.c
    let scale = 1 / Float(kernel.reduce(1, *))
    let y = Tensor(uninitialized: plan.outputShape)
    let px = SharedPointer(x.pointer), py = SharedPointer(y.pointer)
    Parallel.forEach(plan.outputRows, grain: max(1, 2048 / max(c, 1))) { rows in
        for row in rows {
            let out = py + row * c
            out.update(repeating: 0, count: c)
            plan.forEachTap(ofOutputRow: row) { inRow in
                let src = px + inRow * c
                for ch in 0..<c { out[ch] += src[ch] }
            }
            for ch in 0..<c { out[ch] *= scale }
        }
    }
    return y.recorded(inputs: [x]) { g in
        let dx = Tensor(zeros: x.shape)
        let pd = SharedPointer(dx.pointer), pg = SharedPointer(g.pointer)
        Parallel.forEach(c, grain: 8) { channels in
            for row in 0..<plan.outputRows {
                let src = pg + row * c
                plan.forEachTap(ofOutputRow: row) { inRow in
                    let dst = pd + inRow * c
                    for ch in channels { dst[ch] += src[ch] * scale }
                }
            }
        }
        return [dx]
    }
}

/// Mean over T, H, W: [N, T, H, W, C] → [N, 1, 1, 1, C].
public func globalAvgPool3d(_ x: Tensor) -> Tensor {
    require(x.rank == 5, "globalAvgPool3d: input must be [N, T, H, W, C], got \(x.shape)")
    return avgPool3d(x, kernel: Array(x.shape[1...3]))
}
