import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Process-wide setup an app opts into once, first thing in `main`, before any tensor work:
/// `Runtime.configure()`. The `nlnet` tool does this; a library user who skips it gets correct
/// results, at the speed of whatever OpenBLAS kernel and allocator settings the process has.
public enum Runtime {
    /// What `configure` did or could not do, as sentences for the user (empty when all is well).
    @discardableResult
    public static func configure(reexecutingForFastBLAS: Bool = true) -> [String] {
        keepFreedMemory()
        return ensureFastBLASKernel(reexecuting: reexecutingForFastBLAS)
    }

    /// Debian's OpenBLAS 0.3.21 does not know recent CPUs and silently uses its slowest kernel.
    /// It reads OPENBLAS_CORETYPE only when it loads, so when it has fallen back and nobody has
    /// chosen a kernel, the process re-executes itself once with the right one set (only where
    /// /proc/self/exe exists; `reexecuting: false` reports instead).
    static func ensureFastBLASKernel(reexecuting: Bool) -> [String] {
        let env = ProcessInfo.processInfo.environment
        guard env["OPENBLAS_CORETYPE"] == nil, env["NLNET_BLAS_REEXEC"] == nil,
              BLASKernel.isFallback, let core = BLASKernel.suggestedCoreType() else { return [] }
        if reexecuting {
            setenv("OPENBLAS_CORETYPE", core, 1)
            setenv("NLNET_BLAS_REEXEC", "1", 1)
            execv("/proc/self/exe", CommandLine.unsafeArgv)
            // Only reached when exec failed: go on with the slow kernel, but say so.
        }
        return ["OpenBLAS uses its generic '\(BLASKernel.coreName)' kernel; set OPENBLAS_CORETYPE=\(core) "
                + "in the environment before the process starts for full speed"]
    }

    /// A note when the user's OPENBLAS_CORETYPE is weaker than what this CPU can run.
    public static var blasChoiceHint: String? {
        let env = ProcessInfo.processInfo.environment
        guard let chosen = env["OPENBLAS_CORETYPE"], env["NLNET_BLAS_REEXEC"] == nil,
              let best = BLASKernel.suggestedCoreType(), best.lowercased() != chosen.lowercased(),
              chosen.lowercased() == "haswell" || BLASKernel.isFallback else { return nil }
        return "note: OPENBLAS_CORETYPE=\(chosen) is set in the environment; this CPU can run \(best), which is faster"
    }

    // <malloc.h> is not in Swift's Glibc module; the values are glibc's M_TRIM_THRESHOLD and
    // M_MMAP_MAX.
    @_silgen_name("mallopt") private static func mallopt(_ parameter: Int32, _ value: Int32) -> Int32
    private static let trimThreshold: Int32 = -1, mmapMax: Int32 = -4

    /// glibc serves blocks above its mmap threshold (at most 32 MiB) with a fresh mmap and
    /// returns them to the kernel on free, so every clip tensor, decoded chunk and training
    /// activation of that size was faulted in and zeroed by the kernel again on each use (~20%
    /// of decoding time was in the kernel). Freed memory instead stays in the heap for the next
    /// block of the same size. NLNET_MALLOC=system keeps glibc's defaults (for comparison).
    static func keepFreedMemory() {
        #if os(Linux)
        guard ProcessInfo.processInfo.environment["NLNET_MALLOC"] != "system" else { return }
        _ = mallopt(mmapMax, 0)                   // no per-block mmap: large blocks come from the heap
        _ = mallopt(trimThreshold, Int32.max)     // and stay there after free
        #endif
    }
}
