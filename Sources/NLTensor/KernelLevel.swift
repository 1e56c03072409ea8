import CKernels

/// The instruction-set level of the kernels that need wide vectors (the direct convolution,
/// softmax, batch norm, max pooling): C in Sources/CKernels, compiled for each level with
/// per-function target attributes and chosen once at run time, so that a build with no
/// `-march` flags still runs AVX-512 code on a CPU that has it.
///
/// The environment variable NLNET_ISA (`avx512`, `avx2`, `baseline`) chooses a lower level
/// than the CPU's best, for testing those paths on a machine that has them all.
public enum KernelLevel {
    /// Best first.
    public static let all = ["avx512", "avx2", "baseline"]

    /// The level in use: "avx512", "avx2" or "baseline".
    public static var current: String { String(cString: nl_kernels_isa()) }

    /// Whether this build has kernels for `level` and this CPU can run them.
    public static func isSupported(_ level: String) -> Bool { nl_kernels_supports(level) != 0 }
}
