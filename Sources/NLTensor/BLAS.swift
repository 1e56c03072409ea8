import COpenBLAS
import Foundation

/// Row-major single-precision GEMM: C = alpha·op(A)·op(B) + beta·C, with op(A) m×k, op(B) k×n.
@inline(__always)
func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
           alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
           beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    guard m > 0, n > 0 else { return }
    guard k > 0 else {
        if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
        return
    }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
                beta, c, blasint(ldc))
}

/// Which OpenBLAS kernel is in use, and which one this CPU should use.
///
/// Debian's OpenBLAS 0.3.21 predates some CPUs and falls back to its slowest kernel
/// ("Prescott") on them. `OPENBLAS_CORETYPE` fixes that, but the library reads it only when
/// it loads, so the `nlnet` binary re-executes itself with it set (see `suggestedCoreType`).
public enum BLASKernel {
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    public static var threads: Int { Int(openblas_get_num_threads()) }

    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }

    /// True when OpenBLAS chose a generic kernel although the CPU supports a better one.
    public static var isFallback: Bool {
        guard let better = suggestedCoreType() else { return false }
        return coreName.lowercased() != better.lowercased()
            && ["prescott", "core2", "nehalem", "katmai", "coppermine", "northwood", "atom", "unknown"]
                .contains(coreName.lowercased())
    }

    /// The best kernel this CPU can run: SkylakeX with AVX-512 (F, BW, DQ, VL, CD), Haswell
    /// with AVX2 and FMA; nil when neither applies (then OpenBLAS's own choice stands).
    public static func suggestedCoreType(cpuFlags: Set<String> = cpuFlags()) -> String? {
        if ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"].allSatisfy(cpuFlags.contains) {
            return "SkylakeX"
        }
        if ["avx2", "fma"].allSatisfy(cpuFlags.contains) { return "Haswell" }
        return nil
    }

    /// The first processor's flags from /proc/cpuinfo (empty where there is no such file).
    public static func cpuFlags() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }
}
