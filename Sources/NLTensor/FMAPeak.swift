import CKernels
import Foundation

/// The machine's arithmetic peak, measured: every core runs a register-only loop of independent
/// multiply-adds (Sources/CKernels/peak.c) at the same time, so the rate is what the FMA units
/// give with nothing waiting on memory. A network's GFLOP/s over this says how much of the CPU
/// it uses, which square sgemm (itself a kernel that may fall short) cannot say.
package struct FMAPeak: Sendable, Codable {
    /// fp32 GFLOP/s over all threads (2 flops a lane of each FMA).
    package let gflops: Double
    /// bf16 GFLOP/s over all threads with vdpbf16ps (4 flops a lane), nil where the CPU has
    /// no AVX512_BF16.
    package let bf16GFLOPS: Double?
    /// Threads that ran the loop at once (`Parallel.cores`).
    package let threads: Int
    /// The loop's instruction set: "avx512", "avx2" or "baseline".
    package let isa: String

    /// Measures both loops for about `seconds` each on `Parallel.cores` threads.
    package static func measure(seconds: Double = 0.2) -> FMAPeak {
        let bf16 = nl_bf16_peak_available() != 0 ? rate(seconds: seconds, nl_bf16_peak) : nil
        return FMAPeak(gflops: rate(seconds: seconds, nl_fma_peak), bf16GFLOPS: bf16, threads: Parallel.cores,
                       isa: String(cString: nl_fma_peak_isa()))
    }

    /// GFLOP/s of `loop` (iterations → flops done) run on every core at once for about `seconds`.
    private static func rate(seconds: Double, _ loop: @convention(c) (Int) -> Double) -> Double {
        // A short single-thread run sizes the timed one (and wakes the core from a low clock).
        var iterations = 100_000
        while true {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = loop(iterations)
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if elapsed > 0.02 || iterations > 1 << 40 {
                iterations = max(1, Int(Double(iterations) * seconds / elapsed))
                break
            }
            iterations *= 4
        }
        let threads = Parallel.cores, count = iterations
        let flops = UnsafeMutablePointer<Double>.allocate(capacity: threads)
        defer { flops.deallocate() }
        let shared = SharedPointer(flops)
        let start = DispatchTime.now().uptimeNanoseconds
        Parallel.forEachTask(threads) { t in shared[t] = loop(count) }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return (0..<threads).reduce(0) { $0 + flops[$1] } / elapsed / 1e9
    }
}
