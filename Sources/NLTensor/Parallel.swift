import Foundation

/// A pointer that may cross into `concurrentPerform` workers. Each worker must touch a
/// disjoint part of the memory; that is the caller's promise.
package struct SharedPointer<T>: @unchecked Sendable {
    package let base: UnsafeMutablePointer<T>
    package init(_ base: UnsafeMutablePointer<T>) { self.base = base }
    package subscript(i: Int) -> T {
        get { base[i] }
        nonmutating set { base[i] = newValue }
    }
    package static func + (p: SharedPointer, offset: Int) -> UnsafeMutablePointer<T> { p.base + offset }
}

/// The project's own loops (im2col, pooling, elementwise, softmax) and large GEMMs split over
/// the cores here, on `WorkerPool`'s threads.
package enum Parallel {
    /// Threads for parallel loops: the processors online, or `NLNET_THREADS` (e.g. 1 for each
    /// of several processes sharing a machine, such as ablation runs side by side).
    package static let cores: Int = {
        if let n = ProcessInfo.processInfo.environment["NLNET_THREADS"].flatMap(Int.init), n >= 1 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Calls `body` on disjoint chunks covering 0..<count, in parallel when the work is large
    /// enough (`grain` is the least number of items worth a thread).
    package static func forEach(_ count: Int, grain: Int = 1, _ body: @Sendable (Range<Int>) -> Void) {
        forEachChunk(count, grain: grain) { _, range in body(range) }
    }

    /// How many chunks `forEach` makes of `count` items.
    package static func chunkCount(_ count: Int, grain: Int) -> Int {
        min(cores, max(1, count / max(grain, 1)))
    }

    /// `forEach`, telling each call which chunk (0..<chunkCount) it has.
    package static func forEachChunk(_ count: Int, grain: Int = 1, _ body: @Sendable (Int, Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = chunkCount(count, grain: grain)
        if chunks == 1 { body(0, 0..<count); return }
        WorkerPool.shared.run(chunks: chunks) { c in
            body(c, (count * c / chunks)..<(count * (c + 1) / chunks))
        }
    }

    /// `forEachChunk` for a sum into `target` (`size` floats): each chunk adds into its own
    /// buffer, chunk 0 into `target` itself and the others into zeroed scratch, which is added
    /// into `target` in chunk order at the end (the result does not depend on which thread ran
    /// which chunk). With no target, the body gets no buffer.
    static func forEachChunk(_ count: Int, grain: Int = 1, summingInto target: UnsafeMutablePointer<Float>?, size: Int,
                             _ body: @Sendable (Range<Int>, UnsafeMutablePointer<Float>?) -> Void) {
        let chunks = chunkCount(count, grain: grain)
        let scratch = target == nil || chunks == 1 ? nil : UnsafeMutablePointer<Float>.allocate(capacity: (chunks - 1) * size)
        defer { scratch?.deallocate() }
        scratch?.initialize(repeating: 0, count: (chunks - 1) * size)
        let (pt, ps) = (target.map(SharedPointer.init), scratch.map(SharedPointer.init))
        forEachChunk(count, grain: grain) { chunk, range in
            body(range, chunk == 0 ? pt?.base : ps.map { $0 + (chunk - 1) * size })
        }
        if let target, let scratch {
            for chunk in 1..<chunks { addRun(target, scratch + (chunk - 1) * size, size) }
        }
    }

    /// Calls body(i) once for each i in 0..<count, the cores taking tasks as they free up
    /// (uneven tasks balance themselves). Loops inside a task run on the task's thread.
    package static func forEachTask(_ count: Int, _ body: @Sendable (Int) -> Void) {
        if count == 1 { body(0); return }
        WorkerPool.shared.run(chunks: count, body)
    }

    /// Two per-channel sums over the rows of channels-last data with `channels` channels:
    /// `add(rows, first, second)` adds its terms for a block of at most 64 rows into first[j]
    /// and second[j] (c floats each, zeroed for each block). Blocks are summed in Float, which
    /// keeps the loops vectorised, then added in Double; each chunk of rows has its own
    /// accumulators, added in chunk order. Splitting by rows, not channels, lets each core
    /// stream whole rows (a [.., C] tensor with small C).
    static func channelSums(rows: Int, channels c: Int, grain: Int,
                            _ add: @Sendable (Range<Int>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void)
        -> (first: [Double], second: [Double]) {
        let chunks = chunkCount(rows, grain: grain)
        let partial = UnsafeMutablePointer<Double>.allocate(capacity: chunks * 2 * c)
        defer { partial.deallocate() }
        partial.initialize(repeating: 0, count: chunks * 2 * c)
        let shared = SharedPointer(partial)
        forEachChunk(rows, grain: grain) { chunk, range in
            let acc = shared + chunk * 2 * c
            let sums = UnsafeMutablePointer<Float>.allocate(capacity: max(2 * c, 1))
            defer { sums.deallocate() }
            for first in stride(from: range.lowerBound, to: range.upperBound, by: 64) {
                sums.initialize(repeating: 0, count: 2 * c)
                add(first..<min(first + 64, range.upperBound), sums, sums + c)
                for j in 0..<(2 * c) { acc[j] += Double(sums[j]) }
            }
        }
        var total = [Double](repeating: 0, count: 2 * c)
        for chunk in 0..<chunks { for j in 0..<(2 * c) { total[j] += partial[chunk * 2 * c + j] } }
        return (Array(total[..<c]), Array(total[c...]))
    }
}
