import Foundation
/// max(0, x). The gradient passes where the output is positive (PyTorch's convention at 0).
public func relu(_ x: Tensor) -> Tensor {
    let y = Tensor(uninitialized: x.shape)
    let px = SharedPointer(x.pointer), py = SharedPointer(y.pointer)
    Parallel.forEach(x.count, grain: 1 << 16) { r in
        for i in r { py[i] = max(px[i], 0) }
    }
    return y.recorded(inputs: [x]) { [y = y.detached] g in
        let dx = Tensor(uninitialized: g.shape)
        let pg = SharedPointer(g.pointer), pd = SharedPointer(dx.pointer), py = SharedPointer(y.pointer)
        Parallel.forEach(g.count, grain: 1 << 16) { r in
            for i in r { pd[i] = py[i] > 0 ? pg[i] : 0 }
        }
        return [dx]
    }
}

/// 1 / (1 + e^−x), elementwise; the gradient is y(1 − y).
public func sigmoid(_ x: Tensor) -> Tensor {
    let y = Tensor(uninitialized: x.shape)
    let px = SharedPointer(x.pointer), py = SharedPointer(y.pointer)
    Parallel.forEach(x.count, grain: 1 << 16) { r in
        for i in r { py[i] = 1 / (1 + expf(-px[i])) }
    }
    return y.recorded(inputs: [x]) { [y = y.detached] g in
        let dx = Tensor(uninitialized: g.shape)
        let pg = SharedPointer(g.pointer), pd = SharedPointer(dx.pointer), py = SharedPointer(y.pointer)
        Parallel.forEach(g.count, grain: 1 << 16) { r in
            for i in r { pd[i] = pg[i] * py[i] * (1 - py[i]) }
        }
        return [dx]
    }
}
