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

/// The project's own loops (im2col, pooling, elementwise, softmax) and large GEMMs split over
/// the cores here, on `WorkerPool`'s threads.
public enum Parallel {
    public static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Calls `body` on disjoint chunks covering 0..<count, in parallel when the work is large
    /// enough (`grain` is the least number of items worth a thread).
    public static func forEach(_ count: Int, grain: Int = 1, _ body: @Sendable (Range<Int>) -> Void) {
        forEachChunk(count, grain: grain) { _, range in body(range) }
    }

    /// How many chunks `forEach` makes of `count` items.
    public static func chunkCount(_ count: Int, grain: Int) -> Int {
        min(cores, max(1, count / max(grain, 1)))
    }

    /// `forEach`, telling each call which chunk (0..<chunkCount) it has.
    public static func forEachChunk(_ count: Int, grain: Int = 1, _ body: @Sendable (Int, Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = chunkCount(count, grain: grain)
        if chunks == 1 { body(0, 0..<count); return }
        WorkerPool.shared.run(chunks: chunks) { c in
            body(c, (count * c / chunks)..<(count * (c + 1) / chunks))
        }
    }

    /// Calls body(i) once for each i in 0..<count, the cores taking tasks as they free up
    /// (uneven tasks balance themselves). Loops inside a task run on the task's thread.
    public static func forEachTask(_ count: Int, _ body: @Sendable (Int) -> Void) {
        if count == 1 { body(0); return }
        WorkerPool.shared.run(chunks: count, body)
    }

    /// Per-column sums over `rows` rows, in Double: each chunk of rows adds its part into its own
    /// `width` accumulators (zeroed), and the chunks' sums are added in chunk order. Splitting
    /// by rows, not columns, lets each core stream whole rows (a [.., C] tensor with small C).
    static func columnSums(rows: Int, width: Int, grain: Int,
                           _ body: @Sendable (Range<Int>, UnsafeMutablePointer<Double>) -> Void) -> [Double] {
        let chunks = chunkCount(rows, grain: grain)
        let partial = UnsafeMutablePointer<Double>.allocate(capacity: chunks * width)
        defer { partial.deallocate() }
        partial.initialize(repeating: 0, count: chunks * width)
        let shared = SharedPointer(partial)
        forEachChunk(rows, grain: grain) { chunk, range in body(range, shared + chunk * width) }
        var total = [Double](repeating: 0, count: width)
        for chunk in 0..<chunks { for j in 0..<width { total[j] += partial[chunk * width + j] } }
        return total
    }
}
