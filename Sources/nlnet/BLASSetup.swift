import Foundation
import NLTensor

/// Debian's OpenBLAS 0.3.21 does not know recent CPUs and silently uses its slowest kernel.
/// It reads OPENBLAS_CORETYPE only when it loads, so when it has fallen back and the user
/// has not chosen a kernel, the tool re-executes itself once with the right one set.
enum BLASSetup {
    static func ensureFastKernel() {
        let env = ProcessInfo.processInfo.environment
        guard env["OPENBLAS_CORETYPE"] == nil, env["NLNET_BLAS_REEXEC"] == nil,
              BLASKernel.isFallback, let core = BLASKernel.suggestedCoreType() else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv("NLNET_BLAS_REEXEC", "1", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // Only reached when exec failed: go on with the slow kernel, but say so.
        FileHandle.standardError.write(Data(
            "nlnet: warning: OpenBLAS uses its generic '\(BLASKernel.coreName)' kernel; set OPENBLAS_CORETYPE=\(core) for full speed\n".utf8))
    }

    /// A note when the user's OPENBLAS_CORETYPE is weaker than what this CPU can run.
    static var userChoiceHint: String? {
        guard let chosen = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"],
              ProcessInfo.processInfo.environment["NLNET_BLAS_REEXEC"] == nil,
              let best = BLASKernel.suggestedCoreType(), best.lowercased() != chosen.lowercased(),
              chosen.lowercased() == "haswell" || BLASKernel.isFallback else { return nil }
        return "note: OPENBLAS_CORETYPE=\(chosen) is set in the environment; this CPU can run \(best), which is faster"
    }
}
