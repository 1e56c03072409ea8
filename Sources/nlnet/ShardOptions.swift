import ArgumentParser
import Foundation

/// Which share of the inputs (or of an ablation's runs) this process takes: `--shard k/n`
/// (1-based, as a person counts), or `--shards N --shard-index-env VAR` for job arrays whose
/// scheduler hands each task a 0-based index in an environment variable (Kubernetes Indexed
/// Jobs: JOB_COMPLETION_INDEX; Slurm arrays started at 0: SLURM_ARRAY_TASK_ID). Task i of N
/// takes every N-th item from item i on, so N tasks cover every item once.
struct ShardOptions: ParsableArguments {
    @Option(help: "Take only shard k of n (k/n, 1-based): every n-th item, in the order given.")
    var shard: String?

    @Option(help: "Split the items into N shards; this task's 0-based index is read from --shard-index-env.")
    var shards: Int?

    @Option(help: ArgumentHelp("""
        The environment variable holding this task's 0-based shard index (with --shards), \
        e.g. JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID.
        """,
                               valueName: "variable"))
    var shardIndexEnv: String?

    func validate() throws { _ = try resolved() }

    /// The shard as (1-based index, count), nil for all items.
    func resolved(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> (index: Int, count: Int)? {
        if let shard {
            guard shards == nil, shardIndexEnv == nil else { throw ValidationError("--shard k/n and --shards/--shard-index-env exclude each other") }
            let parts = shard.split(separator: "/", omittingEmptySubsequences: false).map { Int($0) }
            guard parts.count == 2, let k = parts[0], let n = parts[1], n >= 1, (1...n).contains(k) else {
                throw ValidationError("--shard must be k/n with 1 ≤ k ≤ n, got '\(shard)'")
            }
            return (k, n)
        }
        guard let shards else {
            if shardIndexEnv != nil { throw ValidationError("--shard-index-env needs --shards N (how many tasks share the items)") }
            return nil
        }
        guard shards >= 1 else { throw ValidationError("--shards must be at least 1, got \(shards)") }
        guard let variable = shardIndexEnv else {
            throw ValidationError("--shards needs --shard-index-env VAR naming the variable with this task's 0-based index")
        }
        guard let text = environment[variable] else {
            throw ValidationError("--shard-index-env \(variable): the variable is not set "
                                  + "(is this running as an array task? set it to 0…\(shards - 1) to run one shard by hand)")
        }
        guard let index = Int(text.trimmingCharacters(in: .whitespaces)), (0..<shards).contains(index) else {
            throw ValidationError("--shard-index-env \(variable): its value '\(text)' is not an index 0…\(shards - 1) for --shards \(shards)")
        }
        return (index + 1, shards)
    }
}
