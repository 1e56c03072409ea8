// The worker pool alone under ThreadSanitizer (`make stress`): Sources/NLTensor/WorkerPool.swift
// compiled with this driver, so the sanitizer sees only the pool's synchronisation (the whole
// package under TSan takes many minutes to build). Plain, nested and concurrent callers; exits
// non-zero on a lost or repeated chunk, TSan on a data race.
import Foundation
import Synchronization

/// What WorkerPool.swift needs of NLTensor's Parallel.
enum Parallel { static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount) }

final class Counter: @unchecked Sendable { let hits = Atomic<Int>(0) }

let rounds = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 200_000
let counter = Counter()
let start = Date()
// Three callers at once; every fourth job of each nests a loop in every chunk.
DispatchQueue.concurrentPerform(iterations: 3) { caller in
    for j in 0..<rounds {
        if j % 4 == caller {
            WorkerPool.shared.run(chunks: 3) { _ in
                WorkerPool.shared.run(chunks: 2) { _ in counter.hits.add(1, ordering: .relaxed) }
            }
        } else {
            WorkerPool.shared.run(chunks: 2 + j % 3) { _ in counter.hits.add(1, ordering: .relaxed) }
        }
    }
}
let expected = (0..<3).map { caller in (0..<rounds).map { j in j % 4 == caller ? 6 : 2 + j % 3 }.reduce(0, +) }.reduce(0, +)
let hits = counter.hits.load(ordering: .relaxed)
print("pool stress: \(3 * rounds) jobs, \(hits) chunks run (expected \(expected)) in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
exit(hits == expected ? 0 : 1)
