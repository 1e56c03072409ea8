import Foundation

/// A pointer that may cross into `concurrentPerform` workers. Each worker must touch a
/// disjoint part of the memory; that is the caller's promise.
public struct SharedPointer<T>: @unchecked Sendable {
    public let base: UnsafeMutablePointer<T>
    public init(_ base: UnsafeMutablePointer<T>) { self.base = base }
    public subscript(i: Int) -> T {
        get { base[i] }
        nonmutating set { base[i] = newValue }
    }
    public static func + (p: SharedPointer, offset: Int) -> UnsafeMutablePointer<T> { p.base + offset }
}

/// The project's own loops (im2col, pooling, elementwise, softmax) split over cores here;
/// GEMMs are threaded by OpenBLAS.
public enum Parallel {
    public static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Calls `body` on disjoint chunks covering 0..<count, in parallel when the work is large
    /// enough (`grain` is the least number of items worth a thread).
    static func forEach(_ count: Int, grain: Int = 1, _ body: @Sendable (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = min(cores, max(1, count / max(grain, 1)))
        if chunks == 1 { body(0..<count); return }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            body((count * c / chunks)..<(count * (c + 1) / chunks))
        }
    }
}
