import Foundation
import Synchronization

/// The threads behind `Parallel`: the calling thread plus `cores − 1` workers that wait for
/// work by spinning for a short while before they sleep.
///
/// Why not `DispatchQueue.concurrentPerform`: a training step of the small NL-I3D makes about
/// 2,400 parallel loops, most of them a few hundred microseconds long; each dispatch woke a
/// sleeping worker through the kernel (futex) and waited for it, and that handoff cost about
/// as much as the loops saved. A worker that has just finished one loop is still spinning when
/// the next arrives, and picks it up within a microsecond.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool(workers: Parallel.cores - 1)

    /// The current job's generation (high 32 bits) and how many of its chunks are still
    /// unclaimed (low 32 bits): one atomic, so a claim is one compare-and-swap of both. A
    /// worker that read the ticket of a finished job holds (old generation, 0), which allows
    /// no claim and can never match a newer job's ticket. (Counting up to a separate chunk
    /// count, as before, let a late worker compare its stale index with the NEXT job's count,
    /// written just before that job's ticket, and claim a phantom chunk: the next job then
    /// ran that chunk twice and counted one too many done, so its caller could return while a
    /// worker still ran its closure — the "closure argument was escaped" trap.)
    private let ticket = Atomic<UInt64>(0)
    /// Chunks claimed but not finished, plus unclaimed ones.
    private let pending = Atomic<Int>(0)
    /// A job is running; a parallel loop started inside one runs on its own thread.
    private let busy = Atomic<Bool>(false)
    private let sleepers = Atomic<Int>(0)
    private let lock = NSCondition()

    // Written by the caller before it publishes a new generation; read by workers after they
    // see it (the atomic's sequentially consistent store and load order these accesses).
    private var job: ((Int) -> Void)?
    private var chunks = 0

    /// Spins (checks of `ticket`) before a worker sleeps: some tens of microseconds.
    private static let spins = 20_000

    private init(workers: Int) {
        for _ in 0..<max(workers, 0) {
            let thread = Thread { [unowned self] in self.work() }
            thread.name = "nlnet-worker"
            thread.start()
        }
    }

    /// Runs body(0..<chunks), each chunk once, on the caller and the workers; returns when all
    /// are done. Nested calls (from inside a body) run their chunks on the calling thread.
    func run(chunks: Int, _ body: (Int) -> Void) {
        guard chunks > 1, busy.compareExchange(expected: false, desired: true, ordering: .sequentiallyConsistent).exchanged else {
            for c in 0..<chunks { body(c) }
            return
        }
        withoutActuallyEscaping(body) { body in
            job = body
            self.chunks = chunks
            pending.store(chunks, ordering: .sequentiallyConsistent)
            let generation = (ticket.load(ordering: .sequentiallyConsistent) >> 32) &+ 1
            ticket.store(generation << 32 | UInt64(chunks), ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                lock.lock()
                lock.broadcast()
                lock.unlock()
            }
            runChunks(generation)
            // The last chunks are on workers: wait, yielding the core if they take long (a
            // worker may have been preempted by another process on this shared machine).
            var spins = 0
            while pending.load(ordering: .sequentiallyConsistent) > 0 {
                spins += 1
                if spins > 1_000 { sched_yield() }
            }
            job = nil
        }
        busy.store(false, ordering: .sequentiallyConsistent)
    }

    /// Claims and runs chunks of job `generation` until none is left.
    private func runChunks(_ generation: UInt64) {
        while true {
            let t = ticket.load(ordering: .sequentiallyConsistent)
            guard t >> 32 == generation else { return }
            let unclaimed = Int(t & 0xFFFF_FFFF)
            guard unclaimed > 0 else { return }
            guard ticket.compareExchange(expected: t, desired: t - 1, ordering: .sequentiallyConsistent).exchanged else { continue }
            // The claim keeps this job's `pending` above zero, so its caller has not moved on
            // and `chunks` is this job's.
            runJob(chunks - unclaimed)
            // Counted done only after runJob has returned and dropped its copy of the closure
            // (not inlined, so no release of it can move past this update).
            pending.subtract(1, ordering: .sequentiallyConsistent)
        }
    }

    @inline(never)
    private func runJob(_ chunk: Int) {
        job.unsafelyUnwrapped(chunk)
    }

    private func work() {
        var seen = ticket.load(ordering: .sequentiallyConsistent) >> 32
        while true {
            var spins = 0
            var generation = seen
            while generation == seen {
                generation = ticket.load(ordering: .sequentiallyConsistent) >> 32
                spins += 1
                if spins == Self.spins && generation == seen {
                    // Sleep until a caller publishes a new generation (it checks `sleepers`
                    // after publishing, and this thread checks the ticket after counting
                    // itself, so one of the two sees the other).
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    lock.lock()
                    while ticket.load(ordering: .sequentiallyConsistent) >> 32 == seen { lock.wait() }
                    lock.unlock()
                    sleepers.subtract(1, ordering: .sequentiallyConsistent)
                    generation = ticket.load(ordering: .sequentiallyConsistent) >> 32
                }
            }
            seen = generation
            runChunks(generation)
        }
    }
}
