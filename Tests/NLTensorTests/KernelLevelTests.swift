import Foundation
import NLTensor
import Testing

/// The run-time choice of kernel level. `make test` runs the op, gradient and model parity
/// suites again under NLNET_ISA=avx2 and NLNET_ISA=baseline, so every level is checked against
/// PyTorch on a machine that has them all; these tests make sure those runs used the level they
/// asked for.
@Suite("Kernel level")
struct KernelLevelTests {
    @Test func theLevelInUseIsTheBestTheCPUHasOrTheOneAskedFor() {
        let best = KernelLevel.all.first(where: KernelLevel.isSupported)
        #expect(best != nil && KernelLevel.isSupported("baseline"))
        if let wanted = ProcessInfo.processInfo.environment["NLNET_ISA"], !wanted.isEmpty {
            // A level the CPU lacks falls back to its best.
            #expect(KernelLevel.current == (KernelLevel.isSupported(wanted) ? wanted : best))
        } else {
            #expect(KernelLevel.current == best)
        }
    }

    @Test func unknownLevelsAreNotSupported() {
        #expect(!KernelLevel.isSupported("avx1024"))
        #expect(!KernelLevel.isSupported(""))
    }
}
