import Foundation
import NLTensor
import Testing

/// The measured arithmetic peak `nlnet bench model` divides the model's rate by.
@Suite("FMA peak")
struct FMAPeakTests {
    @Test func thePeakIsAPositiveRateOnEveryThread() {
        let peak = FMAPeak.measure(seconds: 0.05)
        #expect(peak.gflops.isFinite && peak.gflops > 0)
        #expect(peak.threads == Parallel.cores)
        #expect(KernelLevel.all.contains(peak.isa))
        if let bf16 = peak.bf16GFLOPS { #expect(bf16.isFinite && bf16 > 0) }
    }

    /// The bf16 loop runs exactly where the CPU says it has AVX512_BF16 (Linux: /proc/cpuinfo),
    /// and the fp32 loop's level is the best the CPU has.
    @Test func theLevelsFollowTheCPUFlags() throws {
        guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return }
        let flags = Set(line.split(separator: " ").map(String.init))
        let peak = FMAPeak.measure(seconds: 0.01)
        #expect((peak.bf16GFLOPS != nil) == flags.contains("avx512_bf16"))
        let expected = flags.isSuperset(of: ["avx512f", "fma"]) ? "avx512" : flags.isSuperset(of: ["avx2", "fma"]) ? "avx2" : "baseline"
        #expect(peak.isa == expected)
    }
}
