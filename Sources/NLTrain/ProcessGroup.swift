import Foundation

/// The processes that train one model together: one (the default), or the ranks of an
/// `mpirun -n N nlnet train …` job. A launch by Open MPI's mpirun is recognised from the
/// environment it sets (OMPI_COMM_WORLD_SIZE, OMPI_COMM_WORLD_RANK); only then is the MPI
/// library loaded, so a user who never runs mpirun never needs it.
public final class ProcessGroup: @unchecked Sendable {
    /// This process's index, 0 ..< size; rank 0 writes checkpoints and logs.
    public let rank: Int
    /// How many processes train together.
    public let size: Int
    private let mpi: OpenMPI?

    /// One process training alone.
    public static let single = ProcessGroup(rank: 0, size: 1, mpi: nil)

    private init(rank: Int, size: Int, mpi: OpenMPI?) {
        self.rank = rank
        self.size = size
        self.mpi = mpi
    }

    /// The group this process was started in: MPI's world when mpirun started more than one
    /// process, else `.single`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ProcessGroup {
        guard let text = environment["OMPI_COMM_WORLD_SIZE"] else { return .single }
        guard let expected = Int(text), expected >= 1 else { throw TrainingSetupError("OMPI_COMM_WORLD_SIZE is '\(text)', not a number of processes") }
        guard expected > 1 else { return .single }
        let mpi = try OpenMPI()
        guard mpi.size == expected else {
            throw TrainingSetupError("MPI reports \(mpi.size) processes but OMPI_COMM_WORLD_SIZE says \(expected): was nlnet started by another MPI's mpirun?")
        }
        return ProcessGroup(rank: mpi.rank, size: mpi.size, mpi: mpi)
    }

    /// Whether this process is rank 0, the one that writes checkpoints, logs and validates.
    public var isLeader: Bool { rank == 0 }

    /// Every rank's `local` (each rank passing the same count), in rank order. Sent in chunks so
    /// the receive buffer stays at `size` × 4 M floats however large the model.
    public func allGather(_ local: [Float]) -> [[Float]] {
        guard let mpi else { return [local] }
        let chunk = 4 << 20
        var gathered = [[Float]](repeating: [Float](repeating: 0, count: local.count), count: size)
        var buffer = [Float](repeating: 0, count: size * min(chunk, max(local.count, 1)))
        for start in stride(from: 0, to: local.count, by: chunk) {
            let n = min(chunk, local.count - start)
            local.withUnsafeBufferPointer { l in
                buffer.withUnsafeMutableBufferPointer { b in mpi.allGather(l.baseAddress! + start, count: n, into: b.baseAddress!) }
            }
            for k in 0..<size { gathered[k].replaceSubrange(start..<start + n, with: buffer[k * n..<(k + 1) * n]) }
        }
        return gathered
    }

    /// Ends the whole job after `message` (on standard error, naming this rank): a rank that
    /// fails must not leave the others waiting in a collective forever.
    public func abort(_ message: String) -> Never {
        FileHandle.standardError.write(Data("nlnet: rank \(rank) of \(size) failed, ending the job: \(message)\n".utf8))
        guard let mpi else { exit(1) }
        mpi.abort(status: 1)
    }

    /// MPI_Finalize at the end of a successful run (every rank must call it).
    public func finish() { mpi?.finalize() }
}
