import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The few Open MPI calls data-parallel training needs, bound at run time with dlopen/dlsym so
/// that nlnet neither links nor needs MPI unless it is started by `mpirun` (see
/// docs/scale-out.md). Open MPI's predefined handles (MPI_COMM_WORLD, MPI_FLOAT) are the
/// addresses of its data symbols ompi_mpi_comm_world and ompi_mpi_float, so dlsym gives them too.
/// (MPICH names these differently; this binding is for Open MPI, which Debian's mpirun is.)
final class OpenMPI: @unchecked Sendable {
    /// The library names tried in turn: Open MPI 4/5's soname, then the development link.
    static let libraryNames = ["libmpi.so.40", "libmpi.so"]

    private typealias InitFunction = @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Int32
    private typealias QueryFunction = @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>) -> Int32
    private typealias AllGatherFunction = @convention(c) (UnsafeRawPointer?, Int32, OpaquePointer?, UnsafeMutableRawPointer?, Int32,
                                                         OpaquePointer?, OpaquePointer?) -> Int32
    private typealias AbortFunction = @convention(c) (OpaquePointer?, Int32) -> Int32
    private typealias FinalizeFunction = @convention(c) () -> Int32

    private let handle: UnsafeMutableRawPointer
    private let commWorld: OpaquePointer
    private let float: OpaquePointer
    private let allGatherFunction: AllGatherFunction
    private let abortFunction: AbortFunction
    private let finalizeFunction: FinalizeFunction
    let rank: Int
    let size: Int

    /// Loads the library and calls MPI_Init; the error says which library or symbol is missing.
    init() throws {
        // RTLD_GLOBAL: Open MPI's own plugins (mca_*.so) resolve their symbols against libmpi.
        var loaded: UnsafeMutableRawPointer?
        var reasons: [String] = []
        for name in Self.libraryNames {
            loaded = dlopen(name, RTLD_NOW | RTLD_GLOBAL)
            if loaded != nil { break }
            reasons.append(dlerror().map { String(cString: $0) } ?? name)
        }
        guard let handle = loaded else {
            throw TrainingSetupError("started by mpirun, but Open MPI's library cannot be loaded (\(reasons.joined(separator: "; "))); "
                                     + "install it with: apt-get install openmpi-bin libopenmpi-dev")
        }
        self.handle = handle
        func symbol(_ name: String) throws -> UnsafeMutableRawPointer {
            guard let address = dlsym(handle, name) else { throw TrainingSetupError("Open MPI's library has no symbol \(name): is this Open MPI (not MPICH)?") }
            return address
        }
        let initialize = unsafeBitCast(try symbol("MPI_Init"), to: InitFunction.self)
        let commRank = unsafeBitCast(try symbol("MPI_Comm_rank"), to: QueryFunction.self)
        let commSize = unsafeBitCast(try symbol("MPI_Comm_size"), to: QueryFunction.self)
        allGatherFunction = unsafeBitCast(try symbol("MPI_Allgather"), to: AllGatherFunction.self)
        abortFunction = unsafeBitCast(try symbol("MPI_Abort"), to: AbortFunction.self)
        finalizeFunction = unsafeBitCast(try symbol("MPI_Finalize"), to: FinalizeFunction.self)
        commWorld = OpaquePointer(try symbol("ompi_mpi_comm_world"))
        float = OpaquePointer(try symbol("ompi_mpi_float"))
        guard initialize(nil, nil) == 0 else { throw TrainingSetupError("MPI_Init failed") }
        var r: Int32 = 0, s: Int32 = 0
        _ = commRank(commWorld, &r)
        _ = commSize(commWorld, &s)
        rank = Int(r)
        size = Int(s)
    }

    /// MPI_Allgather of `count` floats from every rank into `into` (size × count, rank order).
    /// Errors abort the job (MPI_ERRORS_ARE_FATAL, the default on MPI_COMM_WORLD).
    func allGather(_ local: UnsafePointer<Float>, count: Int, into: UnsafeMutablePointer<Float>) {
        _ = allGatherFunction(local, Int32(count), float, into, Int32(count), float, commWorld)
    }

    /// Ends every rank of the job (mpirun reports the status).
    func abort(status: Int32) -> Never {
        _ = abortFunction(commWorld, status)
        exit(status)
    }

    func finalize() { _ = finalizeFunction() }
}

/// The training could not be set up as launched (MPI missing, a world size the recipe cannot split).
public struct TrainingSetupError: Error, CustomStringConvertible {
    /// What is wrong and what to do about it.
    public let description: String
    /// An error with this message.
    public init(_ description: String) { self.description = description }
}
