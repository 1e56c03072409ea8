import Foundation
import NLModels
import NLTensor

/// One data-parallel step's exchange between the ranks of a `ProcessGroup`, so that N ranks
/// end the step with the weights one process would have after the same global batch.
///
/// A step of the recipe is `accumulate` micro-batches of `batch_size` clips; rank k of N trains
/// micro-batches k·L ..< (k+1)·L (L = accumulate / N), each with its own batch-norm batch, as
/// one process does. What the ranks then combine, in rank order (a fixed order, so every rank
/// computes the same bits):
/// - gradients: the sum of the ranks' sums (each micro-batch's gradient is already scaled by
///   its share of the global batch);
/// - loss, correct and seen clips, skipped clips: sums, for the log;
/// - BN running statistics: one process applies r ← (1−m)·r + m·s once per micro-batch, in
///   order. Rank k, starting from the common r₀ and updating u_k times, ends at r_k. The
///   sequential result is linear in the r_k:
///       r = Σ_k (1−m)^{A_k} · r_k + c · r₀,   A_k = Σ_{j>k} u_j,
///       c = (1−m)^U − Σ_k (1−m)^{A_k + u_k},  U = Σ_k u_k,
///   which leaves r₀ unchanged when no rank changed it (a frozen BN).
/// Each rank sends one flat vector [header (5) | gradients (trainable names, in the order
/// given) | running statistics (names sorted)]; `allGather` hands every rank all of them.
struct GradientExchange {
    struct Sums {
        var loss: Float
        var seen: Int
        var correct: Int
        var skipped: Int
        var gradients: [String: Tensor]
    }

    /// The running statistics (…running_mean, …running_var) of `model`, to snapshot r₀.
    static func runningStatistics(_ model: ResNet3D) -> [String: Tensor] {
        model.weights.filter { $0.key.hasSuffix(".running_mean") || $0.key.hasSuffix(".running_var") }
    }

    /// Combines this rank's `local` sums (`updates`: micro-batches that updated BN statistics)
    /// with every other rank's; writes the combined running statistics into `model` (which holds
    /// this rank's r_k) and returns the global sums. `names`: the trainable parameters, the
    /// same list on every rank.
    static func combine(_ local: Sums, updates: Int, names: [String], before: [String: Tensor],
                        model: ResNet3D, group: ProcessGroup) -> Sums {
        let statisticNames = before.keys.sorted()
        var flat: [Float] = [local.loss, Float(local.seen), Float(local.correct), Float(local.skipped), Float(updates)]
        for name in names {
            let count = model.weights[name]!.count
            flat += local.gradients[name]?.scalars ?? [Float](repeating: 0, count: count)
        }
        for name in statisticNames { flat += model.weights[name]!.scalars }
        let ranks = group.allGather(flat)

        // The header: sums in rank order, and each rank's number of BN updates.
        let header = (0..<5).map { i in ranks.reduce(Float(0)) { $0 + $1[i] } }
        let u = ranks.map { Int($0[4]) }
        let m = model.config.model.batchNorm.momentum
        let keep = 1 - m
        let after = u.indices.map { k in u[(k + 1)...].reduce(0, +) }
        let weights = after.map { powf(keep, Float($0)) }
        let c = powf(keep, Float(u.reduce(0, +))) - u.indices.reduce(Float(0)) { $0 + powf(keep, Float(after[$1] + u[$1])) }

        var offset = 5
        var gradients: [String: Tensor] = [:]
        for name in names {
            let shape = model.weights[name]!.shape, count = model.weights[name]!.count
            var sum = [Float](repeating: 0, count: count)
            for rank in ranks {
                rank.withUnsafeBufferPointer { r in for j in 0..<count { sum[j] += r[offset + j] } }
            }
            gradients[name] = Tensor(shape: shape, scalars: sum)
            offset += count
        }
        var updated = model.weights
        for name in statisticNames {
            let r0 = before[name]!
            let start = r0.scalars
            var r = [Float](repeating: 0, count: r0.count)
            for j in 0..<r0.count {
                // Unchanged on every rank (a frozen BN, or no update at all): kept bit for bit.
                if ranks.allSatisfy({ $0[offset + j] == start[j] }) { r[j] = start[j]; continue }
                var value = c * start[j]
                for (k, rank) in ranks.enumerated() { value += weights[k] * rank[offset + j] }
                r[j] = value
            }
            updated[name] = Tensor(shape: r0.shape, scalars: r)
            offset += r0.count
        }
        try! model.replaceWeights(updated)
        return Sums(loss: header[0], seen: Int(header[1]), correct: Int(header[2]), skipped: Int(header[3]), gradients: gradients)
    }

    /// Every rank takes rank 0's running statistics (after precise BN, which each rank computes
    /// on the same clips: this keeps the ranks' weights identical even if their thread counts
    /// round differently).
    static func adoptLeaderStatistics(_ model: ResNet3D, group: ProcessGroup) {
        guard group.size > 1 else { return }
        let names = runningStatistics(model).keys.sorted()
        let leader = group.allGather(names.flatMap { model.weights[$0]!.scalars })[0]
        var updated = model.weights
        var offset = 0
        for name in names {
            let shape = model.weights[name]!.shape, count = model.weights[name]!.count
            updated[name] = Tensor(shape: shape, scalars: Array(leader[offset..<offset + count]))
            offset += count
        }
        try! model.replaceWeights(updated)
    }
}
