import Foundation
import Synchronization
import NLTensor
import Testing

/// `Parallel.forEachChunk` on the worker pool: every item of every call is visited exactly
/// once, whatever the interleaving — back-to-back calls (workers spinning), calls after a pause
/// (workers asleep), calls from inside a chunk, and calls from several threads at once.
@Suite("Parallel loops")
struct ParallelTests {
    /// Runs one loop over `count` items and returns how often each item and each chunk ran.
    static func visits(_ count: Int, grain: Int) -> (items: [Int], chunks: [Int]) {
        let items = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
        items.initialize(repeating: 0, count: max(count, 1))
        defer { items.deallocate() }
        let chunkCount = Parallel.chunkCount(count, grain: grain)
        let chunks = UnsafeMutablePointer<Int>.allocate(capacity: chunkCount)
        chunks.initialize(repeating: 0, count: chunkCount)
        defer { chunks.deallocate() }
        let pi = SharedPointer(items), pc = SharedPointer(chunks)
        Parallel.forEachChunk(count, grain: grain) { chunk, range in
            pc[chunk] += 1
            for i in range { pi[i] += 1 }
        }
        return (Array(UnsafeBufferPointer(start: items, count: count)), Array(UnsafeBufferPointer(start: chunks, count: chunkCount)))
    }

    static func expectOnce(_ v: (items: [Int], chunks: [Int]), _ what: String) {
        #expect(v.items.allSatisfy { $0 == 1 }, "\(what): items visited \(Set(v.items)) times")
        #expect(v.chunks.allSatisfy { $0 == 1 }, "\(what): chunks ran \(v.chunks) times")
    }

    @Test func backToBackCallsVisitEveryItemOnce() {
        for round in 0..<20_000 {
            let count = round % 97 + 1
            Self.expectOnce(Self.visits(count, grain: 1 + round % 3), "round \(round)")
        }
    }

    @Test func callsAfterThePoolSleptStillRun() {
        for round in 0..<5 {
            Thread.sleep(forTimeInterval: 0.02)   // longer than the workers' spin
            Self.expectOnce(Self.visits(1000, grain: 1), "after a pause, round \(round)")
        }
    }

    @Test func nestedLoopsRun() {
        let inner = UnsafeMutablePointer<Int>.allocate(capacity: 64 * 8)
        inner.initialize(repeating: 0, count: 64 * 8)
        defer { inner.deallocate() }
        let p = SharedPointer(inner)
        Parallel.forEach(8) { outer in
            for o in outer {
                Parallel.forEach(64) { range in for i in range { p[o * 64 + i] += 1 } }
            }
        }
        #expect(UnsafeBufferPointer(start: inner, count: 64 * 8).allSatisfy { $0 == 1 })
    }

    @Test func callersOnSeveralThreads() {
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for round in 0..<2_000 {
                let v = ParallelTests.visits(50 + thread + round % 7, grain: 1)
                if !(v.items.allSatisfy { $0 == 1 } && v.chunks.allSatisfy { $0 == 1 }) { failures.withLock { $0 += 1 } }
            }
        }
        #expect(failures.withLock { $0 } == 0)
    }
}
