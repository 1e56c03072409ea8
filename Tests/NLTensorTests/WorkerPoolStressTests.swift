import Foundation
import Synchronization
import NLTensor
import Testing

/// Hammers the worker pool with many short jobs whose closures capture reference-counted
/// state, the case in which a worker that still holds the job after counting its chunk done
/// makes the caller trap when it leaves `withoutActuallyEscaping` ("closure argument was
/// escaped"). Such a race shows up once in thousands of jobs or more, so the counts are large.
/// `NLNET_POOL_STRESS_JOBS` scales the main loop (e.g. 10_000_000 for a long run; the
/// ThreadSanitizer run in `make stress` uses fewer, since TSan is ~10× slower).
@Suite("Worker pool stress", .serialized)
struct WorkerPoolStressTests {
    static let jobs = ProcessInfo.processInfo.environment["NLNET_POOL_STRESS_JOBS"].flatMap(Int.init) ?? 1_000_000

    /// A class instance captured by every job, so each job's closure has a context whose
    /// reference count the escape check inspects.
    final class Counter: @unchecked Sendable {
        let hits = Atomic<Int>(0)
    }

    /// `jobs` back-to-back loops of 2–4 one-item chunks: the shortest jobs there are, so that a
    /// worker's last steps of one job overlap the caller's exit from it as often as possible.
    @Test func millionsOfShortJobs() {
        let counter = Counter()
        var expected = 0
        for j in 0..<Self.jobs {
            let n = 2 + j % 3
            Parallel.forEachTask(n) { _ in counter.hits.add(1, ordering: .relaxed) }
            expected += n
        }
        #expect(counter.hits.load(ordering: .relaxed) == expected)
    }

    /// Loops inside chunks (nested: run inline) and loops from several threads at once (all but
    /// one run inline while the pool is busy), mixed with plain ones.
    @Test func nestedAndConcurrentCallers() {
        let counter = Counter()
        let rounds = max(Self.jobs / 20, 1_000)
        DispatchQueue.concurrentPerform(iterations: 3) { thread in
            for r in 0..<rounds {
                if (r + thread) % 4 == 0 {
                    Parallel.forEachTask(3) { _ in
                        Parallel.forEachTask(2) { _ in counter.hits.add(1, ordering: .relaxed) }
                    }
                } else {
                    Parallel.forEachTask(2) { _ in counter.hits.add(1, ordering: .relaxed) }
                }
            }
        }
        let nested = (0..<3).map { t in (0..<rounds).filter { ($0 + t) % 4 == 0 }.count }.reduce(0, +)
        #expect(counter.hits.load(ordering: .relaxed) == nested * 6 + (3 * rounds - nested) * 2)
    }

    /// Jobs while other threads keep every core busy, so workers are preempted at arbitrary
    /// points (between running a chunk and counting it, while spinning, while going to sleep).
    @Test func jobsOnABusyMachine() {
        let stop = Atomic<Bool>(false)
        let hogs = Parallel.cores + 1
        let started = DispatchGroup()
        for _ in 0..<hogs {
            started.enter()
            Thread.detachNewThread {
                var x: UInt64 = 1
                started.leave()
                while !stop.load(ordering: .relaxed) {
                    for _ in 0..<1_000 { x = x &* 6364136223846793005 &+ 1 }
                    if x == 0 { print(x) }
                }
            }
        }
        started.wait()
        defer { stop.store(true, ordering: .relaxed) }
        let counter = Counter()
        let rounds = max(Self.jobs / 100, 2_000)
        var expected = 0
        for j in 0..<rounds {
            let n = 2 + j % 7
            // Every 64th job sleeps briefly in a chunk, so the pool's workers also go to sleep
            // and are woken while the hogs run.
            Parallel.forEachTask(n) { c in
                if c == 1 && j % 64 == 0 { usleep(50) }
                counter.hits.add(1, ordering: .relaxed)
            }
            expected += n
        }
        #expect(counter.hits.load(ordering: .relaxed) == expected)
    }
}
