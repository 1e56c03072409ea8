import COpenBLAS
import Foundation

/// Row-major single-precision GEMM: C = alpha·op(A)·op(B) + beta·C, with op(A) m×k, op(B) k×n.
///
/// OpenBLAS runs single-threaded; large products are split over the cores here, on the same
/// workers as the project's own loops (`WorkerPool`). Why: OpenBLAS's threads spin (sched_yield)
/// between calls and inside them; on 2 cores they took a quarter of a training step's CPU
/// time from the elementwise and BN work that runs between GEMMs.
func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
           alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
           beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, split: Bool = true) {
    guard m > 0, n > 0 else { return }
    guard k > 0 else {
        if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
        return
    }
    // GEMMSplit.shared also sets OpenBLAS to one thread: the first product may be an unsplit one
    // (attention's per-core tiles), and OpenBLAS's own threads would then contend with ours.
    let shared = GEMMSplit.shared
    (split ? shared : GEMMSplit(parts: 1)).run(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                         b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
}

/// How one GEMM is shared out over the cores (see `sgemm`).
struct GEMMSplit: Sendable {
    let parts: Int

    static let shared: GEMMSplit = {
        if ProcessInfo.processInfo.environment["NLNET_GEMM_SPLIT"] == "0" { return GEMMSplit(parts: 1) }
        openblas_set_num_threads(1)
        return GEMMSplit(parts: Parallel.cores)
    }()

    /// Below this many multiply–adds a product stays on one thread (a dispatch costs ~10 µs).
    static let leastWork = 1 << 21

    func run(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
             b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        @Sendable func blas(_ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ beta: Float,
                  _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
            cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                        blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
                        beta, c, blasint(ldc))
        }
        guard parts > 1, m * n * k >= GEMMSplit.leastWork else { blas(m, n, k, a, b, beta, c, ldc); return }
        // Element (i, j) of op(A) and op(B) lives at a + i·lda + j or a + j·lda + i when transposed.
        let aRow = transA ? 1 : lda, aCol = transA ? lda : 1
        let bRow = transB ? 1 : ldb, bCol = transB ? ldb : 1
        let (pa, pb, pc) = (SharedPointer(UnsafeMutablePointer(mutating: a)), SharedPointer(UnsafeMutablePointer(mutating: b)), SharedPointer(c))
        let parts = parts
        if k >= 4 * max(m, n) && m * n <= 1 << 20 {
            // A long reduction into a small C (weight gradients): each part sums a slice of k
            // into its own buffer, added into C at the end; the big operands are read once.
            let partial = UnsafeMutablePointer<Float>.allocate(capacity: (parts - 1) * m * n)
            defer { partial.deallocate() }
            let pp = SharedPointer(partial)
            Parallel.forEachChunk(parts) { p, _ in
                let lo = k * p / parts, hi = k * (p + 1) / parts
                if p == 0 { blas(m, n, hi - lo, pa.base, pb.base, beta, pc.base, ldc) }
                else { blas(m, n, hi - lo, pa + lo * aCol, pb + lo * bRow, 0, pp + (p - 1) * m * n, n) }
            }
            for p in 1..<parts {
                let src = partial + (p - 1) * m * n
                for i in 0..<m { addRun(c + i * ldc, src + i * n, n) }
            }
        } else if m >= n {
            Parallel.forEachChunk(parts) { p, _ in
                let lo = m * p / parts, hi = m * (p + 1) / parts
                blas(hi - lo, n, k, pa + lo * aRow, pb.base, beta, pc + lo * ldc, ldc)
            }
        } else {
            Parallel.forEachChunk(parts) { p, _ in
                let lo = n * p / parts, hi = n * (p + 1) / parts
                blas(m, hi - lo, k, pa.base, pb + lo * bCol, beta, pc + lo, ldc)
            }
        }
    }
}

/// Which OpenBLAS kernel is in use, and which one this CPU should use.
///
/// Debian's OpenBLAS 0.3.21 predates some CPUs and falls back to its slowest kernel
/// ("Prescott") on them. `OPENBLAS_CORETYPE` fixes that, but the library reads it only when
/// it loads, so the `nlnet` binary re-executes itself with it set (see `suggestedCoreType`).
public enum BLASKernel {
    /// The kernel family OpenBLAS chose for this CPU (e.g. "Haswell", "SkylakeX", "Prescott"), or "unknown".
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

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
