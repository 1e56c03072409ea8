import Foundation

/// Memory behind a `Tensor`: either a heap allocation this object owns, or a view into
/// memory kept alive by `owner` (an mmapped safetensors file).
public final class TensorStorage: @unchecked Sendable {
    /// The first of `count` Float32 values (64-byte aligned when this object allocated them).
    public let pointer: UnsafeMutablePointer<Float>
    /// Number of Float32 values at `pointer`.
    public let count: Int
    private let owner: AnyObject?

    /// A new zero-filled allocation of `count` floats (64-byte aligned for AVX-512 loads).
    public init(zeros count: Int) {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        raw.initializeMemory(as: Float.self, repeating: 0, count: max(count, 1))
        pointer = raw.assumingMemoryBound(to: Float.self)
        self.count = count
        owner = nil
    }

    /// A new allocation whose contents the caller overwrites entirely.
    init(uninitialized count: Int) {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        self.count = count
        owner = nil
    }

    /// Memory owned by someone else, kept alive as long as this storage is.
    init(borrowing pointer: UnsafeMutablePointer<Float>, count: Int, owner: AnyObject) {
        self.pointer = pointer
        self.count = count
        self.owner = owner
    }

    deinit {
        if owner == nil { UnsafeMutableRawPointer(pointer).deallocate() }
    }
}

/// A dense Float32 tensor. Video activations are channels-last, N×T×H×W×C.
///
/// Value semantics: copies share storage until one of them is written
/// (`withUnsafeMutableBufferPointer` copies first when the storage is shared).
/// A tensor that takes part in a gradient computation also carries its `Tape` and slot.
public struct Tensor: @unchecked Sendable, CustomStringConvertible {
    /// Dimensions, outermost first (row-major); video activations are [N, T, H, W, C].
    public private(set) var shape: [Int]
    var storage: TensorStorage
    /// The tape recording operations on this tensor, when gradients are wanted. Weak: the tape's
    /// backward rules capture the tensors they need, so a strong reference back would keep every
    /// step's tape and activations alive forever. Whoever records keeps the tape.
    public internal(set) weak var tape: Tape?
    /// This tensor's node on `tape`.
    var slot: Int = -1

    /// Number of elements: the product of `shape` (1 for a scalar of shape []).
    public var count: Int { storage.count }
    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// Whether operations on this tensor are recorded on a tape for backpropagation.
    public var requiresGradient: Bool { tape != nil }

    /// A zero-filled tensor. Traps on a negative dimension.
    public init(zeros shape: [Int]) {
        Tensor.checkShape(shape)
        self.shape = shape
        storage = TensorStorage(zeros: shape.reduce(1, *))
    }

    /// A tensor with every element `value`.
    public init(repeating value: Float, shape: [Int]) {
        self.init(uninitialized: shape)
        storage.pointer.update(repeating: value, count: count)
    }

    /// A tensor from its elements in row-major order; traps unless `scalars.count` is the product of `shape`.
    public init(shape: [Int], scalars: [Float]) {
        Tensor.checkShape(shape)
        require(shape.reduce(1, *) == scalars.count,
                     "Tensor(shape: \(shape)) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
        self.init(uninitialized: shape)
        scalars.withUnsafeBufferPointer { storage.pointer.update(from: $0.baseAddress!, count: $0.count) }
    }

    /// A tensor whose every element the caller writes before reading.
    public init(uninitialized shape: [Int]) {
        Tensor.checkShape(shape)
        self.shape = shape
        storage = TensorStorage(uninitialized: shape.reduce(1, *))
    }

    init(shape: [Int], storage: TensorStorage) {
        require(shape.reduce(1, *) == storage.count,
                     "shape \(shape) does not match storage of \(storage.count) elements")
        self.shape = shape
        self.storage = storage
    }

    private static func checkShape(_ shape: [Int]) {
        require(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
    }

    /// A copy of the elements in row-major order.
    public var scalars: [Float] { Array(UnsafeBufferPointer(start: storage.pointer, count: count)) }

    /// The single value of a one-element tensor.
    public var item: Float {
        require(count == 1, "item needs a one-element tensor, got shape \(shape)")
        return storage.pointer[0]
    }

    /// Calls `body` with the elements in row-major order; the pointer is valid only inside `body`.
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.pointer, count: count))
    }

    /// Calls `body` with writable elements in row-major order, first copying the storage if another tensor
    /// shares it (copy on write); the pointer is valid only inside `body`. Writes are not recorded on a tape.
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        if !isKnownUniquelyReferenced(&storage) {
            let copy = TensorStorage(uninitialized: count)
            copy.pointer.update(from: storage.pointer, count: count)
            storage = copy
        }
        return try body(UnsafeMutableBufferPointer(start: storage.pointer, count: count))
    }

    /// Whether no other tensor shares this one's storage (a write would not copy it).
    mutating func isUniquelyReferenced() -> Bool { isKnownUniquelyReferenced(&storage) }

    /// Read-only pointer for kernels; valid while `self` is alive.
    var pointer: UnsafeMutablePointer<Float> { storage.pointer }

    /// The same values with no tape attached: the result of an operation that gradients
    /// do not flow through.
    public var detached: Tensor { Tensor(shape: shape, storage: storage) }

    /// Same storage, new shape (row-major reinterpretation; element count must match).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var newShape = newShape
        if let inferred = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != inferred }.map(\.element).reduce(1, *)
            require(known > 0 && count % known == 0, "cannot reshape \(shape) to \(newShape)")
            newShape[inferred] = count / known
        }
        require(newShape.reduce(1, *) == count, "cannot reshape \(shape) (\(count) elements) to \(newShape)")
        let result = Tensor(shape: newShape, storage: storage)
        let oldShape = shape
        return result.recorded(inputs: [self]) { g in [g.reshaped(oldShape)] }
    }

    /// "Tensor([shape]: [the first 8 elements, …])", for debugging.
    public var description: String {
        let preview = scalars.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape): [\(preview)\(count > 8 ? ", …" : "")])"
    }
}

extension Tensor {
    /// Row-major strides of `shape`.
    static func strides(of shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var s = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = s
            s *= shape[i]
        }
        return strides
    }

    /// Largest absolute difference to `other`, for tests and parity checks. A NaN on either
    /// side is an infinite difference (`Swift.max` would quietly skip it).
    public func maxAbsDifference(_ other: Tensor) -> Float {
        require(shape == other.shape, "maxAbsDifference: shapes \(shape) and \(other.shape) differ")
        var m: Float = 0
        for i in 0..<count {
            let d = abs(pointer[i] - other.pointer[i])
            if !(d <= m) { m = d.isNaN ? .infinity : d }
        }
        return m
    }

    /// Largest magnitude; infinity when any element is NaN.
    public var maxAbs: Float {
        var m: Float = 0
        for i in 0..<count {
            let d = abs(pointer[i])
            if !(d <= m) { m = d.isNaN ? .infinity : d }
        }
        return m
    }
}

/// A precondition whose message survives optimised builds (Swift's `precondition` drops its
/// message under -O; `fatalError` keeps it), so a bad shape always says which shapes.
@inline(__always)
package func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
             file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError(message(), file: file, line: line) }
}
